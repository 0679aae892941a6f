"""Tiny segmentation datasets written into tmp dirs with PIL (no binaries committed)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
from PIL import Image

from imgrec.data.segmentation import SegmentationDataset, voc_palette

__all__ = ["blocks", "image", "index_mask", "palette_mask", "pixels_of", "problems_of", "rgb_mask"]

W, H = 12, 6


def blocks(*values: int, size: tuple[int, int] = (W, H)) -> np.ndarray:
    """A ``(H, W)`` uint8 mask of vertical bands, one per value, left to right."""
    w, h = size
    out = np.zeros((h, w), dtype=np.uint8)
    edges = np.linspace(0, w, len(values) + 1).round().astype(int)
    for v, a, b in zip(values, edges[:-1], edges[1:], strict=True):
        out[:, a:b] = v
    return out


def image(path: Path, *, size: tuple[int, int] = (W, H), seed: int = 0) -> Path:
    """A noise RGB image of ``size`` = (W, H); the format follows the suffix."""
    rng = np.random.default_rng(seed)
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(rng.integers(0, 256, (size[1], size[0], 3), dtype=np.uint8)).save(path)
    return path


def index_mask(path: Path, values: np.ndarray) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(values.astype(np.uint8)).save(path)  # mode L
    return path


def palette_mask(path: Path, values: np.ndarray) -> Path:
    """A palette (P) PNG with the VOC colours: the indices are the values."""
    path.parent.mkdir(parents=True, exist_ok=True)
    h, w = values.shape
    img = Image.frombytes("P", (w, h), values.astype(np.uint8).tobytes())
    img.putpalette([c for rgb in voc_palette() for c in rgb])
    img.save(path)
    return path


def rgb_mask(path: Path, values: np.ndarray, colours: dict[int, tuple[int, int, int]]) -> Path:
    """An RGB mask painting value ``v`` with ``colours[v]``."""
    out = np.zeros((*values.shape, 3), dtype=np.uint8)
    for v, rgb in colours.items():
        out[values == v] = rgb
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(out).save(path)
    return path


def problems_of(ds: SegmentationDataset, kind: str) -> list[str]:
    """The problems of ``kind`` as text."""
    return [str(p) for p in ds.problems if p.kind == kind]


def pixels_of(ds: SegmentationDataset, key: str) -> tuple[int, ...]:
    """Pixels per class of the image ``key``."""
    return next(img.pixels for img in ds.images if img.key == key)
