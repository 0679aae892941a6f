"""Decoded-image cache: decode and resize a dataset once, then memory-map it every epoch.

:func:`decode_to_array` turns samples into one uint8 array ``(N, H, W, 3)`` in sample order, using
the same :func:`~imgrec.data.images.load_rgb` / :func:`~imgrec.data.images.resize_rgb` path as
prediction. With a ``cache_dir`` the array is kept as ``<cache_dir>/<key>.npy``, where the key
hashes the pixel recipe (size, resize mode, interpolation) and every sample's content hash: the
same images at the same size hit the cache from any process, and a changed image, size or mode
never returns stale pixels.

Memory and disk: ``N * H * W * 3`` bytes (70,000 images at 28x28: 165 MB; 50,000 at 224x224:
7.5 GB). A cached array is memory-mapped read-only, so only the pages touched are in RAM and
processes reading the same file share them; building one writes straight into the memory-mapped
temporary file, so peak memory stays small too.
"""

from __future__ import annotations

import hashlib
import json
import math
import re
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor, as_completed
from pathlib import Path
from typing import Literal, cast

import numpy as np

from imgrec._files import atomic_path
from imgrec.data import images
from imgrec.data.manifest import Sample
from imgrec.errors import DatasetError

__all__ = [
    "CACHE_FORMAT_VERSION",
    "cache_key",
    "cache_size_bytes",
    "clear_cache",
    "decode_to_array",
]

CACHE_FORMAT_VERSION = 1
# A cache file, or an unfinished temporary of one: ``.<key>.npy.<hex>.tmp`` (imgrec._files) or
# ``<key>.npy.tmp-*`` (left by versions before it).
_ENTRY = re.compile(r"^(?:[0-9a-f]{64}\.npy(?:\.tmp-.*)?|\.[0-9a-f]{64}\.npy\.[0-9a-f]+\.tmp)$")
_CHUNK = 64  # images per decode task: few enough futures, fine-grained progress
ResizeMode = Literal["squash", "crop"]
Interpolation = Literal["bilinear", "bicubic", "nearest"]


def cache_key(
    samples: Sequence[Sample],
    *,
    size: tuple[int, int],
    resize_mode: ResizeMode = "squash",
    interpolation: str = "bilinear",
) -> str:
    """The hex sha256 naming the cache file of ``samples`` decoded with this recipe."""
    digest = hashlib.sha256()
    recipe = [CACHE_FORMAT_VERSION, list(size), resize_mode, interpolation, len(samples)]
    digest.update(json.dumps(recipe).encode())
    for sample in samples:
        digest.update(sample.sha256.encode() + b"\n")
    return digest.hexdigest()


def _decode_into(
    out: np.ndarray,
    samples: Sequence[Sample],
    start: int,
    *,
    size: tuple[int, int],
    resize_mode: ResizeMode,
    interpolation: Interpolation,
) -> int:
    for offset, sample in enumerate(samples):
        try:
            img = images.load_rgb(sample.path)
        except DatasetError as exc:
            raise DatasetError(
                f"{exc}; sample {start + offset} was readable when the dataset was ingested, "
                "so the file changed since: restore it or ingest the dataset again"
            ) from exc
        out[start + offset] = images.resize_rgb(
            img,
            size,
            mode=resize_mode,
            interpolation=interpolation,
        )
    return len(samples)


def _decode_all(
    out: np.ndarray,
    samples: Sequence[Sample],
    *,
    size: tuple[int, int],
    resize_mode: ResizeMode,
    interpolation: Interpolation,
    num_threads: int | None,
    progress: Callable[[int, int], None] | None,
) -> None:
    total, done = len(samples), 0
    with ThreadPoolExecutor(max_workers=num_threads) as pool:
        futures = [
            pool.submit(
                _decode_into,
                out,
                samples[start : start + _CHUNK],
                start,
                size=size,
                resize_mode=resize_mode,
                interpolation=interpolation,
            )
            for start in range(0, total, _CHUNK)
        ]
        try:
            for future in as_completed(futures):
                done += future.result()
                if progress is not None:
                    progress(done, total)
        except BaseException:
            for future in futures:
                future.cancel()
            raise


def _load_cached(path: Path, shape: tuple[int, ...]) -> np.ndarray | None:
    """The cached array at ``path`` if it is whole and of ``shape``/uint8, else None."""
    try:
        arr = np.load(path, mmap_mode="r", allow_pickle=False)
    except (OSError, ValueError, EOFError):  # missing, truncated, not .npy, or a pickle
        return None
    if not isinstance(arr, np.ndarray) or arr.shape != shape or arr.dtype != np.uint8:
        return None
    return arr


def decode_to_array(
    samples: Sequence[Sample],
    *,
    size: tuple[int, int],
    resize_mode: ResizeMode = "squash",
    interpolation: str = "bilinear",
    cache_dir: Path | None,
    num_threads: int | None = None,
    progress: Callable[[int, int], None] | None = None,
) -> np.ndarray:
    """Decode and resize every sample, through the on-disk cache when ``cache_dir`` is given.

    Args:
        samples: The images, in the order wanted.
        size: ``(H, W)`` of the output pixels.
        resize_mode: ``"squash"`` (stretch) or ``"crop"`` (shorter side to size, centre crop).
        interpolation: ``"bilinear"``, ``"bicubic"`` or ``"nearest"``.
        cache_dir: Folder of cache files (created when missing); ``None`` decodes in memory.
        num_threads: Decoding threads (default: Python's ThreadPoolExecutor default).
        progress: Called as ``progress(done, total)`` while decoding (once with
            ``(N, N)`` on a cache hit).

    Returns:
        uint8 ``(N, H, W, 3)`` in sample order; ``N * H * W * 3`` bytes. From the cache it is a
        read-only memory map; copy a batch before changing it in place.

    Raises:
        DatasetError: a sample's file can no longer be decoded (the message names it).
        ValueError: an unknown resize mode or interpolation, or a size that is not positive.
    """
    height, width = (int(size[0]), int(size[1]))
    if height < 1 or width < 1:
        raise ValueError(f"size must be positive (H, W), got {size}")
    if resize_mode not in ("squash", "crop"):
        raise ValueError(f"resize_mode must be 'squash' or 'crop', got {resize_mode!r}")
    if interpolation not in ("bilinear", "bicubic", "nearest"):
        raise ValueError(
            f"interpolation must be 'bilinear', 'bicubic' or 'nearest', got {interpolation!r}"
        )
    shape = (len(samples), height, width, 3)
    interp = cast(Interpolation, interpolation)

    def decode(out: np.ndarray) -> None:
        _decode_all(
            out,
            samples,
            size=(height, width),
            resize_mode=resize_mode,
            interpolation=interp,
            num_threads=num_threads,
            progress=progress,
        )

    if cache_dir is None or not samples:
        out = np.empty(shape, dtype=np.uint8)
        decode(out)
        return out

    cache_dir = Path(cache_dir)
    key = cache_key(
        samples, size=(height, width), resize_mode=resize_mode, interpolation=interpolation
    )
    path = cache_dir / f"{key}.npy"
    cached = _load_cached(path, shape)
    if cached is not None:
        if progress is not None:
            progress(len(samples), len(samples))
        return cached

    try:
        with atomic_path(path) as tmp:
            out = np.lib.format.open_memmap(tmp, mode="w+", dtype=np.uint8, shape=shape)
            decode(out)
            out.flush()
            del out
    except OSError as exc:
        raise DatasetError(
            f"{cache_dir}: cannot write the decoded-image cache ({exc.strerror or exc}); "
            f"it needs {math.prod(shape)} bytes: free space, or choose another cache folder"
        ) from exc
    result = _load_cached(path, shape)
    if result is None:  # another process replaced it between our rename and this read
        raise DatasetError(f"{path}: cache file unreadable right after writing it; run again")
    return result


def _entries(cache_dir: Path) -> list[Path]:
    try:
        return [p for p in Path(cache_dir).iterdir() if p.is_file() and _ENTRY.match(p.name)]
    except FileNotFoundError:
        return []


def cache_size_bytes(cache_dir: Path) -> int:
    """Bytes used by cache files (and unfinished temporaries) in ``cache_dir``."""
    return sum(p.stat().st_size for p in _entries(cache_dir))


def clear_cache(cache_dir: Path) -> int:
    """Delete the cache files in ``cache_dir`` (other files are left alone); return how many."""
    removed = 0
    for p in _entries(cache_dir):
        try:
            p.unlink()
        except FileNotFoundError:  # another process removed it first
            continue
        removed += 1
    return removed
