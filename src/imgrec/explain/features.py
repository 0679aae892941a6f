"""Feature maps: what each channel of a named layer responds to in one image."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch
from PIL import Image

from imgrec.explain.heatmaps import to_input
from imgrec.explain.layers import find_layer, spatial_transform
from imgrec.explain.overlay import colorize, tile_grid, upscale
from imgrec.models.base import ImageClassifier
from imgrec.models.card import Preprocessing

__all__ = ["feature_maps", "plot_feature_maps"]


def feature_maps(
    model: ImageClassifier, pixels: np.ndarray, *, preprocessing: Preprocessing, layer: str | None
) -> tuple[str, np.ndarray]:
    """The output of ``layer`` for one image, as channel maps.

    Args:
        pixels: uint8 ``(H, W, 3)`` at the model's input size.
        layer: Dotted module name; ``None``: ``model.default_cam_layer``.

    Returns:
        ``(layer name, float32 (C, h, w))``; ViT tokens are laid out on their patch grid.

    Raises:
        ModelError: unknown layer (closest names listed) or one without a spatial output.
    """
    name, module = find_layer(model, layer)
    transform = spatial_transform(model, module, pixels.shape[:2])
    seen: list[torch.Tensor] = []
    handle = module.register_forward_hook(lambda _m, _i, out: seen.append(out))
    device = next(model.parameters()).device
    was_training = model.training
    try:
        model.eval()
        with torch.no_grad():
            model(to_input(pixels[None], preprocessing, device))
    finally:
        handle.remove()
        model.train(was_training)
    out = seen[0] if transform is None else transform(seen[0])
    return name, out[0].float().cpu().numpy()


def plot_feature_maps(
    maps: np.ndarray, out: str | Path, *, max_maps: int = 64, columns: int = 8
) -> Path:
    """Write the ``max_maps`` most active channels of ``(C, h, w)`` maps as a PNG grid.

    Channels are ordered by mean activation (strongest first); each is min-max scaled on its own
    and drawn with the viridis colormap.
    """
    order = np.argsort(-maps.reshape(len(maps), -1).mean(axis=1))[:max_maps]
    tiles = []
    for channel in order:
        m = maps[channel]
        lo, hi = float(m.min()), float(m.max())
        tiles.append(
            upscale(
                colorize((m - lo) / (hi - lo) if hi > lo else m * 0.0, colormap="viridis"),
                min_side=48,
            )
        )
    path = Path(out)
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(tile_grid(tiles, columns=min(columns, len(tiles)), gap=3)).save(path)
    return path
