"""Find a segmentation dataset's layout and read it (folder or zip), then split it.

The layouts are the ``segment`` readers of the format registry (:mod:`imgrec.data.formats`;
``coco-seg``, ``voc-seg`` and ``mask-folders`` are built in), probed highest priority first, in
the folder itself or inside up to two wrapper folders (a zip of the dataset's folder,
``VOCdevkit/VOC2012``).

Splits: the dataset's own (split folders, ``ImageSets/Segmentation`` lists, COCO file names) are
kept as they are; images without one beside split ones are read as train (noted). A dataset
without any is split per image by :func:`imgrec.data.split.assign_splits`, stratified by each
image's most common class other than background (``"background only"`` for empty masks); groups
too small to give val and test an image each are pooled, and a set too small to split at all
stays in train (noted).
"""

from __future__ import annotations

from collections import Counter
from dataclasses import replace
from pathlib import Path

from imgrec.data.formats import FormatReader, ReadContext, describe_formats, find_format
from imgrec.data.manifest import Manifest, Sample
from imgrec.data.segmentation.model import SegmentationDataset, SegmentationImage
from imgrec.data.split import assign_splits
from imgrec.data.zipcache import extract_cached
from imgrec.errors import DatasetError

__all__ = ["detect_segmentation_layout", "read_segmentation"]

_TASK = "segment"
_WRAPPER_DEPTH = 2
_POOLED = "(small classes)"
_MIN_GROUP = 3  # a group needs this many images to give train, val and test one each


def _subdirs(folder: Path) -> list[Path]:
    return [p for p in folder.iterdir() if p.is_dir() and not p.name.startswith((".", "__"))]


def _find_root(folder: Path) -> tuple[Path, FormatReader[object]] | None:
    for _ in range(_WRAPPER_DEPTH + 1):
        reader = find_format(folder, task=_TASK)
        if reader is not None:
            return folder, reader
        inner = _subdirs(folder)
        if len(inner) != 1:
            return None
        folder = inner[0]
    return None


def detect_segmentation_layout(folder: Path) -> str | None:
    """The name of the segmentation layout ``folder`` holds (``"coco-seg"``, ``"voc-seg"``,
    ``"mask-folders"``, or a registered reader's), else ``None``."""
    folder = Path(folder)
    if not folder.is_dir():
        return None
    found = _find_root(folder)
    return found[1].name if found is not None else None


def _group(img: SegmentationImage) -> str:
    counts = Counter({i: n for i, n in enumerate(img.pixels) if i != 0 and n > 0})
    if not counts:
        return "background only"
    return f"class {max(counts, key=lambda c: (counts[c], -c))}"


def _split(
    ds: SegmentationDataset, *, val_fraction: float, test_fraction: float, seed: int
) -> SegmentationDataset:
    groups = Counter(_group(img) for img in ds.images)
    names = sorted({g if groups[g] >= _MIN_GROUP else _POOLED for g in groups})
    label = {g: names.index(g if groups[g] >= _MIN_GROUP else _POOLED) for g in groups}
    samples = [  # paths alone order the split (no content hash: that would read every file)
        Sample(img.path, label[_group(img)], None, "", img.width, img.height, "")
        for img in ds.images
    ]
    manifest = Manifest(ds.root, ds.source, ds.layout, names, samples)
    try:
        split = assign_splits(
            manifest, val_fraction=val_fraction, test_fraction=test_fraction, seed=seed
        )
    except DatasetError as exc:
        note = f"not split: {str(exc).removeprefix(f'{ds.source}: ')} All images are in train."
        images = [replace(img, split="train") for img in ds.images]
        return replace(ds, images=images, notes=[*ds.notes, note])
    images = [replace(img, split=s.split) for img, s in zip(ds.images, split.samples, strict=True)]
    return replace(ds, images=images, notes=[*ds.notes, *split.notes])


def read_segmentation(
    path: Path,
    *,
    work_dir: Path,
    val_fraction: float = 0.15,
    test_fraction: float = 0.15,
    split_seed: int = 0,
) -> SegmentationDataset:
    """Read a segmentation dataset (mask folders, VOC, COCO...) from a folder or a ``.zip``;
    the user's files are only read.

    A zip is extracted once into ``work_dir/<name>-<content hash>`` and reused while it is
    unchanged (:func:`~imgrec.data.zipcache.extract_cached`); masks derived from COCO polygons
    are written under ``work_dir`` too. Give a stable ``work_dir`` to benefit. Splits: see the
    module docstring.

    Raises:
        DatasetError: no layout matches (the message names the path and the known formats), a
            names file is malformed, or the classes cannot be numbered in 8-bit masks.
        ConfigError: a fraction is outside [0, 1) or they leave nothing for training.
    """
    source = Path(path)
    folder = source
    if source.is_file() and source.suffix.lower() == ".zip":
        folder, _reused = extract_cached(source, Path(work_dir))
    if not folder.is_dir():
        raise DatasetError(f"{source}: not a folder or a .zip file; give a dataset folder or zip")
    found = _find_root(folder)
    if found is None:
        raise DatasetError(
            f"{source}: no segmentation dataset found; known formats: {describe_formats(_TASK)}"
        )
    root, reader = found
    ds = reader.read(root, ReadContext(source=source, work_dir=Path(work_dir)))
    if not isinstance(ds, SegmentationDataset):
        raise TypeError(f"format reader '{reader.name}' returned {type(ds).__name__}")
    if not ds.images:
        return ds
    if all(img.split is None for img in ds.images):
        return _split(ds, val_fraction=val_fraction, test_fraction=test_fraction, seed=split_seed)
    if any(img.split is None for img in ds.images):
        images = [img if img.split else replace(img, split="train") for img in ds.images]
        ds = replace(ds, images=images, notes=[*ds.notes, "images without a split read as train"])
    return ds
