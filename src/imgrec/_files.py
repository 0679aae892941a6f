"""Atomic file and folder writes that leave ordinary permissions (the user's umask decides).

Every writer of a run file (weights, checkpoints, ``card.json``, ``metrics.json``,
``run.json``, reports) and of a dataset folder built aside and renamed into place goes through
here. :func:`tempfile.mkstemp` and :func:`tempfile.mkdtemp` create ``0600`` files and ``0700``
folders, and :func:`os.replace` keeps that mode, so a colleague could not open a shared model;
safetensors' ``save_file`` also creates its file ``0600``. The temporary file made here is
created the way a plain ``open()`` creates one (``0o666``, less the umask or the folder's
default ACL), and that mode is put back on it just before the rename, whatever the library that
filled it did.

None of imgrec's files is secret: the server token lives in the environment (``Settings``), not
on disk.
"""

from __future__ import annotations

import contextlib
import os
import secrets
import stat
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

__all__ = ["atomic_path", "atomic_write_bytes", "atomic_write_text", "make_temp_dir"]

_ATTEMPTS = 100


def _reserve_file(target: Path) -> tuple[Path, int]:
    """Create an empty, unique temporary file next to ``target``; return it and its mode."""
    for _ in range(_ATTEMPTS):
        tmp = target.with_name(f".{target.name}.{secrets.token_hex(4)}.tmp")
        try:
            fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o666)
        except FileExistsError:
            continue
        try:
            return tmp, stat.S_IMODE(os.fstat(fd).st_mode)
        finally:
            os.close(fd)
    raise FileExistsError(f"{target.parent}: no free temporary name for {target.name}")


@contextmanager
def atomic_path(path: str | Path) -> Iterator[Path]:
    """A temporary path next to ``path`` to write; it replaces ``path`` when the block ends.

    The temporary file exists (empty) when the block starts, so a writer may open it or
    overwrite it by name. When the block raises, ``path`` is left as it was and the temporary
    file is removed. The parent folder is created if needed.

    Example:
        >>> with atomic_path(run_dir / "model.safetensors") as tmp:  # doctest: +SKIP
        ...     save_file(tensors, str(tmp))
    """
    target = Path(path)
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp, mode = _reserve_file(target)
    try:
        yield tmp
        with contextlib.suppress(OSError):  # a file system without POSIX modes keeps its own
            tmp.chmod(mode)
        tmp.replace(target)
    finally:
        tmp.unlink(missing_ok=True)


def atomic_write_bytes(path: str | Path, data: bytes) -> Path:
    """Write ``data`` to ``path`` atomically (see :func:`atomic_path`) and return the path."""
    with atomic_path(path) as tmp:
        tmp.write_bytes(data)
    return Path(path)


def atomic_write_text(path: str | Path, text: str, *, encoding: str = "utf-8") -> Path:
    """Write ``text`` to ``path`` atomically, with no newline translation; return the path."""
    return atomic_write_bytes(path, text.encode(encoding))


def make_temp_dir(parent: str | Path, *, prefix: str) -> Path:
    """A new, uniquely named folder in ``parent``, with the mode a plain ``mkdir`` gives it.

    Use it instead of :func:`tempfile.mkdtemp` (``0700``) for a folder that is filled and then
    renamed into place as a dataset or export others should be able to read.
    """
    base = Path(parent)
    for _ in range(_ATTEMPTS):
        folder = base / f"{prefix}{secrets.token_hex(4)}"
        try:
            folder.mkdir(0o777)
        except FileExistsError:
            continue
        return folder
    raise FileExistsError(f"{base}: no free temporary folder name starting {prefix!r}")
