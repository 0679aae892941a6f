"""Turn what a user gives (a folder, a zip, a CSV, an IDX set) into a :class:`Manifest`.

Layouts of a folder, detected in this order:

1. IDX files (``train-images-idx3-ubyte.gz``...): exported once to split folders of PNGs under
   ``extract_root`` and read as split folders (layout ``"idx"``).
2. Split folders: ``train/`` plus ``val/`` (or ``valid/``, ``validation/``) and/or ``test/``,
   any case, each holding class folders.
3. Exactly one CSV/TSV with no class folders beside it (or one whose header names a path and a
   label column): ``path,label[,split]``, paths relative to the CSV's folder or absolute.
4. A wrapper: one sub-folder and nothing else usable (an unzipped ``dataset/``); read that.
5. An ImageFolder: one sub-folder per class (nested folders inside a class belong to it).

Classes are sorted by name, except for IDX sets, which keep their label order. Every image is
fully decoded (threads; Pillow releases the GIL) so broken files are reported as
:class:`SkippedFile` with a reason instead of failing training later. Nothing under the user's
folder is written to; zips and IDX sets are expanded under ``extract_root``.
"""

from __future__ import annotations

import hashlib
import json
import os
import zipfile
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor, as_completed
from pathlib import Path

from imgrec.data._found import NOT_IMAGE, OUTSIDE_CLASS, SPLIT_ALIASES, Candidate, Found
from imgrec.data.archive import extract_zip, extraction_dir, is_ignored_name, sha256_file
from imgrec.data.csv_source import has_path_label, read_csv
from imgrec.data.images import IMAGE_EXTENSIONS, ImageInfo, is_image_name, probe_image
from imgrec.data.manifest import SPLITS, Manifest, Sample, SkippedFile, Split
from imgrec.errors import DatasetError

__all__ = ["CSV_SUFFIXES", "SPLIT_ALIASES", "ingest"]

CSV_SUFFIXES = frozenset({".csv", ".tsv"})
_METADATA_SUFFIXES = frozenset({".txt", ".json", ".csv", ".tsv", ".md", ".yaml", ".yml"})
_METADATA_STEMS = ("readme", "license", "licence")
_MAX_WRAPPERS = 8

Progress = Callable[[int, int], None]


def ingest(
    source: str | Path,
    *,
    extract_root: Path,
    hash_files: bool = True,
    progress: Progress | None = None,
) -> Manifest:
    """Read a dataset and return its manifest (samples unsplit unless the source defines splits).

    Args:
        source: A folder, a ``.zip``, or a CSV/TSV file with a ``path,label[,split]`` header.
        extract_root: Where zips and IDX sets are expanded (reused when already there).
        hash_files: Compute each file's sha256 (duplicates, split order, fingerprint). When
            False, ``Sample.sha256`` is ``""``.
        progress: Called as ``progress(done, total)`` while images are decoded.

    Raises:
        DatasetError: the source does not exist or cannot be read as any layout; the zip is
            unsafe (:class:`~imgrec.errors.UnsafeArchiveError`) or corrupt.
    """
    src = Path(source).expanduser().absolute()
    extract_root = Path(extract_root).expanduser().absolute()
    if not src.exists():
        raise DatasetError(
            f"{src}: no such file or folder; give a folder of images, a .zip or a CSV file."
        )
    notes: list[str] = []
    if src.is_dir():
        found = _read_folder(src, extract_root)
    elif src.suffix.lower() in CSV_SUFFIXES:
        found = read_csv(src)
    elif src.suffix.lower() == ".zip" or zipfile.is_zipfile(src):
        target = extraction_dir(src, extract_root)
        if target.is_dir():
            notes.append(f"zip already extracted: reused {target}")
        else:
            extract_zip(src, target)
            notes.append(f"zip extracted to {target}")
        found = _read_folder(target, extract_root)
    else:
        raise DatasetError(
            f"{src}: not a folder, a .zip or a .csv/.tsv file; imgrec cannot read it as a dataset."
        )
    return _build(src, found, notes, hash_files=hash_files, progress=progress)


# ---------------------------------------------------------------- layout detection


def _listing(folder: Path) -> tuple[list[Path], list[Path]]:
    """Sorted (sub-folders, files) of ``folder`` without hidden/OS metadata entries."""
    dirs: list[Path] = []
    files: list[Path] = []
    for entry in sorted(folder.iterdir(), key=lambda p: p.name):
        if is_ignored_name(entry.name):
            continue
        (dirs if entry.is_dir() else files).append(entry)
    return dirs, files


def _is_top_metadata(path: Path) -> bool:
    return path.suffix.lower() in _METADATA_SUFFIXES or path.name.lower().startswith(
        _METADATA_STEMS
    )


def _read_folder(folder: Path, extract_root: Path) -> Found:
    wrappers: list[str] = []
    for _ in range(_MAX_WRAPPERS):
        found = _detect(folder, extract_root)
        if found is not None:
            found.notes[:0] = [f"descended into wrapper folder '{w}'" for w in wrappers]
            return found
        dirs, _files = _listing(folder)
        folder = dirs[0]
        wrappers.append(folder.name)
    raise DatasetError(f"{folder}: folders nested too deep; point imgrec at the dataset folder.")


def _detect(folder: Path, extract_root: Path) -> Found | None:
    """The layout reader's result for ``folder``, or None when it is a wrapper to descend into."""
    from imgrec.data.idx import is_idx_folder  # written beside this module; imported lazily

    if is_idx_folder(folder):
        exported = _export_idx(folder, extract_root)
        found = _read_split_folders(exported, _split_dirs(exported) or {})
        found.layout = "idx"
        found.class_order = _idx_class_order(exported)
        found.notes[0] = f"layout: IDX files in {folder} exported to {exported}; " + found.notes[0]
        return found
    splits = _split_dirs(folder)
    if splits:
        return _read_split_folders(folder, splits)
    dirs, files = _listing(folder)
    tables = [f for f in files if f.suffix.lower() in CSV_SUFFIXES]
    if len(tables) == 1 and (not dirs or has_path_label(tables[0])):
        return read_csv(tables[0])
    images_here = any(is_image_name(f) for f in files)
    if len(dirs) == 1 and not images_here and not any(is_image_name(f) for f in dirs[0].iterdir()):
        return None
    return _read_imagefolder(folder)


def _split_dirs(folder: Path) -> dict[Split, Path] | None:
    """``{"train": path, "val": path, ...}`` when ``folder`` holds train plus val and/or test."""
    found: dict[Split, Path] = {}
    for d in _listing(folder)[0]:
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


def _export_idx(folder: Path, extract_root: Path) -> Path:
    """Export an IDX set to ``extract_root/idx-<hash of its files>``.

    ``export_idx_folder`` builds beside the target and renames, and returns a complete earlier
    export untouched, so a second ingest of the same files reuses it.
    """
    from imgrec.data.idx import export_idx_folder

    digest = hashlib.sha256()
    for f in _listing(folder)[1]:
        digest.update(f"{f.name}:{sha256_file(f)}\n".encode())
    return export_idx_folder(folder, extract_root / f"idx-{digest.hexdigest()[:16]}")


def _idx_class_order(exported: Path) -> list[str] | None:
    """Class names in label order from the export's marker file, if it records them."""
    from imgrec.data.idx import COMPLETE_MARKER

    try:
        classes = json.loads((exported / COMPLETE_MARKER).read_text(encoding="utf-8"))["classes"]
    except (OSError, ValueError, KeyError, TypeError):
        return None
    return [str(c) for c in classes] if isinstance(classes, list) else None


def _read_split_folders(folder: Path, splits: dict[Split, Path]) -> Found:
    shown = [
        d.name if d.name.lower() == s else f"{d.name}->{s}"
        for s in SPLITS
        if (d := splits.get(s)) is not None
    ]
    found = Found("split-folders", folder, notes=[f"layout: split folders ({', '.join(shown)})"])
    used = set(splits.values())
    dirs, files = _listing(folder)
    for d in dirs:
        if d not in used:
            found.notes.append(f"folder '{d.name}' ignored: it is not train, val or test")
    _skip_loose(files, found, top=True)
    for split in SPLITS:
        if (split_dir := splits.get(split)) is None:
            continue
        class_dirs, loose = _listing(split_dir)
        if not class_dirs:
            found.notes.append(
                f"'{split_dir.name}' has no class folders; its images have no label and were "
                "skipped"
            )
        _skip_loose(loose, found, top=True)
        for class_dir in class_dirs:
            _read_class_dir(class_dir, split, f"{split_dir.name}/{class_dir.name}", found)
    return found


def _read_imagefolder(folder: Path) -> Found:
    dirs, files = _listing(folder)
    found = Found(
        "imagefolder", folder, notes=[f"layout: image folder ({len(dirs)} class folders)"]
    )
    tables = [f.name for f in files if f.suffix.lower() in CSV_SUFFIXES]
    if not dirs and len(tables) > 1:
        found.notes.append(
            f"no class folders, and {len(tables)} CSV files ({', '.join(tables)}): "
            "give the path of the one to read"
        )
    _skip_loose(files, found, top=True)
    for class_dir in dirs:
        _read_class_dir(class_dir, None, class_dir.name, found)
    return found


def _skip_loose(files: list[Path], found: Found, *, top: bool) -> None:
    """Files outside any class folder: metadata is ignored, images and the rest are skipped."""
    for f in files:
        if top and _is_top_metadata(f):
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


# ---------------------------------------------------------------- decoding


def _probe(candidate: Candidate, hash_files: bool) -> tuple[ImageInfo, str] | str:
    """Decode one candidate; return (info, sha256) or the reason it cannot be used."""
    try:
        info = probe_image(candidate.path)
        return info, sha256_file(candidate.path) if hash_files else ""
    except DatasetError as exc:
        text = str(exc)
        prefix = f"{candidate.path}: "
        return text[len(prefix) :] if text.startswith(prefix) else text
    except OSError as exc:
        return f"unreadable ({exc.strerror or exc})"


def _probe_all(
    candidates: list[Candidate], *, hash_files: bool, progress: Progress | None
) -> list[tuple[ImageInfo, str] | str]:
    total = len(candidates)
    results: list[tuple[ImageInfo, str] | str] = [""] * total
    if progress:
        progress(0, total)
    if not total:
        return results
    workers = min(16, (os.cpu_count() or 1) + 4, total)
    with ThreadPoolExecutor(max_workers=workers, thread_name_prefix="imgrec-probe") as pool:
        futures = {pool.submit(_probe, c, hash_files): i for i, c in enumerate(candidates)}
        for done, future in enumerate(as_completed(futures), start=1):
            results[futures[future]] = future.result()
            if progress:
                progress(done, total)
    return results


def _build(
    source: Path,
    found: Found,
    notes: list[str],
    *,
    hash_files: bool,
    progress: Progress | None,
) -> Manifest:
    results = _probe_all(found.candidates, hash_files=hash_files, progress=progress)
    usable = [
        (c, r) for c, r in zip(found.candidates, results, strict=True) if isinstance(r, tuple)
    ]
    skipped = list(found.skipped)
    skipped += [
        SkippedFile(c.path, r)
        for c, r in zip(found.candidates, results, strict=True)
        if isinstance(r, str)
    ]
    names = {c.label for c, _ in usable}
    order = [c for c in found.class_order or [] if c in names]
    classes = order + sorted(names - set(order))
    index = {name: i for i, name in enumerate(classes)}
    samples = [
        Sample(
            path=c.path,
            label=index[c.label],
            split=c.split,
            sha256=sha,
            width=info.width,
            height=info.height,
            mode=info.mode,
        )
        for c, (info, sha) in usable
    ]
    all_notes = notes + found.notes + _group_notes(found, {c.group for c, _ in usable}, classes)
    if not hash_files:
        all_notes.append("file hashes not computed (hash_files=False): no duplicate detection")
    return Manifest(
        root=found.root,
        source=source,
        layout=found.layout,
        classes=classes,
        samples=samples,
        skipped=skipped,
        notes=all_notes,
    )


def _group_notes(found: Found, used_groups: set[str], classes: list[str]) -> list[str]:
    """Notes on class folders that gave no image: empty ones, and ones whose images all failed."""
    tried = {c.group for c in found.candidates}
    notes = []
    for group in found.groups:
        if group in used_groups:
            continue
        what = "is empty" if group not in tried else "has no usable image"
        name = group.rsplit("/", 1)[-1]
        tail = "" if name in classes else "; no class made"
        notes.append(f"class folder '{group}' {what}{tail}")
    return notes
