"""Safe extraction of a user's zip file.

A zip is untrusted input. :func:`extract_zip` refuses any entry that would land outside the
target (``../``, absolute paths, drive letters, backslash separators), refuses symlink entries,
and caps the file count, the total uncompressed size and the per-entry compression ratio, both
from the declared sizes before anything is written and again while streaming (the header's sizes
are not trusted). Extraction goes into a hidden temporary folder next to the target that is
renamed into place at the end, so a refused or failed extraction leaves nothing behind.
"""

from __future__ import annotations

import hashlib
import lzma
import re
import shutil
import stat
import zipfile
import zlib
from pathlib import Path, PurePosixPath

from imgrec._files import make_temp_dir
from imgrec.errors import DatasetError, UnsafeArchiveError

__all__ = [
    "DEFAULT_MAX_FILES",
    "DEFAULT_MAX_RATIO",
    "DEFAULT_MAX_TOTAL_BYTES",
    "extract_zip",
    "extraction_dir",
    "is_ignored_name",
    "sha256_file",
]

DEFAULT_MAX_TOTAL_BYTES = 4 * 1024**3
DEFAULT_MAX_FILES = 200_000
DEFAULT_MAX_RATIO = 200.0
# The ratio cap only applies to entries at least this large: a small flat image (a white BMP)
# compresses far beyond any sane ratio and is harmless; a bomb needs size to do damage.
RATIO_MIN_BYTES = 1024**2
_CHUNK = 1024**2
_DRIVE = re.compile(r"^[A-Za-z]:")
_IGNORED_NAMES = frozenset({"__MACOSX", "Thumbs.db", "desktop.ini"})


def is_ignored_name(name: str) -> bool:
    """True for names that are metadata, never data: hidden (``.x``), ``__MACOSX``, Thumbs.db..."""
    return name.startswith(".") or name in _IGNORED_NAMES


def sha256_file(path: Path) -> str:
    """Hex sha256 of a file's bytes, read in chunks."""
    digest = hashlib.sha256()
    with path.open("rb") as fh:
        while chunk := fh.read(_CHUNK):
            digest.update(chunk)
    return digest.hexdigest()


def extraction_dir(archive: Path, root: Path, *, digest: str | None = None) -> Path:
    """The folder under ``root`` where ``archive`` is (or will be) extracted.

    The name joins the zip's stem and the start of its sha256 (``digest`` when the caller already
    knows it, else the file is read), so the same bytes always map to the same folder (a second
    ingest reuses it) and a changed zip gets a new one.
    """
    stem = re.sub(r"[^A-Za-z0-9_-]+", "_", Path(archive).stem).strip("_")[:40] or "archive"
    return Path(root) / f"{stem}-{(digest or sha256_file(Path(archive)))[:16]}"


def _refuse(archive: Path, entry: str, why: str, todo: str) -> UnsafeArchiveError:
    return UnsafeArchiveError(f"{archive}: refused entry {entry!r}: {why}. {todo}")


def _entry_parts(archive: Path, info: zipfile.ZipInfo) -> tuple[str, ...]:
    """The entry's path components, or an UnsafeArchiveError if it could escape the target."""
    name = info.filename
    fix = "Re-create the zip from inside the dataset folder (relative paths only)."
    if "\x00" in name:
        raise _refuse(archive, name, "the name contains a NUL character", fix)
    posix = name.replace("\\", "/")  # Windows zippers and path tricks both use backslashes
    if posix.startswith("/"):
        raise _refuse(archive, name, "absolute path", fix)
    if _DRIVE.match(posix):
        raise _refuse(archive, name, "path starts with a drive letter", fix)
    parts = tuple(p for p in PurePosixPath(posix).parts if p not in ("", "."))
    if ".." in parts:
        raise _refuse(archive, name, "path climbs out of the target with '..'", fix)
    if stat.S_ISLNK(info.external_attr >> 16):
        raise _refuse(
            archive, name, "symbolic link", "Zip the files themselves, not links to them."
        )
    return parts


def _plan(
    archive: Path,
    zf: zipfile.ZipFile,
    *,
    max_total_bytes: int,
    max_files: int,
    max_ratio: float,
) -> list[tuple[zipfile.ZipInfo, tuple[str, ...]]]:
    """Check every entry and the declared totals; return the (entry, parts) pairs to write."""
    plan: list[tuple[zipfile.ZipInfo, tuple[str, ...]]] = []
    total = files = 0
    for info in zf.infolist():
        parts = _entry_parts(archive, info)
        if not parts or any(is_ignored_name(p) for p in parts):
            continue
        plan.append((info, parts))
        if info.is_dir():
            continue
        files += 1
        if files > max_files:
            raise _refuse(
                archive,
                info.filename,
                f"more than {max_files} files",
                "Split the dataset into smaller zips or raise max_files.",
            )
        total += info.file_size
        if total > max_total_bytes:
            raise _refuse(
                archive,
                info.filename,
                f"total uncompressed size passes the cap of {max_total_bytes} bytes",
                "Use a smaller dataset, give the folder instead of a zip, "
                "or raise max_total_bytes.",
            )
        _check_ratio(archive, info, info.file_size, max_ratio)
    return plan


def _check_ratio(archive: Path, info: zipfile.ZipInfo, size: int, max_ratio: float) -> None:
    if size >= RATIO_MIN_BYTES and size > max_ratio * max(info.compress_size, 1):
        raise _refuse(
            archive,
            info.filename,
            f"compression ratio above {max_ratio:g} (a zip bomb?)",
            "Check where the zip came from; if it is genuine, raise max_ratio.",
        )


def _write_entry(
    archive: Path,
    zf: zipfile.ZipFile,
    info: zipfile.ZipInfo,
    dest: Path,
    *,
    written_so_far: int,
    max_total_bytes: int,
    max_ratio: float,
) -> int:
    """Stream one entry to ``dest`` counting bytes; return how many were written."""
    written = 0
    with zf.open(info) as src, dest.open("wb") as out:
        while chunk := src.read(_CHUNK):
            written += len(chunk)
            if written_so_far + written > max_total_bytes:
                raise _refuse(
                    archive,
                    info.filename,
                    f"total uncompressed size passes the cap of {max_total_bytes} bytes "
                    "while extracting (the zip's declared sizes are wrong)",
                    "Do not use this zip; re-create it from the original files.",
                )
            _check_ratio(archive, info, written, max_ratio)
            out.write(chunk)
    return written


def extract_zip(
    archive: Path,
    target: Path,
    *,
    max_total_bytes: int = DEFAULT_MAX_TOTAL_BYTES,
    max_files: int = DEFAULT_MAX_FILES,
    max_ratio: float = DEFAULT_MAX_RATIO,
) -> Path:
    """Extract ``archive`` into ``target`` safely and return ``target``.

    ``__MACOSX/``, hidden files and folders (``.DS_Store``, ``.ipynb_checkpoints``...),
    ``Thumbs.db`` and ``desktop.ini`` are not extracted. ``target`` must not exist yet (an empty
    folder is accepted); it appears complete or not at all.

    Raises:
        UnsafeArchiveError: an entry escapes the target, is a symlink, or a cap was hit; the
            message names the archive, the entry and what to do.
        DatasetError: the file is not a zip, is corrupt, is encrypted, or ``target`` is in use.
    """
    archive, target = Path(archive), Path(target)
    if not archive.is_file():
        raise DatasetError(f"{archive}: no such file; give the path of a .zip file.")
    if target.exists() and (not target.is_dir() or any(target.iterdir())):
        raise DatasetError(
            f"{target}: already exists and is not empty; cannot extract {archive.name} there."
        )
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = make_temp_dir(target.parent, prefix=f".{target.name}.partial-")
    try:
        try:
            _extract_all(
                archive,
                tmp,
                max_total_bytes=max_total_bytes,
                max_files=max_files,
                max_ratio=max_ratio,
            )
            if target.exists():
                target.rmdir()  # empty, checked above
            tmp.rename(target)  # fails if another process filled target meanwhile
        except (zipfile.BadZipFile, zlib.error, lzma.LZMAError) as exc:
            raise DatasetError(
                f"{archive}: not a valid zip file ({exc}); re-create it or give the folder instead."
            ) from exc
        except (RuntimeError, NotImplementedError) as exc:  # encrypted, unsupported compression
            raise DatasetError(
                f"{archive}: cannot be extracted ({exc}); re-zip it without a password using "
                "standard (deflate) compression."
            ) from exc
        except (OSError, EOFError) as exc:
            raise DatasetError(f"{archive}: extraction to {target} failed ({exc}).") from exc
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return target


def _extract_all(
    archive: Path, tmp: Path, *, max_total_bytes: int, max_files: int, max_ratio: float
) -> None:
    with zipfile.ZipFile(archive) as zf:
        plan = _plan(
            archive, zf, max_total_bytes=max_total_bytes, max_files=max_files, max_ratio=max_ratio
        )
        total = 0
        base = tmp.resolve()
        for info, parts in plan:
            dest = tmp.joinpath(*parts)
            if not dest.resolve().is_relative_to(base):  # belt and braces after _entry_parts
                raise _refuse(archive, info.filename, "path escapes the target", "")
            if info.is_dir():
                dest.mkdir(parents=True, exist_ok=True)
                continue
            dest.parent.mkdir(parents=True, exist_ok=True)
            total += _write_entry(
                archive,
                zf,
                info,
                dest,
                written_so_far=total,
                max_total_bytes=max_total_bytes,
                max_ratio=max_ratio,
            )
