"""Search spaces written as bounds people understand, checked before any trial runs.

A space is a YAML mapping. Each searched parameter is a range, a list of choices or one value::

    lr: {low: 1.0e-4, high: 1.0e-2, log: true}   # a range (log-uniform)
    batch_size: [32, 64, 128]                     # choices
    epochs: 10                                    # fixed: the most epochs a trial may train
    model: [simple_cnn, resnet18]                 # names from `imgrec models`
    fixed:                                        # any other config key, same for every trial
      train.scheduler: cosine

Ranges take ``low``, ``high``, optional ``log`` and ``step``. Anything wrong (an unknown
parameter, an empty choice list, ``low > high``, a value the config refuses) is a
:class:`~imgrec.errors.ConfigError` that names the parameter.
"""

from __future__ import annotations

import difflib
import math
from collections.abc import Mapping, Set
from dataclasses import dataclass, field
from typing import Any

from imgrec.config import RunConfig, build_config
from imgrec.errors import ConfigError, ImgrecError

__all__ = ["DEFAULT_SPACE", "SEARCHABLE", "Param", "SearchSpace", "default_space", "parse_space"]

# searchable name -> (config key, value type)
SEARCHABLE: dict[str, tuple[str, type]] = {
    "lr": ("train.lr", float),
    "batch_size": ("train.batch_size", int),
    "epochs": ("train.epochs", int),
    "weight_decay": ("train.weight_decay", float),
    "optimizer": ("train.optimizer", str),
    "momentum": ("train.momentum", float),
    "scheduler": ("train.scheduler", str),
    "warmup_epochs": ("train.warmup_epochs", float),
    "model": ("model.name", str),
    "img_size": ("data.img_size", int),
    "augment": ("train.augment", str),
    "label_smoothing": ("train.label_smoothing", float),
    "mixup": ("train.mixup", float),
    "cutmix": ("train.cutmix", float),
    "freeze_epochs": ("model.freeze_epochs", int),
}

# What a search uses when the user gives only the dataset.
DEFAULT_SPACE: dict[str, Any] = {
    "lr": {"low": 1e-4, "high": 1e-2, "log": True},
    "batch_size": [32, 64, 128],
    "weight_decay": {"low": 1e-5, "high": 1e-1, "log": True},
    "optimizer": ["adamw", "sgd"],
    "label_smoothing": {"low": 0.0, "high": 0.2},
    "augment": ["none", "light"],
    "epochs": 10,
}


@dataclass(frozen=True)
class Param:
    """One searched parameter: ``choices``, or a ``low``..``high`` range, or a fixed ``value``."""

    name: str
    kind: str  # "range", "choice" or "fixed"
    low: float | None = None
    high: float | None = None
    log: bool = False
    step: float | None = None
    choices: tuple[Any, ...] = ()
    value: Any = None

    def to_dict(self) -> dict[str, Any]:
        if self.kind == "fixed":
            return {"value": self.value}
        if self.kind == "choice":
            return {"choices": list(self.choices)}
        out: dict[str, Any] = {"low": self.low, "high": self.high, "log": self.log}
        return out | ({"step": self.step} if self.step is not None else {})


@dataclass
class SearchSpace:
    """Validated parameters plus fixed config keys."""

    params: dict[str, Param]
    fixed: dict[str, Any] = field(default_factory=dict)

    @property
    def searched(self) -> dict[str, Param]:
        return {k: p for k, p in self.params.items() if p.kind != "fixed"}

    @property
    def max_epochs(self) -> int | None:
        epochs = self.params.get("epochs")
        if epochs is None:
            return None
        return int(epochs.value if epochs.kind == "fixed" else epochs.high or epochs.choices[-1])

    def to_dict(self) -> dict[str, Any]:
        return {"params": {k: p.to_dict() for k, p in self.params.items()}, "fixed": self.fixed}

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> SearchSpace:
        """Inverse of :meth:`to_dict` (what the experiment row stores)."""
        raw: dict[str, Any] = {}
        for name, spec in data.get("params", {}).items():
            raw[name] = spec["value"] if "value" in spec else spec.get("choices", spec)
        return parse_space(raw | {"fixed": data.get("fixed", {})}, origin="stored experiment")

    def suggest(self, trial: Any) -> dict[str, Any]:
        """Ask an Optuna trial for a value of every searched parameter."""
        values: dict[str, Any] = {}
        for name, p in self.searched.items():
            if p.kind == "choice":
                values[name] = trial.suggest_categorical(name, list(p.choices))
            elif SEARCHABLE[name][1] is int:
                assert p.low is not None and p.high is not None
                step = int(p.step or 1)
                values[name] = trial.suggest_int(
                    name, int(p.low), int(p.high), step=step, log=p.log
                )
            else:
                assert p.low is not None and p.high is not None
                values[name] = trial.suggest_float(name, p.low, p.high, step=p.step, log=p.log)
        return values

    def config_overrides(self, values: Mapping[str, Any]) -> dict[str, Any]:
        """Dotted config keys for one trial's parameter values (plus the fixed keys)."""
        out = dict(self.fixed)
        for name, value in values.items():
            out[SEARCHABLE[name][0]] = value
        for name, param in self.params.items():
            if param.kind == "fixed":
                out[SEARCHABLE[name][0]] = param.value
        return out


# Detection, segmentation and instance segmentation train slower per image and have no label
# smoothing or mixup: smaller batches, fewer knobs.
DETECT_DEFAULT_SPACE: dict[str, Any] = {
    "lr": {"low": 3e-4, "high": 1e-2, "log": True},
    "batch_size": [8, 16],
    "weight_decay": {"low": 1e-5, "high": 1e-1, "log": True},
    "optimizer": ["adamw", "sgd"],
    "epochs": 10,
}


def default_space(*, user_keys: Set[str] = frozenset(), task: str = "classify") -> dict[str, Any]:
    """The task's default space minus the parameters whose config key the user set themselves."""
    space = DEFAULT_SPACE if task == "classify" else DETECT_DEFAULT_SPACE
    return {k: v for k, v in space.items() if SEARCHABLE[k][0] not in user_keys}


def parse_space(raw: Mapping[str, Any] | None, *, origin: str = "search space") -> SearchSpace:
    """Validate a space mapping (``None`` or empty: :data:`DEFAULT_SPACE`)."""
    if not raw:
        raw = DEFAULT_SPACE
    if not isinstance(raw, Mapping):
        raise ConfigError(f"{origin}: the top level must be a mapping of parameters.")
    params: dict[str, Param] = {}
    fixed = raw.get("fixed") or {}
    if not isinstance(fixed, Mapping):
        raise ConfigError(f"{origin}: 'fixed' must be a mapping of config keys to values.")
    for name, spec in raw.items():
        if name == "fixed":
            continue
        if name not in SEARCHABLE:
            near = difflib.get_close_matches(str(name), list(SEARCHABLE), n=1, cutoff=0.5)
            hint = f" Did you mean '{near[0]}'?" if near else ""
            raise ConfigError(
                f"{origin}: unknown search parameter '{name}'.{hint} Searchable: "
                f"{', '.join(SEARCHABLE)}; other config keys go under 'fixed:'."
            )
        params[name] = _parse_param(str(name), spec, origin)
    space = SearchSpace(params=params, fixed=dict(fixed))
    _check_against_config(space, origin)
    return space


def _parse_param(name: str, spec: Any, origin: str) -> Param:
    where = f"{origin}: parameter '{name}'"
    kind = SEARCHABLE[name][1]
    if isinstance(spec, list | tuple):
        if not spec:
            raise ConfigError(f"{where} has an empty choice list; give at least one value.")
        if len(set(map(repr, spec))) != len(spec):
            raise ConfigError(f"{where} lists a choice twice: {list(spec)}.")
        return Param(name, "choice", choices=tuple(_typed(where, kind, v) for v in spec))
    if isinstance(spec, Mapping):
        unknown = set(spec) - {"low", "high", "log", "step"}
        if unknown or "low" not in spec or "high" not in spec:
            raise ConfigError(
                f"{where}: a range needs 'low' and 'high' (optional 'log', 'step'); "
                f"got keys {sorted(spec)}."
            )
        if kind is str:
            raise ConfigError(f"{where} takes a list of choices, not a range.")
        low, high = _typed(where, kind, spec["low"]), _typed(where, kind, spec["high"])
        log, step = bool(spec.get("log", False)), spec.get("step")
        if low > high:
            raise ConfigError(f"{where}: low ({low}) is greater than high ({high}).")
        if log and low <= 0:
            raise ConfigError(f"{where}: a log range needs low > 0 (got {low}).")
        if step is not None and (log or float(step) <= 0):
            raise ConfigError(f"{where}: 'step' must be positive and cannot go with 'log'.")
        return Param(name, "range", low=low, high=high, log=log, step=step)
    return Param(name, "fixed", value=_typed(where, kind, spec))


def _typed(where: str, kind: type, value: Any) -> Any:
    if kind is str:
        if not isinstance(value, str):
            raise ConfigError(f"{where}: {value!r} must be a name (text).")
        return value
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise ConfigError(f"{where}: {value!r} is not a number.")
    if kind is int:
        if float(value) != math.floor(float(value)):
            raise ConfigError(f"{where}: {value!r} must be a whole number.")
        return int(value)
    return float(value)


def _check_against_config(space: SearchSpace, origin: str) -> None:
    """Every extreme and choice must make a valid run config; model names must exist."""
    from imgrec.models.registry import model_options

    base: RunConfig = build_config((f"{origin} (fixed)", space.fixed))
    for name, param in space.params.items():
        values = (
            [param.value]
            if param.kind == "fixed"
            else list(param.choices) or [param.low, param.high]
        )
        for value in values:
            try:
                build_config(
                    (f"{origin}: parameter '{name}'", {SEARCHABLE[name][0]: value}), base=base
                )
                if name == "model":
                    model_options(str(value))
            except ImgrecError as exc:
                raise ConfigError(f"{origin}: parameter '{name}' value {value!r}: {exc}") from exc
