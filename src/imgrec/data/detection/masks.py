"""Instance masks in COCO's encodings: polygons, uncompressed RLE and compressed RLE. No torch.

A COCO ``segmentation`` is either polygons ``[[x0, y0, x1, y1, ...], ...]`` in continuous pixel
coordinates (pixel ``(r, c)`` covers ``[c, c + 1) x [r, r + 1)``, as the boxes), or run lengths
``{"size": [h, w], "counts": ...}`` down the columns, starting with a run of zeros: ``counts`` a
list of ints (uncompressed) or COCO's compressed string. pycocotools rasterises polygons, merges
them and computes areas; the run lengths are checked and expanded here first, because
pycocotools trusts them (counts that overrun the image write past its buffer) and its ``decode``
warns under numpy 2.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
from pycocotools import mask as mask_utils

__all__ = [
    "decode_segmentation",
    "encode_mask",
    "mask_area",
    "mask_to_polygons",
    "rle_string_counts",
    "segmentation_problem",
]

_UPSAMPLE = 2  # contours are traced on a 2x grid: vertices a quarter pixel inside the edges


def _number(v: Any) -> bool:
    return isinstance(v, int | float) and not isinstance(v, bool) and math.isfinite(v)


def rle_string_counts(text: str) -> list[int]:
    """The run lengths of a compressed COCO RLE string (pycocotools' ``rleFrString``)."""
    counts: list[int] = []
    p = 0
    while p < len(text):
        x = k = 0
        more = True
        while more:
            if p >= len(text):
                raise ValueError("the string ends inside a run length")
            c = ord(text[p]) - 48
            if not 0 <= c < 64:
                raise ValueError(f"character {text[p]!r} is not a run-length digit")
            x |= (c & 0x1F) << (5 * k)
            more = bool(c & 0x20)
            p += 1
            k += 1
            if not more and c & 0x10:
                x |= -1 << (5 * k)
        if len(counts) > 2:
            x += counts[-2]
        counts.append(x)
    return counts


def _polygons_problem(seg: list[Any]) -> str | None:
    if not seg:
        return "is empty"
    for i, poly in enumerate(seg):
        if not isinstance(poly, list):
            return f"polygon {i} is {type(poly).__name__}, not a list [x0, y0, x1, y1, ...]"
        if not all(_number(v) for v in poly):
            return f"polygon {i} holds values that are not finite numbers"
        if len(poly) % 2:
            return f"polygon {i} has an odd number of coordinates ({len(poly)}), not x, y pairs"
        if len(poly) < 6:
            return f"polygon {i} has {len(poly)} coordinates; a polygon needs 3 points (6 numbers)"
    return None


def _rle_counts(seg: dict[str, Any], height: int, width: int) -> list[int] | str:
    """The run lengths of an RLE, or why they are unusable for a ``height x width`` image."""
    size = seg.get("size")
    if not isinstance(size, list | tuple) or [*size] != [height, width]:
        return f"RLE size {size!r} is not the image's [height, width] [{height}, {width}]"
    counts = seg.get("counts")
    if isinstance(counts, str):
        try:
            runs = rle_string_counts(counts)
        except ValueError as exc:
            return f"RLE counts string cannot be decoded ({exc})"
    elif isinstance(counts, list) and all(
        isinstance(c, int) and not isinstance(c, bool) for c in counts
    ):
        runs = counts
    else:
        return "RLE counts must be a string (compressed) or a list of integers (uncompressed)"
    if any(c < 0 for c in runs):
        return "RLE counts hold a negative run length"
    if sum(runs) != height * width:
        return f"RLE counts sum to {sum(runs)}, not {height} x {width} = {height * width}"
    return runs


def segmentation_problem(seg: Any, height: int, width: int) -> str | None:
    """Why ``seg`` is not a usable COCO segmentation of a ``height x width`` image, or ``None``.

    Args:
        seg: polygons ``[[x0, y0, ...], ...]`` or an RLE dict ``{"size", "counts"}``.
        height: the image's height in pixels.
        width: the image's width in pixels.

    Returns:
        ``None`` when usable, else a phrase (``"polygon 0 has 4 coordinates; ..."``).
    """
    if isinstance(seg, list):
        return _polygons_problem(seg)
    if isinstance(seg, dict):
        if not seg:
            return "is empty"
        if "size" not in seg or "counts" not in seg:
            return "is a dict without both RLE keys 'size' and 'counts'"
        counts = _rle_counts(seg, height, width)
        return counts if isinstance(counts, str) else None
    return f"is {type(seg).__name__}, neither polygons [[x, y, ...]] nor RLE {{size, counts}}"


def _runs(seg: Any, height: int, width: int) -> list[int]:
    why = segmentation_problem(seg, height, width)
    if why is not None:
        raise ValueError(f"segmentation {why}")
    if isinstance(seg, list):
        polygons = [[float(v) for v in poly] for poly in seg]
        rle = mask_utils.merge(mask_utils.frPyObjects(polygons, height, width))
        return rle_string_counts(rle["counts"].decode("ascii"))
    counts = _rle_counts(seg, height, width)
    assert not isinstance(counts, str)  # checked above
    return counts


def decode_segmentation(seg: Any, height: int, width: int) -> np.ndarray:
    """The pixels of a COCO segmentation as a bool ``(height, width)`` array.

    Polygons are rasterised and merged by pycocotools (COCO's own rule); RLE, uncompressed or
    compressed, is expanded after its size and run lengths are checked.

    Raises:
        ValueError: ``seg`` is unusable (the message says why, see :func:`segmentation_problem`).
    """
    runs = _runs(seg, height, width)
    flat = np.repeat(np.arange(len(runs)) % 2 == 1, runs)
    return flat.reshape(width, height).T  # runs go down the columns


def encode_mask(mask: np.ndarray) -> dict[str, Any]:
    """A bool or 0/1 ``(H, W)`` mask as compressed COCO RLE ``{"size": [H, W], "counts": str}``
    (JSON-ready)."""
    array = np.asarray(mask)
    if array.ndim != 2:
        raise ValueError(f"encode_mask: a mask is (H, W), got shape {array.shape}")
    rle = mask_utils.encode(np.asfortranarray(array.astype(bool, copy=False), dtype=np.uint8))
    return {"size": [int(v) for v in rle["size"]], "counts": rle["counts"].decode("utf-8")}


def mask_area(seg: Any, height: int, width: int) -> int:
    """The number of pixels of a COCO segmentation (pycocotools' ``area``, COCO's ``area``).

    Raises:
        ValueError: ``seg`` is unusable.
    """
    runs = _runs(seg, height, width)
    rle = mask_utils.frPyObjects({"size": [height, width], "counts": runs}, height, width)
    return int(mask_utils.area(rle))


def mask_to_polygons(mask: np.ndarray, *, tolerance: float = 1.0) -> list[list[float]]:
    """The outer outlines of a bool ``(H, W)`` mask as COCO polygons ``[[x0, y0, ...], ...]``.

    Outlines are traced by OpenCV on a 2x upsampled grid (so one-pixel-wide parts keep an area)
    and simplified by Douglas-Peucker within ``tolerance`` pixels; a part that simplifies to
    fewer than 3 points keeps its traced outline. Vertices lie a quarter pixel inside the edges of
    the mask's outer pixels, so pycocotools rasterises the polygons back to the same pixels (up
    to the simplification). Holes are not kept (``RETR_EXTERNAL``); use :func:`encode_mask` to
    keep a mask exactly.
    """
    import cv2  # only here: reading datasets does not load OpenCV

    array = np.asarray(mask).astype(bool, copy=False)
    if array.ndim != 2:
        raise ValueError(f"mask_to_polygons: a mask is (H, W), got shape {array.shape}")
    rows, cols = np.nonzero(array)
    if rows.size == 0:
        return []
    r0, c0 = int(rows.min()), int(cols.min())
    crop = array[r0 : int(rows.max()) + 1, c0 : int(cols.max()) + 1].astype(np.uint8)
    k = _UPSAMPLE
    grid = np.pad(np.kron(crop, np.ones((k, k), np.uint8)), 1)  # a border: outlines stay closed
    contours, _ = cv2.findContours(grid, cv2.RETR_EXTERNAL, cv2.CHAIN_APPROX_SIMPLE)
    polygons: list[list[float]] = []
    for contour in contours:
        points = cv2.approxPolyDP(contour, tolerance * k, True).reshape(-1, 2)
        if len(points) < 3:
            points = contour.reshape(-1, 2)
        if len(points) < 3:
            continue
        xy = (points.astype(np.float64) - 1 + 0.5) / k + np.array([c0, r0], np.float64)
        polygons.append([round(float(v), 4) for v in xy.ravel()])
    return polygons
