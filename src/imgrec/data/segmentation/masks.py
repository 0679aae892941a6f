"""Decoding mask files and turning their values into class indices.

A mask file is decoded as it is stored, never converted through a colour space: ``L``, ``P``
(the palette *indices* are the values; the palette itself is ignored), ``1``, ``I;16`` and
``I`` give values ``(H, W)``; ``RGB`` (and ``RGBA``, alpha dropped) give colours ``(H, W, 3)``.
Masks get no EXIF rotation (mask tools write none); the reader checks each mask's size against
its image as displayed.

:func:`load_mask` applies the dataset's rules: an index value below ``len(classes)`` is that
class; ``ignore_index`` stays ignore, except in a 0/255 binary set (``binary_255``) where 255 is
class 1; any other value, and any colour not in the palette, reads as ``ignore_index`` (the
reader reported those, with the file and the pixel count).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
from PIL import Image, UnidentifiedImageError

from imgrec.data.images import bomb_error, check_pixels, decode_error, open_quietly
from imgrec.data.segmentation.model import MaskEncoding, SegmentationDataset, SegmentationImage
from imgrec.errors import DatasetError

__all__ = [
    "class_lut",
    "colour_key",
    "colour_table",
    "decode_mask",
    "load_mask",
    "to_classes",
    "value_counts",
]

_INDEX_MODES = frozenset({"L", "P", "1", "I;16", "I;16L", "I;16B", "I"})
_COLOUR_MODES = frozenset({"RGB", "RGBA", "RGBX"})
_WITH_ALPHA = frozenset({"LA", "PA"})


def decode_mask(path: Path) -> np.ndarray:
    """Decode a mask file completely: values ``(H, W)`` or RGB colours ``uint8 (H, W, 3)``.

    Raises:
        DatasetError: the file is missing, empty, truncated, not an image, too large in pixels
            (:func:`~imgrec.data.images.check_pixels`; a mask is never decoded reduced), or in a
            mode that cannot hold class values (``F``, ``CMYK``, ``YCbCr``...).
    """
    path = Path(path)
    try:
        with open_quietly(path) as img:
            check_pixels(path, *img.size)  # never reduced: a mask's pixels are its classes
            img.load()
            mode = img.mode
            arr = np.asarray(img)
    except FileNotFoundError as exc:
        raise DatasetError(f"{path}: mask file not found") from exc
    except Image.DecompressionBombError as exc:
        raise bomb_error(path, exc) from exc
    except UnidentifiedImageError as exc:
        raise DatasetError(f"{path}: not an image (Pillow cannot identify it)") from exc
    except (OSError, SyntaxError, ValueError) as exc:
        raise decode_error(path, exc) from exc
    if mode in _INDEX_MODES:
        return arr.astype(np.uint8) if mode == "1" else arr
    if mode in _WITH_ALPHA:
        return arr[..., 0]
    if mode in _COLOUR_MODES:
        return np.ascontiguousarray(arr[..., :3])
    raise DatasetError(
        f"{path}: mask mode {mode} cannot hold class values; save masks as 8-bit grey (L), "
        "palette (P) or RGB PNGs"
    )


def colour_key(rgb: np.ndarray) -> np.ndarray:
    """RGB ``uint8 (..., 3)`` -> one ``int64`` per colour (``r << 16 | g << 8 | b``)."""
    c = rgb.astype(np.int64)
    return (c[..., 0] << 16) | (c[..., 1] << 8) | c[..., 2]


def value_counts(values: np.ndarray) -> dict[int, int]:
    """``{value: pixels}`` of an index mask ``(H, W)``, or ``{colour key: pixels}`` of RGB."""
    flat = colour_key(values).ravel() if values.ndim == 3 else values.ravel()
    if flat.dtype == np.uint8:
        counts = np.bincount(flat, minlength=256)
        return {int(v): int(counts[v]) for v in np.flatnonzero(counts)}
    keys, counts = np.unique(flat, return_counts=True)
    return {int(k): int(n) for k, n in zip(keys, counts, strict=True)}


def class_lut(dataset: SegmentationDataset, size: int = 256) -> np.ndarray:
    """Index value -> class index or ``ignore_index``, as ``uint8 (size,)``."""
    lut = np.full(max(size, 256), dataset.ignore_index, dtype=np.uint8)
    lut[: len(dataset.classes)] = np.arange(len(dataset.classes), dtype=np.uint8)
    if dataset.binary_255:
        lut[255] = 1
    return lut


def colour_table(dataset: SegmentationDataset) -> tuple[np.ndarray, np.ndarray]:
    """``(sorted colour keys, class index of each)`` from the dataset's palette."""
    palette = dataset.palette or {}
    pairs = sorted((int(colour_key(np.array(rgb, np.uint8))), i) for i, rgb in palette.items())
    keys = np.array([k for k, _ in pairs], dtype=np.int64)
    return keys, np.array([i for _, i in pairs], dtype=np.uint8)


def to_classes(
    values: np.ndarray, dataset: SegmentationDataset, encoding: MaskEncoding
) -> np.ndarray:
    """Decoded mask values (:func:`decode_mask`) -> class indices ``uint8 (H, W)``."""
    if encoding == "colour":
        if values.ndim != 3:
            raise DatasetError("a colour mask must be an RGB image; this one has one channel")
        keys, classes = colour_table(dataset)
        packed = colour_key(values)
        if len(keys) == 0:
            return np.full(packed.shape, dataset.ignore_index, dtype=np.uint8)
        at = np.clip(np.searchsorted(keys, packed), 0, len(keys) - 1)
        return np.where(keys[at] == packed, classes[at], dataset.ignore_index).astype(np.uint8)
    if values.ndim == 3:  # an RGB mask with three equal channels holds index values
        values = values[..., 0]
    top = int(values.max()) if values.size else 0
    return class_lut(dataset, top + 1)[values]


def load_mask(image: SegmentationImage | Path, dataset: SegmentationDataset) -> np.ndarray:
    """The class index of every pixel, ``uint8 (H, W)``, ``dataset.ignore_index`` where ignored.

    Args:
        image: One of ``dataset.images`` (its encoding as the reader settled it), or a mask
            file's path (an RGB file whose channels differ then reads through the palette when
            the dataset has one).
        dataset: The dataset whose classes, palette and ignore rules apply.

    Raises:
        DatasetError: the mask cannot be decoded.
    """
    if isinstance(image, SegmentationImage):
        values, encoding = decode_mask(image.mask_path), image.encoding
    else:
        values = decode_mask(Path(image))
        grey = values.ndim == 3 and bool((values == values[..., :1]).all())
        encoding = "colour" if values.ndim == 3 and dataset.palette and not grey else "index"
    return to_classes(values, dataset, encoding)
