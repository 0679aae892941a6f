"""Opening what a user hands a predictor: one path for classifiers, detectors and the zoo.

>>> open_input("photo.jpg").mode, open_input(np.zeros((4, 6), np.uint8)).size
('RGB', (6, 4))

Accepted: a file path, a PIL image, a numpy array ``(H, W)`` / ``(H, W, 1|3|4)``, a torch
tensor ``(H, W)`` / ``(C, H, W)`` with ``C`` 1, 3 or 4 (torchvision's layout: floats in [0, 1],
integers in [0, 255]), or the encoded bytes of an image file. Every one comes out as an 8-bit
RGB PIL image as :mod:`imgrec.data.images` makes them for training: EXIF orientation applied,
any mode converted, transparency composited on white. In-memory images get the pixel limit that
files get (Pillow's decompression-bomb guard, moved by ``IMGREC_MAX_IMAGE_PIXELS``; above Pillow's
limit an accepted image comes out reduced: :func:`imgrec.data.images.check_pixels`). Anything
unusable raises one :class:`DatasetError` whose message starts with the file (or ``<ndarray>``,
``<bytes>``, ...) and says why.
"""

from __future__ import annotations

import io
from pathlib import Path
from typing import Any

import numpy as np
import torch
from PIL import Image, ImageOps, UnidentifiedImageError

from imgrec.data.images import (
    bomb_error,
    check_pixels,
    decode_error,
    decode_reduced,
    load_rgb,
    open_quietly,
    to_rgb,
)
from imgrec.errors import DatasetError

__all__ = ["ImageInput", "image_tensor", "input_name", "open_input"]

ImageInput = str | Path | Image.Image | np.ndarray | torch.Tensor | bytes
_CHANNELS = (1, 3, 4)


def input_name(image: Any) -> str:
    """How results and errors name an input: the path, else ``<ndarray>``, ``<Image>``, ..."""
    return str(image) if isinstance(image, str | Path) else f"<{type(image).__name__}>"


def open_input(image: ImageInput) -> Image.Image:
    """``image`` as an EXIF-oriented 8-bit RGB PIL image (see the module docstring).

    Raises:
        DatasetError: no such file, a folder, zero bytes, not an image, truncated, too large in
            pixels, an array or tensor of another shape, or a type that is not an image.
    """
    if isinstance(image, str | Path):
        return _open_path(Path(image))
    name = input_name(image)
    if isinstance(image, bytes | bytearray | memoryview):
        return _open_pil(_decode(bytes(image), name), name)
    if isinstance(image, Image.Image):
        return _open_pil(image, getattr(image, "filename", "") or name)
    if isinstance(image, torch.Tensor):
        return _from_array(_tensor_to_array(image, name), name)
    if isinstance(image, np.ndarray):
        return _from_array(image, name)
    raise DatasetError(
        f"{name}: cannot read an image from {type(image).__name__}; pass a file path, a PIL "
        "image, a numpy array, a torch tensor or the bytes of an image file."
    )


def image_tensor(image: Image.Image) -> torch.Tensor:
    """An RGB PIL image as the float ``(3, H, W)`` tensor in [0, 1] that detectors take."""
    return torch.from_numpy(np.array(image, dtype=np.uint8)).permute(2, 0, 1).float() / 255


def _open_path(path: Path) -> Image.Image:
    if not path.exists():
        raise DatasetError(f"{path}: no such file")
    if path.is_dir():
        raise DatasetError(f"{path}: a folder, not an image file (pass the images in it)")
    return load_rgb(path)


def _decode(data: bytes, name: str) -> Image.Image:
    """Encoded image bytes, opened (decoding happens in :func:`_open_pil`)."""
    if not data:
        raise DatasetError(f"{name}: zero bytes")
    try:
        return open_quietly(io.BytesIO(data))
    except UnidentifiedImageError as exc:
        raise DatasetError(f"{name}: not an image (Pillow cannot identify it)") from exc
    except Image.DecompressionBombError as exc:
        raise bomb_error(name, exc) from exc
    except (OSError, SyntaxError, ValueError) as exc:
        raise DatasetError(f"{name}: unreadable ({exc})") from exc


def _open_pil(image: Image.Image, name: str) -> Image.Image:
    """Decode a (possibly lazily opened) PIL image, apply its EXIF orientation, make it RGB
    (reduced when :func:`check_pixels` says so; ``image`` itself is not changed)."""
    reduce = check_pixels(name, *image.size)
    try:
        # A lazily opened file decodes here: truncation shows up now.
        decoded = decode_reduced(image) if reduce else image
        decoded.load()
        return to_rgb(ImageOps.exif_transpose(decoded))
    except Image.DecompressionBombError as exc:
        raise bomb_error(name, exc) from exc
    except (OSError, SyntaxError, ValueError) as exc:
        raise decode_error(name, exc) from exc


def _tensor_to_array(image: torch.Tensor, name: str) -> np.ndarray:
    """torchvision's ``(C, H, W)`` / ``(H, W)`` layout -> a uint8 ``(H, W, C)`` array."""
    if image.ndim == 3 and image.shape[0] in _CHANNELS:
        image = image.permute(1, 2, 0)
    elif image.ndim != 2:
        raise DatasetError(
            f"{name}: a tensor image must be (H, W) or (C, H, W) with C = 1, 3 or 4 (torchvision's "
            f"layout), got {tuple(image.shape)}"
        )
    t = image.detach().cpu()
    if t.is_floating_point():
        t = (t.nan_to_num(0.0).clamp(0.0, 1.0) * 255.0).round()
    return t.clamp(0, 255).to(torch.uint8).numpy()


def _from_array(image: np.ndarray, name: str) -> Image.Image:
    if image.ndim == 2:
        image = image[..., None]
    if image.ndim != 3 or image.shape[-1] not in _CHANNELS:
        raise DatasetError(
            f"{name}: array image must be (H, W), (H, W, 1), (H, W, 3) or (H, W, 4), got "
            f"{image.shape}"
        )
    reduce = check_pixels(name, int(image.shape[1]), int(image.shape[0]))
    if image.dtype != np.uint8:  # values are taken as 0-255 (clipped), as Pillow reads them
        image = np.clip(np.nan_to_num(image.astype(np.float64)), 0, 255).astype(np.uint8)
    pixels = image[..., 0] if image.shape[-1] == 1 else image  # Pillow: L, RGB or RGBA
    picture = Image.fromarray(np.ascontiguousarray(pixels))
    return to_rgb(decode_reduced(picture) if reduce else picture)
