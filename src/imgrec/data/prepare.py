"""From what the user gave to arrays a run trains on: ingest, split, check, decode."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from imgrec.data.cache import decode_to_array
from imgrec.data.ingest import ingest
from imgrec.data.manifest import SPLITS, Manifest, Split
from imgrec.data.split import assign_splits
from imgrec.data.validate import DataReport, check_dataset
from imgrec.errors import DatasetError

__all__ = ["PreparedData", "prepare_dataset", "prepare_manifest"]

ProgressFactory = Callable[[str], Callable[[int, int], None]] | None


@dataclass
class PreparedData:
    """A split, checked dataset with each split decoded to ``(N, H, W, 3)`` uint8."""

    manifest: Manifest
    report: DataReport
    images: dict[Split, np.ndarray]
    labels: dict[Split, np.ndarray]

    @property
    def classes(self) -> list[str]:
        return self.manifest.classes


def prepare_manifest(
    source: str | Path,
    *,
    datasets_dir: Path,
    val_fraction: float,
    test_fraction: float,
    split_seed: int,
    progress: ProgressFactory = None,
) -> tuple[Manifest, DataReport]:
    """Ingest and split ``source`` and check the result.

    Raises:
        DatasetError: the dataset is not usable; the message lists the report's errors.
    """
    manifest = ingest(
        source, extract_root=datasets_dir, progress=progress("reading images") if progress else None
    )
    if len(manifest.samples) > 0 and len(manifest.classes) > 1:
        manifest = assign_splits(
            manifest, val_fraction=val_fraction, test_fraction=test_fraction, seed=split_seed
        )
    report = check_dataset(manifest)
    if not report.usable:
        problems = "; ".join(report.errors)
        raise DatasetError(
            f"{source}: dataset not usable: {problems}. "
            f"`imgrec data check {source}` shows the full report."
        )
    return manifest, report


def prepare_dataset(
    source: str | Path,
    *,
    datasets_dir: Path,
    cache_dir: Path | None,
    img_size: int,
    resize_mode: str = "squash",
    val_fraction: float = 0.15,
    test_fraction: float = 0.15,
    split_seed: int = 0,
    progress: ProgressFactory = None,
) -> PreparedData:
    """Everything a training run needs from the data, decoded once (and cached on disk)."""
    manifest, report = prepare_manifest(
        source,
        datasets_dir=datasets_dir,
        val_fraction=val_fraction,
        test_fraction=test_fraction,
        split_seed=split_seed,
        progress=progress,
    )
    images: dict[Split, np.ndarray] = {}
    labels: dict[Split, np.ndarray] = {}
    for split in SPLITS:
        samples = manifest.by_split(split)
        if not samples:
            continue
        images[split] = decode_to_array(
            samples,
            size=(img_size, img_size),
            resize_mode=resize_mode,  # type: ignore[arg-type]  # validated by DataConfig
            cache_dir=cache_dir,
            progress=progress(f"decoding {split}") if progress else None,
        )
        labels[split] = np.asarray([s.label for s in samples], dtype=np.int64)
    if "train" not in images:
        raise DatasetError(f"{source}: no training images after splitting.")
    return PreparedData(manifest=manifest, report=report, images=images, labels=labels)
