"""Deterministic, stratified train/val/test splits.

The same images with the same seed always get the same splits, whatever order the files were
listed in and on whatever machine: each class is sorted by (sha256, path relative to the root)
and shuffled by a generator seeded from ``seed`` and the class *name*, so adding a class does not
reshuffle the others.
"""

from __future__ import annotations

import dataclasses
import hashlib
from collections import defaultdict
from pathlib import Path

import numpy as np

from imgrec.data.manifest import SPLITS, Manifest, Split
from imgrec.errors import ConfigError, DatasetError

__all__ = ["assign_splits", "relative_posix"]


def assign_splits(
    manifest: Manifest,
    *,
    val_fraction: float = 0.15,
    test_fraction: float = 0.15,
    seed: int = 0,
) -> Manifest:
    """Return a copy of ``manifest`` in which every sample carries a split.

    - Already train + val + test: kept as is.
    - train + test: ``val_fraction`` of each class's train images become val.
    - train + val: ``test_fraction`` of each class's train images become test.
    - train only, or no splits: val and test are carved out of each class (fractions of the
      class's images). Samples without a split beside split ones are read as train.

    A class with too few images to give each carved split at least one keeps them all in train
    and gets a note (the validation report flags it).

    Raises:
        ConfigError: a fraction is outside [0, 1), they leave nothing for training, or the seed
            is negative.
        DatasetError: there are no images or no training images, or a carved split would be
            empty overall.
    """
    for name, value in (("val_fraction", val_fraction), ("test_fraction", test_fraction)):
        if not 0.0 <= value < 1.0:
            raise ConfigError(f"{name} must be in [0, 1), got {value}")
    if seed < 0:
        raise ConfigError(f"seed must be a non-negative integer, got {seed}")
    if not manifest.samples:
        raise DatasetError(f"{manifest.source}: no images to split.")
    present = {s.split for s in manifest.samples}
    if set(SPLITS) <= present and None not in present:
        return dataclasses.replace(
            manifest, samples=list(manifest.samples), notes=list(manifest.notes)
        )
    carve: dict[Split, float] = {}
    if "test" not in present and test_fraction > 0:
        carve["test"] = test_fraction
    if "val" not in present and val_fraction > 0:
        carve["val"] = val_fraction
    if sum(carve.values()) >= 1.0:
        raise ConfigError(
            f"val_fraction + test_fraction = {sum(carve.values()):g} leaves no training images"
        )
    notes = list(manifest.notes)
    if None in present and present - {None}:
        notes.append("samples without a split were read as train")
    pools: dict[int, list[int]] = defaultdict(list)
    for i, s in enumerate(manifest.samples):
        if s.split in (None, "train"):
            pools[s.label].append(i)
    if not pools:
        raise DatasetError(
            f"{manifest.source}: no training images (only {', '.join(sorted(map(str, present)))})"
            "; add a train split or remove the split column/folders."
        )
    new_split: dict[int, Split] = {}
    for label, indices in sorted(pools.items()):
        name = manifest.classes[label]
        counts = {split: max(1, round(len(indices) * f)) for split, f in carve.items()}
        if len(indices) - sum(counts.values()) < 1:
            notes.append(
                f"class '{name}' has {len(indices)} image(s) to split: all kept in train "
                f"(needs at least {len(counts) + 1} to put one in {', '.join(['train', *counts])})"
            )
            counts = {}
        order = _shuffled(manifest, indices, seed=seed, class_name=name)
        start = 0
        for split, n in counts.items():
            new_split.update(dict.fromkeys(order[start : start + n], split))
            start += n
        new_split.update(dict.fromkeys(order[start:], "train"))
    samples = [
        dataclasses.replace(s, split=new_split[i]) if i in new_split else s
        for i, s in enumerate(manifest.samples)
    ]
    if carve:
        parts = ", ".join(f"{split} {f:.0%}" for split, f in carve.items())
        notes.append(f"split: carved {parts} of each class's train images (seed {seed})")
    for split in carve:
        if not any(s.split == split for s in samples):
            raise DatasetError(
                f"{manifest.source}: the {split} split would be empty: every class is too small "
                "to give it an image. Add images (at least 3 per class), or provide split "
                "folders or a split column."
            )
    return dataclasses.replace(manifest, samples=samples, notes=notes)


def _shuffled(manifest: Manifest, indices: list[int], *, seed: int, class_name: str) -> list[int]:
    """``indices`` in an order that depends only on the files' content, paths, seed and class."""
    root = manifest.root
    ordered = sorted(
        indices,
        key=lambda i: (manifest.samples[i].sha256, relative_posix(manifest.samples[i].path, root)),
    )
    class_key = int.from_bytes(hashlib.sha256(class_name.encode()).digest()[:8], "little")
    rng = np.random.default_rng([seed, class_key])
    return [ordered[j] for j in rng.permutation(len(ordered))]


def relative_posix(path: Path, root: Path) -> str:
    """``path`` relative to ``root`` with ``/`` separators, or the whole path when outside it.

    String-based: ``Path.relative_to`` costs ~20 us a call, which adds up over 100k samples.
    """
    text, prefix = path.as_posix(), root.as_posix().rstrip("/") + "/"
    return text[len(prefix) :] if text.startswith(prefix) else text
