"""How `imgrec predict` shows a detector's answers: lines, JSON, CSV, drawn images."""

from __future__ import annotations

import csv
import json
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import typer

__all__ = ["show_detections"]


def show_detections(
    results: Sequence[Any], *, as_json: bool, as_csv: bool, save_images: Path | None
) -> None:
    """Print ``DetectionPrediction`` records; with ``save_images``, draw them into that folder
    (one PNG per input, named after it; the inputs are never touched)."""
    if as_json:
        typer.echo(json.dumps([r.to_dict() for r in results], indent=2))
    elif as_csv:
        writer = csv.writer(sys.stdout)
        writer.writerow(["source", "label", "score", "x0", "y0", "x1", "y1", "error"])
        for r in results:
            if r.error:
                writer.writerow([r.source, "", "", "", "", "", "", r.error])
            for d in r.detections:
                writer.writerow(
                    [r.source, d.label, f"{d.score:.4f}", *(f"{v:.1f}" for v in d.box), ""]
                )
    else:
        for r in results:
            if r.error:
                typer.echo(f"{r.source}\tERROR\t{r.error}")
                continue
            boxes = ", ".join(
                f"{d.label} {d.score:.2f} [{', '.join(f'{v:.0f}' for v in d.box)}]"
                for d in r.detections
            )
            typer.echo(f"{r.source}\t{len(r.detections)} objects\t{boxes}")
    if save_images is not None:
        _save_drawn(results, save_images)


def _save_drawn(results: Sequence[Any], folder: Path) -> None:
    from imgrec.api import draw_detections

    folder.mkdir(parents=True, exist_ok=True)
    used: set[str] = set()
    for r in results:
        if r.error or r.source.startswith("<"):
            continue
        stem = Path(r.source).stem
        name, n = f"{stem}.png", 1
        while name in used:
            n += 1
            name = f"{stem}-{n}.png"
        used.add(name)
        if hasattr(r, "save"):  # an instance segmenter's: masks and an overlay
            r.save(folder, Path(name).stem)
        else:
            draw_detections(r.source, r).save(folder / name)
    typer.echo(f"drawn images in {folder}", err=True)
