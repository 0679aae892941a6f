"""Drawing heatmaps over images and writing them as PNG (plus the raw map as ``.npy``)."""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np
from PIL import Image

__all__ = ["colorize", "overlay", "save_explanation", "tile_grid", "upscale"]

_MIN_SIDE = 224  # small model inputs (32 px) are enlarged so a person can see something


def colorize(values: np.ndarray, *, colormap: str = "jet") -> np.ndarray:
    """float ``(H, W)`` in [0, 1] -> uint8 RGB ``(H, W, 3)`` through a matplotlib colormap."""
    from matplotlib import colormaps

    rgba = colormaps[colormap](np.clip(values, 0.0, 1.0))
    return (rgba[..., :3] * 255.0 + 0.5).astype(np.uint8)


def upscale(image: np.ndarray, *, min_side: int = _MIN_SIDE, smooth: bool = False) -> np.ndarray:
    """Enlarge ``(H, W)`` or ``(H, W, 3)`` by an integer factor until the shorter side reaches
    ``min_side`` (nearest neighbour keeps pixels visible; ``smooth`` uses bilinear, for maps)."""
    factor = max(1, -(-min_side // max(1, min(image.shape[:2]))))
    if factor == 1:
        return image
    size = (image.shape[1] * factor, image.shape[0] * factor)
    if smooth:
        img = Image.fromarray(image.astype(np.float32), mode="F")
        return np.asarray(img.resize(size, Image.Resampling.BILINEAR), dtype=np.float32)
    return np.asarray(Image.fromarray(image).resize(size, Image.Resampling.NEAREST))


def overlay(
    pixels: np.ndarray, heatmap: np.ndarray, *, alpha: float = 0.5, colormap: str = "jet"
) -> np.ndarray:
    """Blend a ``(H, W)`` heatmap in [0, 1] over uint8 ``(H, W, 3)`` pixels (same size).

    Returns:
        uint8 ``(H, W, 3)``.
    """
    if heatmap.shape != pixels.shape[:2]:
        raise ValueError(f"heatmap {heatmap.shape} and image {pixels.shape} differ in size")
    heat = colorize(heatmap, colormap=colormap).astype(np.float32)
    mixed = (1.0 - alpha) * pixels.astype(np.float32) + alpha * heat
    return np.clip(mixed + 0.5, 0, 255).astype(np.uint8)


def tile_grid(tiles: list[np.ndarray], *, columns: int, gap: int = 2) -> np.ndarray:
    """Lay equal-sized uint8 ``(h, w, 3)`` tiles out in rows of ``columns`` on white."""
    if not tiles:
        raise ValueError("no tiles to lay out")
    h, w = tiles[0].shape[:2]
    rows = -(-len(tiles) // columns)
    grid = np.full((rows * (h + gap) - gap, columns * (w + gap) - gap, 3), 255, dtype=np.uint8)
    for i, tile in enumerate(tiles):
        r, c = divmod(i, columns)
        grid[r * (h + gap) : r * (h + gap) + h, c * (w + gap) : c * (w + gap) + w] = tile
    return grid


def _stem(source: str, index: int) -> str:
    name = Path(source).stem if not source.startswith("<") else "image"
    return f"{index:03d}-{re.sub(r'[^A-Za-z0-9_.-]+', '_', name)[:60]}"


def save_explanation(
    pixels: np.ndarray,
    heatmap: np.ndarray,
    out_dir: str | Path,
    *,
    source: str,
    index: int,
    method: str,
    label: str,
) -> tuple[Path, Path]:
    """Write ``<index>-<name>-<method>-<label>.png`` (image | overlay, side by side, enlarged
    for small inputs) and ``.npy`` (the raw float32 ``(H, W)`` map) into ``out_dir``.

    Returns:
        ``(png path, npy path)``.
    """
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    safe_label = re.sub(r"[^A-Za-z0-9_.-]+", "_", label)[:40]
    stem = f"{_stem(source, index)}-{method.replace('+', 'p')}-{safe_label}"
    big_pixels = upscale(pixels)
    big_heat = upscale(heatmap.astype(np.float32), smooth=True)
    big_heat = big_heat[: big_pixels.shape[0], : big_pixels.shape[1]]
    panel = tile_grid([big_pixels, overlay(big_pixels, big_heat)], columns=2, gap=4)
    png, npy = out / f"{stem}.png", out / f"{stem}.npy"
    Image.fromarray(panel).save(png)
    np.save(npy, heatmap.astype(np.float32))
    return png, npy
