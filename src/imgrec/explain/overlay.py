"""Drawing heatmaps over images and writing them as PNG (plus the raw map as ``.npy``).

A saved overlay carries a caption band (file name, method, class and probability) so that the
PNG says what it shows when it is opened on its own; the caption uses Pillow's bundled font,
nothing is downloaded.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw, ImageFont

__all__ = [
    "add_caption",
    "colorize",
    "explanation_caption",
    "overlay",
    "save_explanation",
    "tile_grid",
    "upscale",
]

_MIN_SIDE = 224  # small model inputs (32 px) are enlarged so a person can see something
_NAME_LIMIT = 40  # characters of a file name in a caption; longer ones lose their middle


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


def _short_name(source: str, limit: int = _NAME_LIMIT) -> str:
    """The file name without its folders (``<ndarray>`` as is), middle-elided past ``limit``."""
    name = source if source.startswith("<") else Path(source.replace("\\", "/")).name or source
    if len(name) <= limit:
        return name
    tail = (limit - 1) // 2
    return name[: limit - 1 - tail] + "…" + name[len(name) - tail :]


def explanation_caption(
    *, source: str, method: str, label: str, probability: float | None = None
) -> str:
    """The caption of a saved overlay: ``"cat_001.png · gradcam · class cat (p=0.93)"``.

    Args:
        source: The image's path (only its file name is shown) or ``<ndarray>``-style name.
        method: The explanation method.
        label: The class explained.
        probability: The model's probability for ``label``, when known.
    """
    explained = f"class {label}" if probability is None else f"class {label} (p={probability:.2f})"
    return " · ".join([_short_name(source), method, explained])


def _caption_font(size: int) -> ImageFont.FreeTypeFont | ImageFont.ImageFont:
    try:
        return ImageFont.load_default(size=size)  # Pillow's bundled font, at this size
    except (ImportError, OSError):  # Pillow built without FreeType: the fixed bitmap font
        return ImageFont.load_default()


def _wrap(text: str, fits: Callable[[str], bool]) -> list[str]:
    lines: list[str] = []
    for word in text.split(" "):
        if lines and fits(f"{lines[-1]} {word}"):
            lines[-1] = f"{lines[-1]} {word}"
        else:
            lines.append(word)
    return lines


def add_caption(image: np.ndarray, text: str, *, pad: int = 6) -> np.ndarray:
    """``image`` (uint8 ``(H, W, 3)``) with ``text`` in black on a white band below it, wrapped
    at spaces to the image's width.

    Returns:
        uint8 ``(H + band, W, 3)``.
    """
    height, width = image.shape[:2]
    font = _caption_font(max(11, min(20, width // 30)))
    measure = ImageDraw.Draw(Image.new("RGB", (1, 1)))
    lines = _wrap(text, lambda line: measure.textlength(line, font=font) <= width - 2 * pad)
    top, bottom = measure.textbbox((0, 0), "Ag…", font=font)[1::2]  # glyphs' extent
    line_height = bottom - top + max(2, (bottom - top) // 4)
    canvas = Image.new("RGB", (width, height + 2 * pad + line_height * len(lines)), "white")
    canvas.paste(Image.fromarray(image).convert("RGB"), (0, 0))
    draw = ImageDraw.Draw(canvas)
    for n, line in enumerate(lines):
        draw.text((pad, height + pad + n * line_height - top), line, fill="black", font=font)
    return np.asarray(canvas)


def save_explanation(
    pixels: np.ndarray,
    heatmap: np.ndarray,
    out_dir: str | Path,
    *,
    source: str,
    index: int,
    method: str,
    label: str,
    probability: float | None = None,
) -> tuple[Path, Path]:
    """Write ``<index>-<name>-<method>-<label>.png`` (image | overlay, side by side, enlarged
    for small inputs, over a caption of :func:`explanation_caption`: file name, method, class
    and, when given, its ``probability``) and ``.npy`` (the raw float32 ``(H, W)`` map, as
    computed) into ``out_dir``.

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
    caption = explanation_caption(
        source=source, method=method, label=label, probability=probability
    )
    panel = add_caption(panel, caption)
    png, npy = out / f"{stem}.png", out / f"{stem}.npy"
    Image.fromarray(panel).save(png)
    np.save(npy, heatmap.astype(np.float32))
    return png, npy
