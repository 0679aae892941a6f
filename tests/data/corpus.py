"""Builders for test datasets and broken inputs, written into tmp dirs (no binaries committed)."""

from __future__ import annotations

import gzip
import hashlib
import io
import stat
import struct
import zipfile
import zlib
from pathlib import Path

import numpy as np
from PIL import Image

__all__ = [
    "bomb_png",
    "cmyk_jpeg",
    "image_bytes",
    "make_imagefolder",
    "noise_image",
    "png16",
    "symlink_zip",
    "text_as_jpg",
    "tree_digest",
    "truncated_jpeg",
    "truncated_png",
    "write_idx",
    "write_zip",
    "zero_byte",
    "zip_bomb",
    "zip_folder",
]


def image_bytes(
    *, size: tuple[int, int] = (12, 10), mode: str = "RGB", seed: int = 0, fmt: str = "PNG"
) -> bytes:
    """Encoded noise image of ``size`` = (W, H); different seeds give different bytes."""
    rng = np.random.default_rng(seed)
    w, h = size
    channels = {"L": 1, "RGB": 3, "RGBA": 4}[mode]
    arr = rng.integers(0, 256, (h, w, channels), dtype=np.uint8)
    img = Image.fromarray(arr[..., 0] if channels == 1 else arr, mode)
    buf = io.BytesIO()
    img.save(buf, format=fmt)
    return buf.getvalue()


def noise_image(
    path: Path, *, size: tuple[int, int] = (12, 10), mode: str = "RGB", seed: int = 0
) -> Path:
    """Write a noise image; the format follows the suffix (.png, .jpg, .bmp...)."""
    fmt = Image.registered_extensions()[path.suffix.lower()]
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(image_bytes(size=size, mode=mode, seed=seed, fmt=fmt))
    return path


def make_imagefolder(
    root: Path,
    counts: dict[str, int],
    *,
    size: tuple[int, int] = (12, 10),
    seed: int = 0,
    suffix: str = ".png",
) -> Path:
    """``root/<class>/<i>.png`` with ``counts[class]`` distinct images each; returns ``root``."""
    n = seed * 10_000
    for name, count in counts.items():
        (root / name).mkdir(parents=True, exist_ok=True)
        for i in range(count):
            noise_image(root / name / f"{i:03d}{suffix}", size=size, seed=n)
            n += 1
    return root


def zero_byte(path: Path) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(b"")
    return path


def truncated_jpeg(path: Path) -> Path:
    data = image_bytes(size=(64, 64), fmt="JPEG", seed=7)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data[: len(data) // 2])
    return path


def truncated_png(path: Path) -> Path:
    data = image_bytes(size=(64, 64), fmt="PNG", seed=8)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data[: len(data) // 2])
    return path


def text_as_jpg(path: Path) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("this is not a picture\n")
    return path


def bomb_png(path: Path, *, width: int = 30_000, height: int = 30_000) -> Path:
    """A small PNG whose IHDR claims ``width`` x ``height`` pixels (CRC fixed up)."""
    data = bytearray(image_bytes(size=(8, 8), fmt="PNG", seed=9))
    # signature (8) + length (4) + b"IHDR" (4), then width, height, ...; CRC after 13 bytes.
    assert data[12:16] == b"IHDR"
    data[16:24] = struct.pack(">II", width, height)
    data[29:33] = struct.pack(">I", zlib.crc32(bytes(data[12:29])) & 0xFFFFFFFF)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(bytes(data))
    return path


def cmyk_jpeg(path: Path) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.new("CMYK", (12, 10), (10, 200, 30, 5)).save(path, format="JPEG")
    return path


def png16(path: Path) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    arr = (np.arange(120, dtype=np.uint16).reshape(10, 12) * 500).astype(np.uint16)
    Image.fromarray(arr).save(path, format="PNG")
    return path


def write_zip(path: Path, entries: list[tuple[str | zipfile.ZipInfo, bytes]]) -> Path:
    """A zip with the given (name or ZipInfo, data) entries written verbatim (no sanitising)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with zipfile.ZipFile(path, "w", compression=zipfile.ZIP_DEFLATED) as zf:
        for name, data in entries:
            info = name if isinstance(name, zipfile.ZipInfo) else zipfile.ZipInfo(name)
            info.compress_type = zipfile.ZIP_DEFLATED
            zf.writestr(info, data)
    return path


def zip_folder(folder: Path, path: Path, *, prefix: str = "") -> Path:
    """Zip every file under ``folder`` (entries ``prefix`` + relative path)."""
    files = sorted(p for p in folder.rglob("*") if p.is_file())
    return write_zip(
        path, [(prefix + p.relative_to(folder).as_posix(), p.read_bytes()) for p in files]
    )


def symlink_zip(
    path: Path, *, link_name: str = "cat/link.png", link_target: str = "/etc/passwd"
) -> Path:
    info = zipfile.ZipInfo(link_name)
    info.external_attr = (stat.S_IFLNK | 0o777) << 16
    return write_zip(path, [("cat/ok.png", image_bytes(seed=1)), (info, link_target.encode())])


def zip_bomb(path: Path, *, size: int = 4 * 1024**2) -> Path:
    """One entry of ``size`` zero bytes: compresses about 1000:1."""
    return write_zip(path, [("cat/a.png", image_bytes(seed=2)), ("cat/bomb.bmp", bytes(size))])


def tree_digest(root: Path) -> dict[str, str]:
    """Relative path -> sha256 (files), "dir" (folders), "link" (symlinks) for a whole tree."""
    out: dict[str, str] = {}
    for p in sorted(root.rglob("*")):
        rel = p.relative_to(root).as_posix()
        if p.is_symlink():
            out[rel] = "link"
        elif p.is_dir():
            out[rel] = "dir"
        else:
            out[rel] = hashlib.sha256(p.read_bytes()).hexdigest()
    return out


def write_idx(path: Path, array: np.ndarray) -> Path:
    """Write a uint8 array as a gzip IDX file (magic 0x0000 08 <ndim>, big-endian dims)."""
    arr = np.ascontiguousarray(array, dtype=np.uint8)
    header = struct.pack(">HBB", 0, 0x08, arr.ndim) + struct.pack(f">{arr.ndim}I", *arr.shape)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(gzip.compress(header + arr.tobytes(), mtime=0))
    return path
