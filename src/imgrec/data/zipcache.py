"""Extract a user's zip once, and reuse the extraction while the zip is unchanged.

:func:`extract_cached` extracts into ``root/<stem>-<sha256 prefix>`` (see
:func:`~imgrec.data.archive.extraction_dir`): the same bytes always map to the same folder, so a
second ``data check`` or training of the same zip extracts nothing, and a changed zip gets a new
folder. Hashing a large zip costs a full read, so the digest is remembered in
``root/.zip-index/<hash of the zip's path>.json`` with the zip's size, mtime, ctime and inode;
while all of them match, the zip is not read again (any change means one re-hash, never a stale
folder: the folder name is the content hash). Nothing is written beside or into the zip.
Extractions of earlier versions of a zip stay under ``root`` until it is cleared.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

from imgrec._files import atomic_write_text
from imgrec.data import archive as _archive
from imgrec.errors import DatasetError

__all__ = ["INDEX_DIR", "extract_cached"]

INDEX_DIR = ".zip-index"


def _stamp(path: Path) -> dict[str, int]:
    st = path.stat()
    return {
        "size": st.st_size,
        "mtime_ns": st.st_mtime_ns,
        "ctime_ns": st.st_ctime_ns,
        "inode": st.st_ino,
    }


def _index_file(archive: Path, root: Path) -> Path:
    key = hashlib.sha256(str(archive).encode("utf-8", "surrogatepass")).hexdigest()[:32]
    return root / INDEX_DIR / f"{key}.json"


def _remembered(index: Path, archive: Path, stamp: dict[str, int]) -> str | None:
    try:
        entry = json.loads(index.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    if not isinstance(entry, dict) or entry.get("path") != str(archive):
        return None
    if any(entry.get(k) != v for k, v in stamp.items()):
        return None
    digest = entry.get("sha256")
    return digest if isinstance(digest, str) and len(digest) == 64 else None


def _remember(index: Path, archive: Path, stamp: dict[str, int], digest: str) -> None:
    """Write the index entry atomically; a cache that cannot be written only costs a re-hash."""
    entry = {"path": str(archive), **stamp, "sha256": digest}
    try:
        atomic_write_text(index, json.dumps(entry))
    except OSError:
        return


_PEEKED: set[Path] = set()  # extracted by a look inside that a read follows


def extract_cached(archive: Path, root: Path, *, peek: bool = False) -> tuple[Path, bool]:
    """Extract ``archive`` under ``root`` unless an extraction of the same bytes is there.

    The digest is remembered only once the extraction is in place, so a refused or corrupt zip
    leaves nothing under ``root``.

    ``peek``: a look inside before the read (which task is this zip?); the read that follows
    still reports the extraction as made, not reused.

    Returns:
        ``(folder, reused)``: the extracted folder, and whether it was there already.

    Raises:
        UnsafeArchiveError: an entry escapes the target, is a symlink, or a cap was hit.
        DatasetError: the zip is missing, corrupt or encrypted, or cannot be extracted.
    """
    archive, root = Path(archive).absolute(), Path(root).absolute()
    if not archive.is_file():
        raise DatasetError(f"{archive}: no such file; give the path of a .zip file.")
    stamp = _stamp(archive)
    index = _index_file(archive, root)
    digest = _remembered(index, archive, stamp)
    known = digest is not None
    if digest is None:
        digest = _archive.sha256_file(archive)
    target = _archive.extraction_dir(archive, root, digest=digest)
    reused = target.is_dir()
    if not reused:
        try:
            _archive.extract_zip(archive, target)
        except DatasetError:
            if not (target.is_dir() and any(target.iterdir())):
                raise
            reused = True  # another process extracted the same bytes first
    if not known and _stamp(archive) == stamp:  # not rewritten while it was being read
        _remember(index, archive, stamp, digest)
    if peek:
        if not reused:
            _PEEKED.add(target)
        return target, reused
    if target in _PEEKED:  # the command's own look inside a moment ago: not a reuse
        _PEEKED.discard(target)
        return target, False
    return target, reused
