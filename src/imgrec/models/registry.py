"""Model registry: ``@register_model`` builders and the ``create_model`` factory (timm's style).

A builder is a keyword-only function ``name(*, num_classes, in_chans, img_size, <options>)``; its
other keyword-only parameters (hints, defaults) *are* its options, checked here for every model
alike. ``tv:<name>`` / ``timm:<name>`` go to :mod:`imgrec.models.external`.
"""

from __future__ import annotations

import difflib
import fnmatch
import importlib
import inspect
import json
import types
import typing
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

from imgrec.errors import ModelError
from imgrec.models import external
from imgrec.models.base import ImageClassifier

__all__ = ["check_model", "create_model", "list_models", "model_options", "register_model"]

Builder = Callable[..., ImageClassifier]
_REGISTRY: dict[str, Builder] = {}
_COMMON = ("num_classes", "in_chans", "img_size")
_BUILTIN_MODULES = ("imgrec.models.small", "imgrec.models.resnet", "imgrec.models.vit")


def register_model(fn: Builder) -> Builder:
    """Register ``fn`` under its ``__name__``; a name can be registered only once."""
    name = fn.__name__
    if name in _REGISTRY:
        raise ModelError(f"model name '{name}' is already registered; pick another name.")
    missing = [p for p in _COMMON if p not in inspect.signature(fn).parameters]
    if missing:
        raise ModelError(f"builder '{name}' must take keyword-only parameters {missing}.")
    _REGISTRY[name] = fn
    return fn


def _builtins() -> dict[str, Builder]:
    for module in _BUILTIN_MODULES:  # their @register_model decorators fill _REGISTRY
        importlib.import_module(module)
    return _REGISTRY


def list_models(pattern: str | None = None) -> list[str]:
    """Built-in names matching the fnmatch ``pattern`` (all when ``None``), sorted; a pattern
    starting with ``tv:`` or ``timm:`` lists that library's classifiers (``"timm:*resnet*"``)."""
    prefix = pattern.partition(":")[0] if pattern and ":" in pattern else None
    names = external.list_names(prefix) if prefix else sorted(_builtins())
    return [n for n in names if pattern is None or fnmatch.fnmatchcase(n, pattern)]


def model_options(name: str) -> dict[str, Any]:
    """The options of model ``name`` and their defaults (what ``**options`` may contain)."""
    if ":" in name:
        return external.constructor_options(name)
    return {
        p.name: p.default
        for p in inspect.signature(_builder(name)).parameters.values()
        if p.kind is p.KEYWORD_ONLY and p.name not in _COMMON
    }


def create_model(
    name: str, *, num_classes: int, in_chans: int = 3, img_size: int = 224,
    weights: str | Path | None = None, pretrained: bool = False, offline: bool = False,
    cache_dir: Path | None = None, **options: Any,
) -> ImageClassifier:  # fmt: skip
    """Build ``name`` with ``num_classes`` outputs for ``in_chans`` x ``img_size`` images.

    Args:
        weights: a local weights file (``.safetensors`` or a ``.pt/.pth/.bin`` state dict); for
            ``tv:`` models also a torchvision weights name such as ``"IMAGENET1K_V1"``.
        pretrained: start from the library's published weights (``tv:``/``timm:`` only).
            Starting from weights, a classifier head that does not come with them (another
            number of classes, or none in the file) is new, with its logits layer at zero; the
            returned model's ``load_report`` says what was loaded and which head is new.
        offline: never download; weights missing from the cache raise at once.
        cache_dir: the library weights cache to use instead of the library's default.
        options: builder options, see :func:`model_options`.

    Raises:
        ModelError: unknown name or option, an option of the wrong type, or unusable weights.
    """
    if ":" in name:
        model = external.create(
            name, num_classes=num_classes, in_chans=in_chans, img_size=img_size, weights=weights,
            pretrained=pretrained, offline=offline, cache_dir=cache_dir, options=options,
        )  # fmt: skip
    else:
        builder = _builder(name)
        options = _builtin_options(name, weights=weights, pretrained=pretrained, options=options)
        model = builder(num_classes=num_classes, in_chans=in_chans, img_size=img_size, **options)
        if weights is not None:
            from imgrec.models.weights import load_weights

            model.load_report = load_weights(model, Path(weights))
    model.architecture = name
    model.options = json.loads(json.dumps(options | model.options))  # builder-resolved win
    return model


def check_model(
    name: str,
    *,
    weights: str | Path | None = None,
    pretrained: bool = False,
    offline: bool = False,
    cache_dir: Path | None = None,
    options: Mapping[str, Any] | None = None,
) -> None:
    """What :func:`create_model` would refuse, found without building the model or reading
    data: an unknown name (the nearest one named), an unknown or mistyped option,
    ``pretrained`` without published weights (``tv:``/``timm:`` ``offline``: weights not in the
    cache), a weights file that is missing or cannot be opened (it is not loaded).

    Raises:
        ModelError: what :func:`create_model` would raise for the same arguments.
    """
    options = dict(options or {})
    if ":" in name:
        external.check(
            name, weights=weights, pretrained=pretrained, offline=offline, cache_dir=cache_dir,
            options=options,
        )  # fmt: skip
        return
    _builtin_options(name, weights=weights, pretrained=pretrained, options=options)
    if weights is not None:
        from imgrec.models.weights import check_weights_file

        check_weights_file(weights)


def _builtin_options(
    name: str, *, weights: str | Path | None, pretrained: bool, options: Mapping[str, Any]
) -> dict[str, Any]:
    """The built-in model ``name``'s options, checked and with its defaults filled in."""
    builder, defaults = _builder(name), model_options(name)
    if pretrained and weights is None:
        raise ModelError(
            f"model '{name}' has no published pretrained weights; train it, or pass a local "
            "weights file with --weights PATH."
        )
    if unknown := sorted(set(options) - set(defaults)):
        raise ModelError(f"unknown option(s) {unknown} for model '{name}'; valid options "
                         f"(with defaults): {defaults}.")  # fmt: skip
    hints = typing.get_type_hints(builder)
    return defaults | {k: _coerce(name, k, v, hints[k]) for k, v in options.items()}


def _builder(name: str) -> Builder:
    registry = _builtins()
    if name not in registry:
        near = difflib.get_close_matches(name, list(registry), n=1)
        hint = f" Did you mean '{near[0]}'?" if near else ""
        raise ModelError(
            f"unknown model '{name}'.{hint} Valid names: {', '.join(sorted(registry))}, "
            "or tv:<torchvision model> / timm:<timm model>."
        )
    return registry[name]


def _coerce(model: str, key: str, value: Any, hint: Any) -> Any:
    """``value`` checked against the type hint ``hint`` (lists become tuples, ints floats)."""
    origin, args = typing.get_origin(hint), typing.get_args(hint)
    if origin in (typing.Union, types.UnionType):
        for arm in args:
            try:
                return _coerce(model, key, value, arm)
            except ModelError:
                continue
    elif origin is tuple and isinstance(value, list | tuple):
        arms = [args[0]] * len(value) if args[-1:] == (Ellipsis,) else list(args)
        if len(arms) == len(value):
            return tuple(_coerce(model, key, v, a) for v, a in zip(value, arms, strict=True))
    elif (hint is type(None) and value is None) or hint is Any:
        return value
    elif hint is float and isinstance(value, int | float) and not isinstance(value, bool):
        return float(value)
    elif hint in (int, str, bool) and type(value) is hint:
        return value
    shown = getattr(hint, "__name__", None) or str(hint).replace("typing.", "")
    raise ModelError(
        f"option '{key}' of model '{model}' must be {shown}, got {type(value).__name__} {value!r}."
    )
