"""Turn what a user gives (a folder, a zip, a CSV, an IDX set) into a :class:`Manifest`.

The layout of a folder is found by the format registry (:mod:`imgrec.data.formats`): the
``classify`` readers are probed highest priority first and the first that accepts the folder
reads it. The built-in ones, in that order:

1. ``idx``: IDX files (``train-images-idx3-ubyte.gz``...), exported once to split folders of PNGs
   under ``extract_root``.
2. ``split-folders``: ``train/`` plus ``val/`` (or ``valid/``, ``validation/``) and/or ``test/``,
   any case, each holding class folders.
3. ``csv``: exactly one CSV/TSV with no class folders beside it (or one whose header names a path
   and a label column): ``path,label[,split]``, paths relative to the CSV's folder or absolute.
4. ``imagefolder``: one sub-folder per class (nested folders inside a class belong to it).

A wrapper (one sub-folder and nothing else usable, as in an unzipped ``dataset/``) is descended
into. Classes are sorted by name, except where the reader gives an order (IDX keeps its label
order). Every image is fully decoded (threads; Pillow releases the GIL; JPEGs at reduced DCT
scale) so broken files are reported as :class:`SkippedFile` with a reason instead of failing
training later. Nothing under the user's folder is written to; zips (once per content, see
:mod:`imgrec.data.zipcache`) and IDX sets are expanded under ``extract_root``.
"""

from __future__ import annotations

import os
import zipfile
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor, as_completed
from pathlib import Path
from typing import Any

from imgrec.data._found import SPLIT_ALIASES, Candidate, Found
from imgrec.data.archive import sha256_file
from imgrec.data.formats import FormatReader, ReadContext, describe_formats, find_format
from imgrec.data.formats.folders import CSV_SUFFIXES, listing
from imgrec.data.images import ImageInfo, probe_image
from imgrec.data.manifest import Manifest, Sample, SkippedFile
from imgrec.data.zipcache import extract_cached
from imgrec.errors import DatasetError

__all__ = ["CSV_SUFFIXES", "SPLIT_ALIASES", "class_folders", "ingest"]

_TASK = "classify"
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
    ctx = ReadContext(source=src, work_dir=extract_root)
    if src.is_dir():
        found = _read_folder(src, ctx)
    elif (reader := find_format(src, task=_TASK)) is not None:  # a file: a CSV given directly
        found = _read(reader.name, reader.read(src, ctx))
    elif src.suffix.lower() == ".zip" or zipfile.is_zipfile(src):
        target, reused = extract_cached(src, extract_root)
        notes.append(
            f"zip already extracted: reused {target}" if reused else f"zip extracted to {target}"
        )
        found = _read_folder(target, ctx)
    else:
        raise DatasetError(
            f"{src}: not a folder, a .zip or a .csv/.tsv file; imgrec cannot read it as a dataset. "
            f"Known formats: {describe_formats(_TASK)}."
        )
    return _build(src, found, notes, hash_files=hash_files, progress=progress)


def _read(name: str, found: object) -> Found:
    if not isinstance(found, Found):
        raise TypeError(f"format reader '{name}' returned {type(found).__name__}, not a Found")
    return found


def _read_folder(folder: Path, ctx: ReadContext) -> Found:
    """Read ``folder`` with the first classify reader that accepts it, descending wrappers."""
    reader, folder, wrappers = _find_reader(folder)
    found = _read(reader.name, reader.read(folder, ctx))
    found.notes[:0] = [f"descended into wrapper folder '{w}'" for w in wrappers]
    return found


def class_folders(folder: Path) -> tuple[Path, list[str]] | None:
    """The class folder names of the image-folder dataset ``folder`` (wrappers descended, as
    :func:`ingest` does) and the folder holding them, from the listing alone: no image is
    opened. None when another layout (split folders, CSV, IDX) reads ``folder``.

    Raises:
        DatasetError: ``folder`` has no layout :func:`ingest` could read.
    """
    reader, found, _ = _find_reader(folder)
    if reader.name != "imagefolder":
        return None
    return found, [d.name for d in listing(found)[0]]


def _find_reader(folder: Path) -> tuple[FormatReader[Any], Path, list[str]]:
    """The first classify reader that accepts ``folder`` or the folder it wraps, that folder,
    and the wrapper folders descended into on the way."""
    wrappers: list[str] = []
    for _ in range(_MAX_WRAPPERS):
        reader = find_format(folder, task=_TASK)
        if reader is not None:
            return reader, folder, wrappers
        dirs, _files = listing(folder)
        if len(dirs) != 1:
            raise DatasetError(
                f"{folder}: no known dataset layout. Known formats: {describe_formats(_TASK)}."
            )
        folder = dirs[0]
        wrappers.append(folder.name)
    raise DatasetError(f"{folder}: folders nested too deep; point imgrec at the dataset folder.")


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
