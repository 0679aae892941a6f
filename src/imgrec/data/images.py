"""Decoding one image safely, and turning it into the network's pixel grid.

One code path for training cache, validation and prediction, so an image looks the same to the
model everywhere: EXIF orientation applied, every mode (L, LA, P, RGBA, CMYK, I;16, I, F) turned
into 8-bit RGB, transparency composited on white. Pillow's decompression-bomb guard stays on.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

import numpy as np
from PIL import ExifTags, Image, ImageOps, UnidentifiedImageError

from imgrec.errors import DatasetError

__all__ = [
    "IMAGE_EXTENSIONS",
    "ImageInfo",
    "decode_error",
    "is_image_name",
    "load_rgb",
    "probe_image",
    "resize_rgb",
    "to_rgb",
]


def decode_error(name: object, exc: BaseException) -> DatasetError:
    """The error for an image Pillow failed to decode: truncated, or otherwise unreadable."""
    text = str(exc)
    if "truncated" in text.lower() or "broken data stream" in text.lower():
        return DatasetError(f"{name}: truncated ({text})")
    return DatasetError(f"{name}: unreadable ({text})")


IMAGE_EXTENSIONS = frozenset(
    {".jpg", ".jpeg", ".png", ".bmp", ".gif", ".tif", ".tiff", ".webp", ".ppm", ".pgm", ".pbm"}
)
_SWAPS_SIDES = frozenset({5, 6, 7, 8})  # EXIF orientations that transpose (exif_transpose)
_RESAMPLE = {
    "bilinear": Image.Resampling.BILINEAR,
    "bicubic": Image.Resampling.BICUBIC,
    "nearest": Image.Resampling.NEAREST,
}


@dataclass(frozen=True)
class ImageInfo:
    """What decoding an image told us: size after EXIF rotation and the original mode."""

    width: int
    height: int
    mode: str
    format: str | None


def is_image_name(path: Path) -> bool:
    """True for a file name with an image extension that is not hidden."""
    return path.suffix.lower() in IMAGE_EXTENSIONS and not path.name.startswith(".")


@contextmanager
def _opened(path: Path) -> Iterator[Image.Image]:
    """Open ``path`` for decoding; Pillow's errors inside the block become DatasetErrors.

    Raises:
        DatasetError: with a short reason: zero bytes, not an image, truncated, too large in
            pixels (decompression-bomb guard), or unreadable.
    """
    try:
        size = path.stat().st_size
    except OSError as exc:
        raise DatasetError(f"{path}: unreadable ({exc.strerror or exc})") from exc
    if size == 0:
        raise DatasetError(f"{path}: zero bytes")
    try:
        # Pillow only warns between 1x and 2x MAX_IMAGE_PIXELS; the explicit check refuses that
        # band too. (No warnings.catch_warnings here: filters are process-global, not per thread.)
        with Image.open(path) as img:
            limit = Image.MAX_IMAGE_PIXELS
            if limit and img.width * img.height > limit:
                raise Image.DecompressionBombError(
                    f"{img.width}x{img.height} = {img.width * img.height} pixels exceeds the "
                    f"limit of {limit} pixels"
                )
            yield img
    except (Image.DecompressionBombError, Image.DecompressionBombWarning) as exc:
        raise DatasetError(f"{path}: too large in pixels ({exc})") from exc
    except UnidentifiedImageError as exc:
        raise DatasetError(f"{path}: not an image (Pillow cannot identify it)") from exc
    except (OSError, SyntaxError, ValueError) as exc:
        raise decode_error(path, exc) from exc


def _open_decoded(path: Path) -> tuple[Image.Image, str, str | None]:
    """Open and fully decode ``path``; return (EXIF-transposed image, original mode, format).

    Raises:
        DatasetError: as :func:`_opened`.
    """
    with _opened(path) as img:
        img.load()
        mode, fmt = img.mode, img.format
        oriented = ImageOps.exif_transpose(img)
        if oriented is img:
            oriented = img.copy()
        return oriented, mode, fmt


def probe_image(path: str | Path) -> ImageInfo:
    """Decode ``path`` completely (to catch truncation) and report its size and mode.

    Every byte of the file is decoded; a JPEG at 1/8 scale (``Image.draft``: libjpeg still
    entropy-decodes the whole stream, so a truncated or corrupt one fails as at full size, but
    skips most of the inverse DCT and colour conversion). The size is the full one after EXIF
    orientation. This relies on ``ImageFile.LOAD_TRUNCATED_IMAGES`` staying False (the default;
    imgrec never sets it): with it on, Pillow pads a truncated image instead of failing.

    Raises:
        DatasetError: the image cannot be used; the message starts with the path and a reason.
    """
    path = Path(path)
    with _opened(path) as img:
        width, height = img.size
        if img.format == "JPEG":
            img.draft(None, (1, 1))  # the largest DCT scale-down (1/8); mode unchanged
        img.load()
        orientation = img.getexif().get(ExifTags.Base.Orientation, 1)
        if orientation in _SWAPS_SIDES:
            width, height = height, width
        return ImageInfo(width=width, height=height, mode=img.mode, format=img.format)


def to_rgb(img: Image.Image) -> Image.Image:
    """Convert any Pillow mode to 8-bit RGB (16-bit and float rescaled, alpha onto white)."""
    if img.mode == "RGB":
        return img
    if img.mode in {"I;16", "I;16B", "I;16L", "I", "F"}:
        arr = np.asarray(img, dtype=np.float64)
        lo, hi = float(arr.min()), float(arr.max())
        if img.mode.startswith("I;16"):
            lo, hi = 0.0, 65535.0
        scaled = np.zeros_like(arr) if hi <= lo else (arr - lo) * (255.0 / (hi - lo))
        return Image.fromarray(np.clip(scaled, 0, 255).astype(np.uint8), "L").convert("RGB")
    if img.mode == "P" and "transparency" in img.info:
        img = img.convert("RGBA")
    if img.mode in {"RGBA", "LA", "PA", "La", "RGBa"}:
        rgba = img.convert("RGBA")
        background = Image.new("RGBA", rgba.size, (255, 255, 255, 255))
        return Image.alpha_composite(background, rgba).convert("RGB")
    return img.convert("RGB")


def load_rgb(path: str | Path) -> Image.Image:
    """Decode ``path`` to an EXIF-oriented 8-bit RGB image.

    Raises:
        DatasetError: the file is empty, not an image, truncated, too large or unreadable.
    """
    img, _, _ = _open_decoded(Path(path))
    return to_rgb(img)


def resize_rgb(
    img: Image.Image,
    size: tuple[int, int],
    *,
    mode: Literal["squash", "crop"] = "squash",
    interpolation: Literal["bilinear", "bicubic", "nearest"] = "bilinear",
) -> np.ndarray:
    """Resize an RGB image to ``size`` = ``(H, W)`` and return a uint8 array ``(H, W, 3)``.

    ``"squash"`` stretches the whole image to the size; ``"crop"`` scales the shorter side to fit
    and cuts the centre.
    """
    height, width = size
    resample = _RESAMPLE[interpolation]
    if mode == "crop":
        img = ImageOps.fit(img, (width, height), method=resample)
    elif img.size != (width, height):
        img = img.resize((width, height), resample=resample, reducing_gap=3.0)
    arr = np.asarray(to_rgb(img), dtype=np.uint8)
    return np.ascontiguousarray(arr)
