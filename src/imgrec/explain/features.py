"""Feature maps: what each channel of a named layer responds to in one image (a classifier's or
a detector's)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import torch
from PIL import Image
from torch import nn

from imgrec.engine.inputs import image_tensor
from imgrec.errors import ModelError
from imgrec.explain.detections import _Levels  # the pyramid levels explain_detections targets
from imgrec.explain.heatmaps import to_input
from imgrec.explain.layers import find_layer, spatial_transform
from imgrec.explain.overlay import colorize, tile_grid, upscale
from imgrec.models.base import ImageClassifier
from imgrec.models.card import Preprocessing

__all__ = ["detector_feature_maps", "feature_maps", "plot_feature_maps"]


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


def detector_feature_maps(
    model: nn.Module, image: Image.Image, *, layer: str | None
) -> tuple[str, np.ndarray, list[str]]:
    """The output of a detector's ``layer`` for one image, as channel maps.

    The detector runs as it predicts (its own resize and normalisation, the image at its own
    size); for torchvision's detectors the map is cropped to the image, dropping the padding
    added to the batch.

    Args:
        model: A :class:`~imgrec.models.detectors.Detector`.
        image: RGB, any size.
        layer: Dotted module name; ``None``: the finest level of the backbone's feature pyramid
            (for SSDlite, the first feature map its heads read).

    Returns:
        ``(layer name, float32 (C, h, w), the pyramid levels' layer names)``.

    Raises:
        ModelError: unknown layer (closest names listed) or one without a spatial output.
    """
    device = next(model.parameters()).device
    try:
        levels: _Levels | None = _Levels(model, device)
    except AttributeError:  # not a torchvision detector (no net.backbone / net.transform)
        levels = None
    level_names = [f"net.backbone.{name}" for name, _ in levels.modules] if levels else []
    try:
        if layer is None and not level_names:
            raise ModelError(
                "this detector has no feature-pyramid levels to show by default; pass --layer "
                "(`imgrec inspect RUN_DIR summary` lists every layer)."
            )
        name, module = find_layer(model, layer or level_names[0])
        seen: list[Any] = []
        handle = module.register_forward_hook(lambda _m, _i, out: seen.append(out))
        try:
            model.eval()
            with torch.no_grad():
                model([image_tensor(image).to(device)])
        finally:
            handle.remove()
    finally:
        if levels is not None:
            levels.close()
    out = seen[0] if seen else None
    while isinstance(out, tuple | list) and out:  # e.g. DETR's backbone: [(features, mask)]
        out = out[0]
    if not isinstance(out, torch.Tensor) or out.ndim != 4:
        shape = tuple(out.shape) if isinstance(out, torch.Tensor) else type(out).__name__
        named = f" (the pyramid levels: {', '.join(level_names)})" if level_names else ""
        raise ModelError(
            f"layer '{name}' gives {shape}, not a (B, C, h, w) feature map; pick a backbone or "
            f"pyramid layer with --layer{named}; `imgrec inspect RUN_DIR summary` lists every "
            "layer."
        )
    maps = out if levels is None else levels.crop(out)
    return name, maps[0].float().cpu().numpy(), level_names


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
