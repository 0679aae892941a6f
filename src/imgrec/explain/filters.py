"""What the first convolution learned: its filters as a grid of small images."""

from __future__ import annotations

from pathlib import Path

import numpy as np
from PIL import Image
from torch import nn

from imgrec.errors import ModelError
from imgrec.explain.overlay import tile_grid, upscale

__all__ = ["first_conv", "plot_filters"]


def first_conv(model: nn.Module) -> tuple[str, nn.Conv2d]:
    """``(name, layer)`` of the first ``Conv2d`` in definition order (a ViT's patch embedding).

    Raises:
        ModelError: the model has no convolution (``mlp``).
    """
    for name, module in model.named_modules():
        if isinstance(module, nn.Conv2d):
            return name, module
    raise ModelError(
        f"{getattr(model, 'architecture', type(model).__name__)} has no convolution layer, so "
        "there are no filters to show; `imgrec inspect RUN_DIR summary` shows its layers."
    )


def filter_images(weight: np.ndarray) -> list[np.ndarray]:
    """``(out, in, kh, kw)`` weights -> one uint8 ``(kh, kw, 3)`` image per filter.

    Three input channels are shown as RGB, any other number as the mean over channels in grey.
    Each filter is min-max scaled on its own, so its pattern shows whatever its magnitude.
    """
    tiles = []
    for w in weight:
        rgb = w.transpose(1, 2, 0) if w.shape[0] == 3 else np.repeat(w.mean(0)[..., None], 3, -1)
        lo, hi = float(rgb.min()), float(rgb.max())
        scaled = (rgb - lo) / (hi - lo) if hi > lo else np.full_like(rgb, 0.5)
        tiles.append((scaled * 255.0 + 0.5).astype(np.uint8))
    return tiles


def plot_filters(
    model: nn.Module, out: str | Path, *, max_filters: int = 64, columns: int = 8
) -> tuple[Path, dict[str, object]]:
    """Write the first convolution's filters (up to ``max_filters``) as a PNG grid.

    Returns:
        ``(png path, info)`` with the layer name, weight shape and how many filters are shown.
    """
    name, conv = first_conv(model)
    weight = conv.weight.detach().float().cpu().numpy()
    tiles = [upscale(t, min_side=48) for t in filter_images(weight[:max_filters])]
    grid = tile_grid(tiles, columns=min(columns, len(tiles)), gap=3)
    path = Path(out)
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(grid).save(path)
    info = {
        "layer": name,
        "weight_shape": list(weight.shape),
        "shown": len(tiles),
        "png": str(path),
    }
    return path, info
