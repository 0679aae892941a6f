"""How the command line shows a segmenter's answers and scores: lines, JSON, CSV, mask files."""

from __future__ import annotations

import csv
import json
import sys
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import typer

__all__ = ["segmentation_scores", "show_segmentations"]


def segmentation_scores(metrics: Mapping[str, Any]) -> str:
    """One line of headline scores (``n/a`` where undefined)."""

    def fmt(key: str) -> str:
        value = metrics.get(key)
        return "n/a" if value is None else f"{value:.4f}"

    return (
        f"mIoU {fmt('miou')}  pixel accuracy {fmt('pixel_accuracy')}  mean Dice "
        f"{fmt('mean_dice')}  ({metrics.get('num_images')} images)"
    )


def show_segmentations(
    results: Sequence[Any], *, as_json: bool, as_csv: bool, save_images: Path | None
) -> None:
    """Print ``SegmentationPrediction`` records; with ``save_images``, write each mask (index
    PNG), its colours and an overlay into that folder, named after the input."""
    if as_json:
        typer.echo(json.dumps([r.to_dict() for r in results], indent=2))
    elif as_csv:
        writer = csv.writer(sys.stdout)
        writer.writerow(["source", "class", "share", "error"])
        for r in results:
            if r.error:
                writer.writerow([r.source, "", "", r.error])
            for name, share in r.shares.items():
                writer.writerow([r.source, name, f"{share:.6f}", ""])
    else:
        for r in results:
            if r.error:
                typer.echo(f"{r.source}\tERROR\t{r.error}")
                continue
            shares = ", ".join(f"{n} {s:.1%}" for n, s in list(r.shares.items())[:5])
            typer.echo(f"{r.source}\t{r.width}x{r.height}\t{shares}")
    if save_images is not None:
        used: set[str] = set()
        for r in results:
            if r.error or r.source.startswith("<"):
                continue
            stem, n = Path(r.source).stem, 1
            while stem in used:
                n += 1
                stem = f"{Path(r.source).stem}-{n}"
            used.add(stem)
            r.save(save_images, stem)
        typer.echo(f"masks, colours and overlays in {save_images}", err=True)
