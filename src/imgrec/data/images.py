"""Decoding one image safely, and turning it into the network's pixel grid.

One code path for training cache, validation and prediction, so an image looks the same to the
model everywhere: EXIF orientation applied, every mode (L, LA, P, RGBA, CMYK, I;16, I, F) turned
into 8-bit RGB, transparency composited on white. Pillow's decompression-bomb guard stays on.

The pixel limit is Pillow's (``PIL.Image.MAX_IMAGE_PIXELS``, 89,478,485 by default), checked by
imgrec itself so that the band Pillow only warns about (up to twice the limit) is refused too,
with a message that names the file. ``IMGREC_MAX_IMAGE_PIXELS`` (:class:`imgrec.config.Settings`)
or :func:`set_max_image_pixels` moves it, up to Pillow's hard limit (twice its limit, which no
setting lifts); an image above Pillow's limit is then decoded reduced, at most
:data:`REDUCED_SIDE` pixels on its longer side (a JPEG through libjpeg's DCT scaling, never at
full size), so memory stays bounded. Pillow's ``DecompressionBombWarning`` never reaches the user.
"""

from __future__ import annotations

import io
import re
import threading
import warnings
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
    "REDUCED_SIDE",
    "ImageInfo",
    "bomb_error",
    "check_pixels",
    "decode_error",
    "decode_reduced",
    "is_image_name",
    "load_rgb",
    "open_quietly",
    "pixel_limits",
    "probe_image",
    "resize_rgb",
    "set_max_image_pixels",
    "to_rgb",
]

REDUCED_SIDE = 4096
"""Longer side, in pixels, of an image decoded above Pillow's limit (see the module docstring)."""


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


@dataclass
class _Override:
    """``IMGREC_MAX_IMAGE_PIXELS``: read from :class:`~imgrec.config.Settings` on first use."""

    known: bool = False
    value: int | None = None


_OVERRIDE = _Override()
_OPEN_LOCK = threading.Lock()


def set_max_image_pixels(limit: int | None) -> None:
    """Accept images of up to ``limit`` pixels in this process, as ``IMGREC_MAX_IMAGE_PIXELS``
    does (``None``: Pillow's limit). Worker processes that are spawned, not forked, read the
    environment variable instead.

    Raises:
        ValueError: ``limit`` is not positive.
    """
    if limit is not None and limit <= 0:
        raise ValueError(f"the pixel limit must be positive, got {limit}")
    _OVERRIDE.known, _OVERRIDE.value = True, limit


def _override() -> int | None:
    if not _OVERRIDE.known:
        from imgrec.config import Settings  # here: importing pydantic-settings is not free

        _OVERRIDE.known, _OVERRIDE.value = True, Settings().max_image_pixels
    return _OVERRIDE.value


def pixel_limits() -> tuple[int | None, int | None]:
    """``(full, most)``: images of up to ``full`` pixels decode at full size, up to ``most``
    reduced (:func:`decode_reduced`), larger ones are refused; ``None`` is no limit.

    ``full`` is Pillow's ``MAX_IMAGE_PIXELS``; ``most`` the override (``IMGREC_MAX_IMAGE_PIXELS``
    or :func:`set_max_image_pixels`) capped at twice Pillow's limit, where Pillow itself refuses.
    An override below Pillow's limit lowers both.
    """
    pillow = Image.MAX_IMAGE_PIXELS
    wanted = _override()
    if pillow is None:
        return wanted, wanted
    if wanted is None:
        return pillow, pillow
    return min(pillow, wanted), min(wanted, 2 * pillow)


def _too_large(name: object, pixels: int, limit: int, size: str = "") -> str:
    pillow = Image.MAX_IMAGE_PIXELS
    if pillow is not None and pixels > 2 * pillow:
        how = (
            f"that is past Pillow's hard limit of {2 * pillow} pixels (twice "
            "PIL.Image.MAX_IMAGE_PIXELS), which IMGREC_MAX_IMAGE_PIXELS cannot lift: downscale "
            "the image first"
        )
    else:
        reduced = (
            f" (decoded reduced, at most {REDUCED_SIDE} px on its longer side)"
            if pillow is not None and pixels > pillow
            else ""
        )
        how = f"set IMGREC_MAX_IMAGE_PIXELS={pixels} or more to accept it{reduced}, or downscale it"
    shown = f"{size} = {pixels}" if size else str(pixels)
    return f"{name}: too large in pixels ({shown} exceeds the limit of {limit}); {how}."


def check_pixels(name: object, width: int, height: int) -> bool:
    """Refuse an image above the pixel limit; True when it is to be decoded reduced.

    Raises:
        DatasetError: the image has more pixels than :func:`pixel_limits` accepts; the message
            names it, its pixel count, the limit and the setting that accepts it.
    """
    full, most = pixel_limits()
    pixels = width * height
    if most is not None and pixels > most:
        raise DatasetError(_too_large(name, pixels, most, f"{width}x{height}"))
    return full is not None and pixels > full


def bomb_error(name: object, exc: Image.DecompressionBombError) -> DatasetError:
    """Pillow's own refusal (past twice its limit) in imgrec's words."""
    found = re.search(r"\((\d+) pixels\)", str(exc))
    pixels = int(found.group(1)) if found else 0
    _, most = pixel_limits()
    if not pixels or most is None:
        return DatasetError(f"{name}: too large in pixels ({exc})")
    return DatasetError(_too_large(name, pixels, most))


def open_quietly(source: str | Path | io.BytesIO) -> Image.Image:
    """``Image.open`` without Pillow's ``DecompressionBombWarning``: callers check the size with
    :func:`check_pixels`, which refuses that band in its own words.

    Warning filters are process-wide, so ``catch_warnings`` is held, under a lock, only for the
    header read ``Image.open`` does (a lock, so that imgrec's threads never restore each other's
    filters); the decoding happens outside it.

    Raises:
        DecompressionBombError, UnidentifiedImageError, OSError...: as ``Image.open``.
    """
    with _OPEN_LOCK, warnings.catch_warnings():
        warnings.simplefilter("ignore", Image.DecompressionBombWarning)
        return Image.open(source)


def _reduced_size(width: int, height: int) -> tuple[int, int]:
    scale = REDUCED_SIDE / max(width, height)
    return max(1, round(width * scale)), max(1, round(height * scale))


def decode_reduced(img: Image.Image) -> Image.Image:
    """``img`` decoded at most :data:`REDUCED_SIDE` pixels on its longer side, aspect kept.

    A JPEG not decoded yet goes through ``Image.draft`` (libjpeg decodes it at 1/2, 1/4 or 1/8
    scale, never at full size); any other image is decoded and at once resized. ``img`` itself
    is left as it is apart from being decoded (a copy comes back when it has to shrink).
    """
    if max(img.size) <= REDUCED_SIDE:
        img.load()
        return img
    if getattr(img, "tile", None):  # not decoded yet; draft does nothing but for JPEG and MPO
        img.draft(None, _reduced_size(*img.size))
    img.load()
    if max(img.size) <= REDUCED_SIDE:
        return img
    return img.resize(_reduced_size(*img.size), Image.Resampling.BICUBIC, reducing_gap=3.0)


def is_image_name(path: Path) -> bool:
    """True for a file name with an image extension that is not hidden."""
    return path.suffix.lower() in IMAGE_EXTENSIONS and not path.name.startswith(".")


@contextmanager
def _opened(path: Path) -> Iterator[tuple[Image.Image, bool]]:
    """Open ``path`` for decoding, and whether to decode it reduced (:func:`check_pixels`);
    Pillow's errors inside the block become DatasetErrors.

    Raises:
        DatasetError: with a short reason: zero bytes, not an image, truncated, too large in
            pixels (:func:`check_pixels`), or unreadable.
    """
    try:
        size = path.stat().st_size
    except OSError as exc:
        raise DatasetError(f"{path}: unreadable ({exc.strerror or exc})") from exc
    if size == 0:
        raise DatasetError(f"{path}: zero bytes")
    try:
        # Pillow only warns between 1x and 2x MAX_IMAGE_PIXELS: check_pixels decides that band
        # (refused, or decoded reduced when IMGREC_MAX_IMAGE_PIXELS allows it).
        with open_quietly(path) as img:
            yield img, check_pixels(path, img.width, img.height)
    except Image.DecompressionBombError as exc:
        raise bomb_error(path, exc) from exc
    except UnidentifiedImageError as exc:
        raise DatasetError(f"{path}: not an image (Pillow cannot identify it)") from exc
    except (OSError, SyntaxError, ValueError) as exc:
        raise decode_error(path, exc) from exc


def _open_decoded(path: Path) -> tuple[Image.Image, str, str | None]:
    """Open and fully decode ``path`` (reduced above Pillow's limit); return (EXIF-transposed
    image, original mode, format).

    Raises:
        DatasetError: as :func:`_opened`.
    """
    with _opened(path) as (img, reduce):
        mode, fmt = img.mode, img.format
        decoded = decode_reduced(img) if reduce else img
        decoded.load()
        oriented = ImageOps.exif_transpose(decoded)
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
    with _opened(path) as (img, _):
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
