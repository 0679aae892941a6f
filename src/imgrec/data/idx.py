"""IDX files (the MNIST / Fashion-MNIST format): strict reading and export to PNG folders.

An IDX file is a 4-byte magic number ``0x0000TTDD`` (``TT`` the element type, ``DD`` the number of
dimensions), ``DD`` big-endian uint32 dimension sizes, then the elements in C order, big-endian.
Images are ``0x00000803`` (uint8, ``(N, H, W)``), labels ``0x00000801`` (uint8, ``(N,)``). Files may
be gzip-compressed (recognised by content, not by name).

A folder is an IDX folder when it holds ``train-images`` and ``train-labels`` files, optionally
with ``t10k-images``/``t10k-labels`` (the test split); names like ``train-images-idx3-ubyte.gz``
and ``train-images.idx3-ubyte`` are both recognised.
"""

from __future__ import annotations

import gzip
import io
import json
import math
import re
import shutil
import zlib
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor, as_completed
from pathlib import Path

import numpy as np
from PIL import Image

from imgrec._files import make_temp_dir
from imgrec.errors import DatasetError

__all__ = [
    "COMPLETE_MARKER",
    "FASHION_MNIST_CLASSES",
    "export_idx_folder",
    "find_idx_files",
    "is_idx_folder",
    "load_idx_folder",
    "read_idx",
]

FASHION_MNIST_CLASSES = [
    "t-shirt_top",
    "trouser",
    "pullover",
    "dress",
    "coat",
    "sandal",
    "shirt",
    "sneaker",
    "bag",
    "ankle_boot",
]
DIGIT_CLASSES = [str(d) for d in range(10)]
COMPLETE_MARKER = ".complete"

_DTYPES: dict[int, str] = {
    0x08: ">u1",
    0x09: ">i1",
    0x0B: ">i2",
    0x0C: ">i4",
    0x0D: ">f4",
    0x0E: ">f8",
}
_NAME = re.compile(r"^(train|t10k)-(images|labels)[.-]idx([13])-ubyte(\.gz)?$", re.IGNORECASE)
_SPLIT_OF_PREFIX = {"train": "train", "t10k": "test"}
_MAX_BYTES = 1 << 34  # 16 GiB: a header claiming more is corrupt, not a dataset
_CHUNK = 1 << 20
_EXPORT_CHUNK = 500  # images per export task


def read_idx(path: Path) -> np.ndarray:
    """Read an IDX file (raw or gzip) into an array in native byte order.

    Returns:
        The array with the file's shape, e.g. uint8 ``(N, 28, 28)`` for images, ``(N,)`` labels.

    Raises:
        DatasetError: naming the file: not found, wrong magic number, unknown element type,
            truncated header or data, data past the end, or a corrupt gzip stream.
    """
    path = Path(path)
    try:
        raw = path.open("rb")
    except OSError as exc:
        raise DatasetError(f"{path}: cannot read IDX file ({exc.strerror or exc})") from exc
    with raw:
        head = raw.read(2)
        raw.seek(0)
        fh: io.BufferedIOBase = (
            gzip.GzipFile(fileobj=raw, mode="rb") if head == b"\x1f\x8b" else raw
        )
        try:
            return _parse(fh, path)
        except (OSError, EOFError, zlib.error) as exc:  # gzip.BadGzipFile is an OSError
            raise DatasetError(f"{path}: corrupt or truncated IDX file ({exc})") from exc
        finally:
            fh.close()


def _parse(fh: io.BufferedIOBase, path: Path) -> np.ndarray:
    magic = fh.read(4)
    if len(magic) < 4:
        raise DatasetError(f"{path}: truncated IDX header ({len(magic)} of 4 magic bytes)")
    if magic[0] != 0 or magic[1] != 0:
        raise DatasetError(
            f"{path}: not an IDX file (magic number 0x{magic.hex()}, expected 0x000008XX, "
            "e.g. 0x00000803 for images or 0x00000801 for labels)"
        )
    type_code, ndim = magic[2], magic[3]
    if type_code not in _DTYPES:
        raise DatasetError(
            f"{path}: unknown IDX element type 0x{type_code:02x} (magic 0x{magic.hex()})"
        )
    if ndim == 0:
        raise DatasetError(f"{path}: IDX file declares 0 dimensions (magic 0x{magic.hex()})")
    dims_raw = fh.read(4 * ndim)
    if len(dims_raw) < 4 * ndim:
        raise DatasetError(f"{path}: truncated IDX header ({ndim} dimensions declared)")
    shape = tuple(int(d) for d in np.frombuffer(dims_raw, dtype=">u4"))
    dtype = np.dtype(_DTYPES[type_code])
    nbytes = math.prod(shape) * dtype.itemsize
    if nbytes > _MAX_BYTES:
        raise DatasetError(f"{path}: IDX header claims shape {shape} ({nbytes} bytes); corrupt")
    out = np.empty(shape, dtype=dtype)
    view = out.reshape(-1).view(np.uint8).data
    filled = 0
    while filled < nbytes:
        n = fh.readinto(view[filled : filled + _CHUNK])
        if not n:
            raise DatasetError(
                f"{path}: truncated IDX data: {filled} of {nbytes} bytes for shape {shape}"
            )
        filled += n
    if fh.read(1):
        raise DatasetError(f"{path}: data continues past the {nbytes} bytes of shape {shape}")
    return out.astype(dtype.newbyteorder("="), copy=False)


def find_idx_files(path: Path) -> dict[str, dict[str, Path]]:
    """IDX files in ``path`` by split and kind: ``{"train": {"images": p, "labels": p}, ...}``.

    Where a raw and a gzip copy of the same file both exist, the raw one is used (faster).
    """
    found: dict[str, dict[str, Path]] = {}
    try:
        entries = sorted(p for p in Path(path).iterdir() if p.is_file())
    except OSError:
        return found
    for entry in entries:
        match = _NAME.match(entry.name)
        if not match:
            continue
        split, kind = _SPLIT_OF_PREFIX[match.group(1).lower()], match.group(2).lower()
        current = found.setdefault(split, {}).get(kind)
        if current is None or (current.suffix.lower() == ".gz" and not match.group(4)):
            found[split][kind] = entry
    return found


def is_idx_folder(path: Path) -> bool:
    """True when ``path`` is a folder with train-images and train-labels IDX files."""
    files = find_idx_files(path).get("train", {})
    return "images" in files and "labels" in files


def load_idx_folder(path: Path) -> dict[str, tuple[np.ndarray, np.ndarray]]:
    """Read every split of an IDX folder.

    Returns:
        ``{"train": (images uint8 (N, H, W), labels uint8 (N,)), "test": (...)}``; ``"test"``
        only when ``t10k-*`` files are present.

    Raises:
        DatasetError: no train files, a split with images but no labels (or the reverse), a file
            of the wrong kind or shape, or image and label counts that differ (both files named).
    """
    path = Path(path)
    found = find_idx_files(path)
    if "train" not in found:
        raise DatasetError(
            f"{path}: no IDX files (expected train-images-idx3-ubyte[.gz] and "
            "train-labels-idx1-ubyte[.gz])"
        )
    out: dict[str, tuple[np.ndarray, np.ndarray]] = {}
    for split in ("train", "test"):
        files = found.get(split)
        if not files:
            continue
        for kind in ("images", "labels"):
            if kind not in files:
                other = next(iter(files.values()))
                raise DatasetError(
                    f"{other}: found, but the matching {split} {kind} file is missing"
                )
        images, labels = read_idx(files["images"]), read_idx(files["labels"])
        if images.ndim != 3 or images.dtype != np.uint8:
            raise DatasetError(
                f"{files['images']}: expected uint8 images (N, H, W), "
                f"got {images.dtype} {images.shape}"
            )
        if labels.ndim != 1 or labels.dtype.kind not in "iu":
            raise DatasetError(
                f"{files['labels']}: expected integer labels (N,), "
                f"got {labels.dtype} {labels.shape}"
            )
        if len(images) != len(labels):
            raise DatasetError(
                f"{files['images']} holds {len(images)} images but {files['labels']} holds "
                f"{len(labels)} labels; the files do not belong together"
            )
        if len(labels) and labels.min() < 0:
            raise DatasetError(f"{files['labels']}: negative label {int(labels.min())}")
        out[split] = (images, labels)
    return out


def _default_class_names(path: Path, num_labels: int) -> list[str]:
    if num_labels <= 10 and any("fashion" in part.lower() for part in path.resolve().parts):
        return list(FASHION_MNIST_CLASSES)
    if num_labels <= 10:
        return list(DIGIT_CLASSES)
    return [str(i) for i in range(num_labels)]


def _is_complete(out: Path) -> bool:
    return (out / COMPLETE_MARKER).is_file()


def _write_chunk(images: np.ndarray, labels: np.ndarray, start: int, folders: list[Path]) -> int:
    for offset, (image, label) in enumerate(zip(images, labels, strict=True)):
        target = folders[int(label)] / f"{start + offset:05d}.png"
        Image.fromarray(image, "L").save(target, compress_level=1)
    return len(images)


def export_idx_folder(
    src: Path,
    out: Path,
    *,
    class_names: list[str] | None = None,
    progress: Callable[[int, int], None] | None = None,
    num_threads: int | None = None,
) -> Path:
    """Write an IDX folder as split folders of greyscale PNGs and return ``out``.

    Layout: ``out/train/<class>/<index:05d>.png`` and ``out/test/<class>/...`` (from ``t10k``),
    where ``index`` is the image's position in its IDX file. ``out/.complete`` is written last;
    it holds JSON with the class names in label order and the counts per split. The export is
    built in ``out.tmp-XXXX`` beside ``out`` and renamed, so ``out`` is either absent or whole; an
    ``out`` that is already complete is returned unchanged (nothing is read or written).

    Args:
        src: The IDX folder.
        out: Where the PNG folders go.
        class_names: Folder name for each label; default Fashion-MNIST names when there are at
            most 10 labels and the source path mentions "fashion", else "0".."9" (or "0".."K-1").
        progress: Called as ``progress(done, total)`` while images are written.
        num_threads: Writer threads (default: Python's ThreadPoolExecutor default).

    Raises:
        DatasetError: unreadable IDX data, too few class names, or ``out`` exists, is not empty
            and is not a complete export.
    """
    src, out = Path(src), Path(out)
    if _is_complete(out):
        return out
    if out.exists() and (not out.is_dir() or any(out.iterdir())):
        raise DatasetError(
            f"{out}: exists and is not a complete IDX export (no {COMPLETE_MARKER}); "
            "remove it or choose another output folder"
        )
    splits = load_idx_folder(src)
    num_labels = max(int(labels.max()) + 1 if len(labels) else 0 for _, labels in splits.values())
    names = list(class_names) if class_names is not None else _default_class_names(src, num_labels)
    if len(names) < num_labels:
        raise DatasetError(
            f"{src}: labels go up to {num_labels - 1} but only {len(names)} class names were given"
        )
    if len(set(names)) != len(names) or any(not n or "/" in n or n.startswith(".") for n in names):
        raise DatasetError(f"class names must be distinct, non-empty folder names, got {names}")
    total = sum(len(labels) for _, labels in splits.values())
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = make_temp_dir(out.parent, prefix=f"{out.name}.tmp-")
    try:
        done = 0
        with ThreadPoolExecutor(max_workers=num_threads) as pool:
            futures = []
            for split, (images, labels) in splits.items():
                folders = [tmp / split / name for name in names]
                for folder in folders:
                    folder.mkdir(parents=True)
                for start in range(0, len(labels), _EXPORT_CHUNK):
                    stop = start + _EXPORT_CHUNK
                    futures.append(
                        pool.submit(
                            _write_chunk, images[start:stop], labels[start:stop], start, folders
                        )
                    )
            try:
                for future in as_completed(futures):
                    done += future.result()
                    if progress is not None:
                        progress(done, total)
            except BaseException:
                for future in futures:
                    future.cancel()
                raise
        marker = {
            "source": str(src),
            "classes": names,
            "counts": {split: len(labels) for split, (_, labels) in splits.items()},
        }
        (tmp / COMPLETE_MARKER).write_text(json.dumps(marker, indent=1), encoding="utf-8")
        try:
            if out.is_dir():
                out.rmdir()  # an empty folder the caller made; only empty ones reach here
            tmp.replace(out)
        except OSError:
            if not _is_complete(out):  # another exporter finished first: theirs is as good
                raise
    except OSError as exc:
        raise DatasetError(f"{out}: export failed ({exc})") from exc
    finally:
        if tmp.exists():
            shutil.rmtree(tmp, ignore_errors=True)
    return out
