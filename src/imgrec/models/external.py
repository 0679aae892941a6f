"""``tv:<name>`` and ``timm:<name>``: any torchvision or timm classifier behind the imgrec surface.

Torchvision models are wrapped by :class:`TorchvisionClassifier`, which knows where the common
families (ResNet/RegNet, the ``features`` + ``classifier`` CNNs, ViT, Swin) split into features,
pooling and classifier; any other model still works, with ``forward_features`` returning the
pooled vector the classifier receives. timm models already have the surface and are wrapped by
:class:`TimmClassifier`. torchvision and timm are imported only when such a model is built.
"""

from __future__ import annotations

import difflib
import inspect
import json
import typing
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

import torch
from torch import nn

from imgrec.errors import ModelError
from imgrec.models.base import ImageClassifier

__all__ = [
    "TimmClassifier",
    "TorchvisionClassifier",
    "check",
    "constructor_options",
    "create",
    "list_names",
]

_HEAD_NAMES = ("fc", "classifier", "heads", "head")
# Set by imgrec itself, or meaningless in a JSON option: never user options.
_RESERVED = {
    "self",
    "weights",
    "progress",
    "pretrained",
    "num_classes",
    "in_chans",
    "img_size",
    "image_size",
    "device",
    "dtype",
}


def _last_layer(head: nn.Module) -> tuple[nn.Module, nn.Module]:
    """Split a classifier into (layers before its last Linear/Conv2d, that layer and after)."""
    if isinstance(head, nn.Sequential):
        idx = max(
            (i for i, m in enumerate(head) if isinstance(m, nn.Linear | nn.Conv2d)), default=None
        )
        if idx is not None:
            return head[:idx], head[idx:]
    return nn.Identity(), head


def _new_layer(layer: nn.Module, num_classes: int) -> nn.Module:
    if isinstance(layer, nn.Linear):
        return nn.Linear(layer.in_features, num_classes)
    if isinstance(layer, nn.Conv2d):
        size = typing.cast(tuple[int, int], layer.kernel_size)
        return nn.Conv2d(layer.in_channels, num_classes, size, layer.stride[0])
    raise ModelError(f"cannot reset a classifier of type {type(layer).__name__}.")


def _last_conv_child(model: nn.Module, head: nn.Module) -> str:
    """The last direct child (not the head) holding a convolution: the final feature stage."""
    names = [
        n
        for n, c in model.named_children()
        if c is not head and any(isinstance(m, nn.Conv2d) for m in c.modules())
    ]
    return names[-1] if names else ""


class _StopForward(Exception):  # noqa: N818  # a signal, not an error
    """Raised by a hook to end a forward pass once the classifier's input is known."""


class TorchvisionClassifier(ImageClassifier):
    """A torchvision classifier (``self.model``) with the :class:`ImageClassifier` surface."""

    def __init__(self, model: nn.Module) -> None:
        super().__init__()
        import torchvision.models as tvm

        self.model = model
        self._head_name = next(
            (n for n in _HEAD_NAMES if isinstance(getattr(model, n, None), nn.Module)), None
        )
        if self._head_name is None:
            raise ModelError(f"{type(model).__name__}: no classifier among {_HEAD_NAMES}.")
        feats = getattr(model, "features", None)
        if isinstance(model, tvm.ResNet | tvm.RegNet):
            self._kind = "resnet"
            children = [n for n, _ in model.named_children()]
            cam = children[children.index("avgpool") - 1]
        elif isinstance(model, tvm.VisionTransformer):
            last = list(model.encoder.layers.named_children())[-1][0]
            self._kind, cam = "vit", f"encoder.layers.{last}.ln_1"
        elif isinstance(model, tvm.SwinTransformer):
            self._kind, cam = "swin", "norm"
        elif isinstance(feats, nn.Sequential) and isinstance(
            model,
            tvm.MobileNetV2
            | tvm.MobileNetV3
            | tvm.EfficientNet
            | tvm.VGG
            | tvm.AlexNet
            | tvm.ConvNeXt
            | tvm.DenseNet,
        ):
            self._kind, cam = "features", f"features.{list(feats.named_children())[-1][0]}"
        else:
            self._kind, cam = "opaque", _last_conv_child(model, self.get_classifier())
        self._relu = isinstance(model, tvm.DenseNet)  # DenseNet applies ReLU after `features`
        self.default_cam_layer = f"model.{cam}"
        self._sync_head()

    def _sync_head(self) -> None:
        pre, last = _last_layer(self.get_classifier())
        layer: Any = last[0] if isinstance(last, nn.Sequential) else last
        self.num_classes = int(getattr(layer, "out_features", None) or layer.out_channels)
        hidden = [m.out_features for m in pre.modules() if isinstance(m, nn.Linear)]
        width = hidden[-1] if hidden else getattr(layer, "in_features", None) or layer.in_channels
        self.num_features = int(width)

    def get_classifier(self) -> nn.Module:
        return typing.cast(nn.Module, getattr(self.model, typing.cast(str, self._head_name)))

    def reset_classifier(self, num_classes: int) -> None:
        head = self.get_classifier()
        pre, _ = _last_layer(head)
        if isinstance(head, nn.Sequential) and isinstance(pre, nn.Sequential):
            head[len(pre)] = _new_layer(head[len(pre)], num_classes)
        else:
            setattr(self.model, typing.cast(str, self._head_name), _new_layer(head, num_classes))
        self._sync_head()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self._kind == "opaque":  # the model's own forward (input transforms, aux heads, ...)
            return typing.cast(torch.Tensor, self.model(x))
        return self.forward_head(self.forward_features(x))

    def forward_features(self, x: torch.Tensor) -> torch.Tensor:
        m: Any = self.model
        if self._kind == "resnet":
            for name, child in m.named_children():
                if name == "avgpool":
                    return x
                x = child(x)
        if self._kind == "vit":
            x = m._process_input(x)
            return typing.cast(
                torch.Tensor,
                m.encoder(torch.cat([m.class_token.expand(x.shape[0], -1, -1), x], dim=1)),
            )
        if self._kind == "swin":
            return typing.cast(torch.Tensor, m.permute(m.norm(m.features(x))))
        if self._kind == "features":
            x = m.features(x)
            return torch.relu(x) if self._relu else x
        seen: list[torch.Tensor] = []

        def grab(_: nn.Module, args: tuple[torch.Tensor, ...]) -> None:
            seen.append(args[0])
            raise _StopForward

        handle = self.get_classifier().register_forward_pre_hook(grab)
        try:
            m(x)
        except _StopForward:
            pass
        finally:
            handle.remove()
        return seen[0]

    def forward_head(self, features: torch.Tensor, *, pre_logits: bool = False) -> torch.Tensor:
        x = features
        if self._kind == "vit":
            x = x[:, 0]
        elif self._kind != "opaque":
            pool = getattr(self.model, "avgpool", None)
            x = pool(x) if pool is not None else nn.functional.adaptive_avg_pool2d(x, 1)
            if not any(isinstance(m, nn.Flatten) for m in self.get_classifier().modules()):
                x = torch.flatten(x, 1)
        pre, last = _last_layer(self.get_classifier())
        x = pre(x)
        if pre_logits:
            return torch.flatten(nn.functional.adaptive_avg_pool2d(x, 1), 1) if x.ndim == 4 else x
        return torch.flatten(last(x), 1)


class TimmClassifier(ImageClassifier):
    """A timm model (``self.model``), which already has forward_features/forward_head."""

    def __init__(self, model: Any) -> None:
        super().__init__()
        self.model: Any = model
        self.num_classes = model.num_classes
        self.num_features = getattr(model, "head_hidden_size", None) or model.num_features
        blocks = getattr(model, "blocks", None)
        if isinstance(blocks, nn.Sequential) and hasattr(blocks[-1], "norm1"):
            cam = f"blocks.{len(blocks) - 1}.norm1"
        elif getattr(model, "feature_info", None):
            cam = model.feature_info[-1]["module"]
        else:
            cam = _last_conv_child(model, self.get_classifier())
        self.default_cam_layer = f"model.{cam}"

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return typing.cast(torch.Tensor, self.model(x))

    def forward_features(self, x: torch.Tensor) -> torch.Tensor:
        return typing.cast(torch.Tensor, self.model.forward_features(x))

    def forward_head(self, features: torch.Tensor, *, pre_logits: bool = False) -> torch.Tensor:
        return typing.cast(torch.Tensor, self.model.forward_head(features, pre_logits=pre_logits))

    def get_classifier(self) -> nn.Module:
        return typing.cast(nn.Module, self.model.get_classifier())

    def reset_classifier(self, num_classes: int) -> None:
        self.model.reset_classifier(num_classes)
        self.num_classes = num_classes


# --------------------------------------------------------------------------------- factories


def list_names(prefix: str) -> list[str]:
    """``prefix:<name>`` for every classifier of the library ``prefix`` ("tv" or "timm")."""
    if prefix == "tv":
        import torchvision.models as tvm

        return [f"tv:{n}" for n in tvm.list_models(module=tvm)]
    if prefix == "timm":
        import timm

        return [f"timm:{n}" for n in timm.list_models()]
    raise ModelError(f"unknown model family '{prefix}:'; use tv:<name> or timm:<name>.")


def _split(name: str) -> tuple[str, str, Callable[..., Any]]:
    prefix, _, arch = name.partition(":")
    valid = [n.partition(":")[2] for n in list_names(prefix)]
    base = arch.split(".")[0] if prefix == "timm" else arch  # timm names may carry a tag
    if base not in valid:
        near = difflib.get_close_matches(base, valid, n=3)
        raise ModelError(
            f"unknown model '{name}'."
            + (f" Did you mean {', '.join(f'{prefix}:{n}' for n in near)}?" if near else "")
            + f" `imgrec models '{prefix}:*'` lists all {len(valid)}."
        )
    if prefix == "tv":
        import torchvision.models as tvm

        return prefix, arch, tvm.get_model_builder(arch)
    import timm

    return prefix, arch, timm.models.model_entrypoint(base)


def _constructor(entry: Callable[..., Any]) -> tuple[dict[str, Any], set[str] | None]:
    """(options with defaults, every keyword the model class takes, or None when it is open-ended).

    The class is the builder's return annotation (torchvision and timm both annotate it).
    """
    try:
        cls = typing.get_type_hints(entry).get("return")
    except Exception:  # an unresolvable annotation only costs the up-front option check
        cls = None
    if not isinstance(cls, type):
        return {}, None
    cls_params = list(inspect.signature(cls).parameters.values())
    params = list(inspect.signature(entry).parameters.values()) + cls_params
    options = {
        p.name: p.default
        for p in params
        if p.default is not p.empty
        and p.name not in _RESERVED
        and p.kind in (p.KEYWORD_ONLY, p.POSITIONAL_OR_KEYWORD)
    }
    open_ended = any(p.kind is p.VAR_KEYWORD for p in cls_params)
    return options, None if open_ended else {p.name for p in cls_params}


def constructor_options(name: str) -> dict[str, Any]:
    """The options the torchvision/timm constructor of ``name`` accepts, with their defaults."""
    return _constructor(_split(name)[2])[0]


def _checked_options(
    name: str, prefix: str, entry: Callable[..., Any], options: Mapping[str, Any]
) -> tuple[dict[str, Any], set[str] | None]:
    """:func:`_constructor` of ``entry``, once ``options`` are JSON values it accepts."""
    try:
        json.dumps(dict(options))
    except (TypeError, ValueError) as exc:
        raise ModelError(f"options of '{name}' must be JSON values (numbers, strings, booleans, "
                         f"lists): {exc}.") from exc  # fmt: skip
    valid, accepted = _constructor(entry)
    unknown = sorted(set(options) - set(valid))
    if unknown and accepted is not None:
        raise ModelError(
            f"unknown option(s) {unknown} for model '{name}'; the {prefix} constructor accepts: "
            f"{', '.join(sorted(valid)) or '(none)'}."
        )
    return valid, accepted


def check(
    name: str,
    *,
    weights: str | Path | None,
    pretrained: bool,
    offline: bool,
    cache_dir: Path | None,
    options: Mapping[str, Any],
) -> None:
    """What :func:`create` would refuse, found without building the model: an unknown name (the
    nearest named), an unknown option, a torchvision weights name that does not exist, a
    weights file that cannot be opened, and, ``offline``, published weights not in the cache."""
    from imgrec.models import weights as wt

    prefix, arch, entry = _split(name)
    _checked_options(name, prefix, entry, options)
    tv_weights = wt.torchvision_weights(arch, weights, pretrained) if prefix == "tv" else None
    if weights is not None and tv_weights is None:  # a local file
        wt.check_weights_file(weights)
    elif offline and tv_weights is not None:
        wt.check_torchvision_cached(arch, tv_weights, cache_dir=cache_dir)
    elif offline and pretrained and prefix == "timm":
        wt.check_timm_cached(arch, cache_dir=cache_dir)


def create(
    name: str,
    *,
    num_classes: int,
    in_chans: int,
    img_size: int,
    weights: str | Path | None,
    pretrained: bool,
    offline: bool,
    cache_dir: Path | None,
    options: dict[str, Any],
) -> ImageClassifier:
    """Build ``tv:<name>`` / ``timm:<name>`` (see :func:`imgrec.models.create_model`)."""
    from imgrec.models import weights as wt

    prefix, arch, entry = _split(name)
    valid, accepted = _checked_options(name, prefix, entry, options)
    kwargs = dict(options)
    size_key = "image_size" if prefix == "tv" else "img_size"
    if accepted is not None and size_key in accepted:
        kwargs[size_key] = img_size  # ViTs: position embeddings sized for the images
    if "aux_logits" in valid and "aux_logits" not in kwargs:
        kwargs["aux_logits"] = False  # GoogLeNet/Inception: one output, no auxiliary heads
    tv_weights = wt.torchvision_weights(arch, weights, pretrained) if prefix == "tv" else None
    local = weights is not None and tv_weights is None
    model: ImageClassifier
    try:
        if prefix == "tv":
            if tv_weights is not None:
                net = wt.load_torchvision(
                    arch, tv_weights, offline=offline, cache_dir=cache_dir, **kwargs
                )
                model = TorchvisionClassifier(net)
                published = model.num_classes
                if published != num_classes:
                    model.reset_classifier(num_classes)
                model.load_report = wt.published_head_report(
                    model, source=f"tv:{arch} {tv_weights}", published=published
                )
            else:
                import torchvision.models as tvm

                model = TorchvisionClassifier(
                    tvm.get_model(arch, num_classes=num_classes, **kwargs)
                )
            if in_chans != 3:
                wt.adapt_input_channels(model, in_chans)
        else:
            net = wt.load_timm(
                arch,
                pretrained=pretrained and not local,
                offline=offline,
                cache_dir=cache_dir,
                num_classes=num_classes,
                in_chans=in_chans,
                **kwargs,
            )
            model = TimmClassifier(net)
            if pretrained and not local:
                model.load_report = wt.published_head_report(
                    model, source=_timm_source(arch, net), published=_timm_classes(net)
                )
    except (TypeError, ValueError, AssertionError, KeyError, RuntimeError) as exc:
        raise ModelError(f"cannot build '{name}' with options {options}: {exc}") from exc
    if local:
        model.load_report = wt.load_weights(model, Path(typing.cast(str, weights)))
    return model


def _timm_classes(net: Any) -> int | None:
    """The number of classes timm's published weights of ``net`` were trained for."""
    classes = dict(getattr(net, "pretrained_cfg", None) or {}).get("num_classes")
    return int(classes) if isinstance(classes, int) else None


def _timm_source(arch: str, net: Any) -> str:
    """``timm:<arch>`` and the weights' tag and file (or hub id), for the load report."""
    cfg = dict(getattr(net, "pretrained_cfg", None) or {})
    where = cfg.get("file") or cfg.get("hf_hub_id") or cfg.get("url")
    tag = cfg.get("tag")
    return (
        f"timm:{arch}"
        + (f".{tag}" if tag and "." not in arch else "")
        + (f" ({where})" if where else "")
    )
