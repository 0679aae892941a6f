"""Finding a model's layers by name and turning their outputs into ``(B, C, h, w)`` maps.

CAM methods, feature maps and the summary all address a layer by its dotted module name
(``model.get_submodule(name)``), e.g. ``"stages.1.5"`` for ``simple_cnn`` or
``"model.blocks.11.norm1"`` for ``vit_tiny``. CNN layers already give ``(B, C, h, w)``; a ViT
block gives tokens ``(B, N, D)`` with one class token (and maybe register tokens) in front of an
``h x w`` grid of patch tokens, and torchvision's Swin gives channels-last ``(B, h, w, C)``.
:func:`spatial_transform` finds the reshape that makes each of them ``(B, C, h, w)``.
"""

from __future__ import annotations

import difflib
from collections.abc import Callable
from typing import Any

import torch
from torch import nn

from imgrec.errors import ModelError

__all__ = ["find_layer", "layer_names", "spatial_transform"]

Transform = Callable[[torch.Tensor], torch.Tensor]


def layer_names(model: nn.Module) -> list[str]:
    """Every named submodule of ``model`` in definition order (the root excluded)."""
    return [name for name, _ in model.named_modules() if name]


def find_layer(model: nn.Module, name: str | None) -> tuple[str, nn.Module]:
    """``(name, module)`` for the dotted ``name``; ``None`` means ``model.default_cam_layer``.

    Raises:
        ModelError: no such layer (the message lists the closest valid names), or no name was
            given and the model has no ``default_cam_layer``.
    """
    if name is None:
        name = getattr(model, "default_cam_layer", None)
        if not name:
            raise ModelError(
                f"{type(model).__name__} names no default layer for CAM methods; pass one with "
                "--layer (`imgrec inspect RUN_DIR summary` lists the layer names)."
            )
    modules = dict(model.named_modules())
    if name in modules and name:
        return name, modules[name]
    names = layer_names(model)
    near = difflib.get_close_matches(name, names, n=5, cutoff=0.5) or names[-5:]
    raise ModelError(
        f"layer '{name}' does not exist in {getattr(model, 'architecture', type(model).__name__)}."
        f" Closest layer names: {', '.join(near)}. `imgrec inspect RUN_DIR summary` lists all "
        f"{len(names)}."
    )


def _token_layout(model: nn.Module, tokens: int, image_hw: tuple[int, int]) -> tuple[int, int, int]:
    """``(prefix tokens, h, w)`` of a ``tokens``-long ViT sequence for ``image_hw`` inputs."""
    inner: Any = getattr(model, "model", model)
    prefix = getattr(inner, "num_prefix_tokens", None)  # timm: class + register tokens
    grid = getattr(getattr(inner, "patch_embed", None), "grid_size", None)
    patch = getattr(inner, "patch_size", None)  # torchvision's VisionTransformer
    if prefix is not None and grid is not None and int(prefix) + grid[0] * grid[1] == tokens:
        return int(prefix), int(grid[0]), int(grid[1])
    if isinstance(patch, int) and patch > 0:
        h, w = image_hw[0] // patch, image_hw[1] // patch
        if 0 <= tokens - h * w <= 8:
            return tokens - h * w, h, w
    ratio = image_hw[1] / image_hw[0]
    for skip in range(0, 9):  # unknown family: the grid whose shape matches the image best
        n = tokens - skip
        for h in range(1, int(n**0.5 / min(ratio, 1.0)) + 2):
            if n > 0 and n % h == 0 and abs((n // h) / h - ratio) < 1e-6:
                return skip, h, n // h
    raise ModelError(
        f"cannot lay out {tokens} tokens as a patch grid for a {image_hw[0]}x{image_hw[1]} image; "
        "pick a convolutional layer with --layer."
    )


def spatial_transform(
    model: nn.Module, module: nn.Module, image_hw: tuple[int, int]
) -> Transform | None:
    """The reshape that turns ``module``'s output into ``(B, C, h, w)``, or ``None`` when it
    already is one. Found with one probe forward pass on a zero image.

    Raises:
        ModelError: the layer's output is not a map (e.g. a pooled ``(B, F)`` vector, as in
            ``mlp``), so there is nothing to place on the image.
    """
    seen: list[torch.Tensor] = []
    handle = module.register_forward_hook(lambda _m, _i, out: seen.append(_first_tensor(out)))
    param = next(model.parameters(), None)
    probe = torch.zeros(1, 3, *image_hw, device=param.device if param is not None else "cpu")
    was_training = model.training
    try:
        model.eval()
        with torch.no_grad():
            model(probe)
    finally:
        handle.remove()
        model.train(was_training)
    if not seen:
        raise ModelError(f"layer {type(module).__name__} is not used by the forward pass.")
    out = seen[0]
    if out.ndim == 3:
        skip, h, w = _token_layout(model, out.shape[1], image_hw)
        return lambda t: t[:, skip:, :].reshape(t.shape[0], h, w, t.shape[2]).permute(0, 3, 1, 2)
    if out.ndim == 4 and _channels_last(model, out):
        return lambda t: t.permute(0, 3, 1, 2)
    if out.ndim == 4:
        return None
    raise ModelError(
        f"layer output has shape {tuple(out.shape)}: not a spatial map, so CAM methods have "
        "nothing to place on the image (pooled or fully connected layers). Use --layer with a "
        "convolutional or transformer-block layer, or --method lime / occlusion, which work for "
        "any model."
    )


def _channels_last(model: nn.Module, out: torch.Tensor) -> bool:
    """Swin (torchvision and timm) keeps ``(B, h, w, C)`` maps."""
    inner = getattr(model, "model", model)
    return "swin" in type(inner).__name__.lower() and out.shape[1] == out.shape[2]


def _first_tensor(out: Any) -> torch.Tensor:
    if isinstance(out, torch.Tensor):
        return out
    if isinstance(out, tuple | list) and out and isinstance(out[0], torch.Tensor):
        return out[0]
    raise ModelError(f"layer output of type {type(out).__name__} is not a tensor.")
