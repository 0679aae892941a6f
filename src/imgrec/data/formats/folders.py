"""Classification layouts made of folders: split folders of class folders, and an image folder.

* ``split-folders``: ``train/`` plus ``val/`` (or ``valid/``, ``validation/``) and/or ``test/``,
  any case, each holding class folders.
* ``imagefolder``: one sub-folder per class (nested folders inside a class belong to it). The
  catch-all (priority 0): it accepts any folder except a wrapper, a folder holding one
  sub-folder and no images, which :func:`imgrec.data.ingest.ingest` descends into.

The listing helpers here are shared with the IDX reader, which reads its export as split folders.
"""

from __future__ import annotations

import os
from pathlib import Path

from imgrec.data._found import NOT_IMAGE, OUTSIDE_CLASS, SPLIT_ALIASES, Candidate, Found
from imgrec.data.archive import is_ignored_name
from imgrec.data.formats.registry import FormatReader, ReadContext, register_format
from imgrec.data.images import IMAGE_EXTENSIONS, is_image_name
from imgrec.data.manifest import SPLITS, SkippedFile, Split
from imgrec.errors import DatasetError

__all__ = [
    "CSV_SUFFIXES",
    "ImageFolderFormat",
    "SplitFoldersFormat",
    "is_wrapper",
    "listing",
    "read_split_folders",
    "split_dirs",
]

CSV_SUFFIXES = frozenset({".csv", ".tsv"})
_METADATA_SUFFIXES = frozenset({".txt", ".json", ".csv", ".tsv", ".md", ".yaml", ".yml"})
_METADATA_STEMS = ("readme", "license", "licence")


def listing(folder: Path) -> tuple[list[Path], list[Path]]:
    """Sorted (sub-folders, files) of ``folder`` without hidden/OS metadata entries."""
    dirs: list[Path] = []
    files: list[Path] = []
    for entry in sorted(folder.iterdir(), key=lambda p: p.name):
        if is_ignored_name(entry.name):
            continue
        (dirs if entry.is_dir() else files).append(entry)
    return dirs, files


def split_dirs(folder: Path) -> dict[Split, Path] | None:
    """``{"train": path, "val": path, ...}`` when ``folder`` holds train plus val and/or test.

    Raises:
        DatasetError: two folders name the same split (``val/`` and ``valid/``).
    """
    found: dict[Split, Path] = {}
    for d in listing(folder)[0]:
        split = SPLIT_ALIASES.get(d.name.lower())
        if split is None:
            continue
        if split in found:
            raise DatasetError(
                f"{folder}: both '{found[split].name}' and '{d.name}' are {split} folders; "
                "keep one of them."
            )
        found[split] = d
    if "train" in found and ("val" in found or "test" in found):
        return found
    return None


def read_split_folders(folder: Path, splits: dict[Split, Path]) -> Found:
    """The candidates of a split-folders layout whose split folders are ``splits``."""
    shown = [
        d.name if d.name.lower() == s else f"{d.name}->{s}"
        for s in SPLITS
        if (d := splits.get(s)) is not None
    ]
    found = Found("split-folders", folder, notes=[f"layout: split folders ({', '.join(shown)})"])
    used = set(splits.values())
    dirs, files = listing(folder)
    for d in dirs:
        if d not in used:
            found.notes.append(f"folder '{d.name}' ignored: it is not train, val or test")
    _skip_loose(files, found)
    for split in SPLITS:
        if (split_dir := splits.get(split)) is None:
            continue
        class_dirs, loose = listing(split_dir)
        if not class_dirs:
            found.notes.append(
                f"'{split_dir.name}' has no class folders; its images have no label and were "
                "skipped"
            )
        _skip_loose(loose, found)
        for class_dir in class_dirs:
            _read_class_dir(class_dir, split, f"{split_dir.name}/{class_dir.name}", found)
    return found


def _read_imagefolder(folder: Path) -> Found:
    dirs, files = listing(folder)
    found = Found(
        "imagefolder", folder, notes=[f"layout: image folder ({len(dirs)} class folders)"]
    )
    tables = [f.name for f in files if f.suffix.lower() in CSV_SUFFIXES]
    if not dirs and len(tables) > 1:
        found.notes.append(
            f"no class folders, and {len(tables)} CSV files ({', '.join(tables)}): "
            "give the path of the one to read"
        )
    _skip_loose(files, found)
    for class_dir in dirs:
        _read_class_dir(class_dir, None, class_dir.name, found)
    return found


def _is_top_metadata(path: Path) -> bool:
    return path.suffix.lower() in _METADATA_SUFFIXES or path.name.lower().startswith(
        _METADATA_STEMS
    )


def _skip_loose(files: list[Path], found: Found) -> None:
    """Files outside any class folder: metadata is ignored, images and the rest are skipped."""
    for f in files:
        if _is_top_metadata(f):
            continue
        reason = OUTSIDE_CLASS if is_image_name(f) else NOT_IMAGE
        found.skipped.append(SkippedFile(f, reason))


def _read_class_dir(class_dir: Path, split: Split | None, group: str, found: Found) -> None:
    found.groups.append(group)
    for dirpath, dirnames, filenames in os.walk(class_dir):
        dirnames[:] = sorted(d for d in dirnames if not is_ignored_name(d))
        for name in sorted(filenames):
            if is_ignored_name(name):
                continue
            path = Path(dirpath) / name
            if path.suffix.lower() in IMAGE_EXTENSIONS:
                found.candidates.append(Candidate(path, class_dir.name, split, group))
            else:
                found.skipped.append(SkippedFile(path, NOT_IMAGE))


def is_wrapper(folder: Path) -> bool:
    """True for a folder with one sub-folder and no images beside it or directly inside it."""
    dirs, files = listing(folder)
    return (
        len(dirs) == 1
        and not any(is_image_name(f) for f in files)
        and not any(is_image_name(f) for f in dirs[0].iterdir())
    )


@register_format
class SplitFoldersFormat(FormatReader[Found]):
    """``train/`` plus ``val/`` and/or ``test/``, each of class folders."""

    name = "split-folders"
    tasks = ("classify",)
    priority = 90
    description = "split-folders (train/ plus val/ or test/, each holding class folders)"

    def detect(self, path: Path) -> bool:
        return path.is_dir() and split_dirs(path) is not None

    def read(self, path: Path, ctx: ReadContext) -> Found:
        splits = split_dirs(path)
        if splits is None:
            raise DatasetError(f"{path}: no train/ with val/ or test/ beside it")
        return read_split_folders(path, splits)


@register_format
class ImageFolderFormat(FormatReader[Found]):
    """One sub-folder per class; the catch-all for any folder that is not a wrapper."""

    name = "imagefolder"
    tasks = ("classify",)
    priority = 0
    description = "imagefolder (one sub-folder of images per class)"

    def detect(self, path: Path) -> bool:
        return path.is_dir() and not is_wrapper(path)

    def read(self, path: Path, ctx: ReadContext) -> Found:
        return _read_imagefolder(path)
