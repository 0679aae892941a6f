"""Validated configuration: one object describes a run.

Precedence: defaults < YAML file < CLI flags < keyword arguments (the last wins). Keys can be given
nested (``{"train": {"epochs": 5}}``), dotted (``"train.epochs"``) or flat (``epochs``) when the
flat name is unambiguous. An unknown key is a :class:`ConfigError` that names the nearest valid key.
"""

from __future__ import annotations

import difflib
from collections.abc import Mapping
from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from imgrec.errors import ConfigError

__all__ = [
    "DataConfig",
    "ModelConfig",
    "RunConfig",
    "Settings",
    "TrainConfig",
    "build_config",
    "dotted_keys",
    "flat_keys",
    "load_yaml",
]


class _Section(BaseModel):
    model_config = ConfigDict(extra="forbid", validate_assignment=True, protected_namespaces=())


class DataConfig(_Section):
    """Where the images are and how they become tensors."""

    path: str | None = Field(None, description="Folder, zip or CSV/TSV of images.")
    img_size: int = Field(64, ge=8, le=2048, description="Square input size in pixels.")
    resize_mode: Literal["squash", "crop"] = "squash"
    val_fraction: float = Field(0.15, ge=0.0, lt=1.0)
    test_fraction: float = Field(0.15, ge=0.0, lt=1.0)
    split_seed: int = 0
    cache: bool = Field(True, description="Keep decoded, resized images on disk and in memory.")
    num_workers: int | None = Field(None, ge=0, description="DataLoader workers; None = auto.")
    balanced_sampler: bool = Field(False, description="Sample classes equally often.")

    @model_validator(mode="after")
    def _fractions_leave_training_data(self) -> DataConfig:
        if self.val_fraction + self.test_fraction >= 0.9:
            raise ValueError("val_fraction + test_fraction must leave at least 10% for training")
        return self


class ModelConfig(_Section):
    """Which network, with which options and starting weights."""

    name: str = Field("simple_cnn", description="A name from `imgrec models`.")
    options: dict[str, Any] = Field(default_factory=dict)
    weights: str | None = Field(
        None, description="Local .safetensors/.pt state dict to start from."
    )
    pretrained: bool = Field(False, description="torchvision/timm published weights (tv:, timm:).")
    freeze_epochs: int = Field(0, ge=0, description="Train only the head for this many epochs.")
    backbone_lr_scale: float = Field(0.1, gt=0.0, le=1.0)


class TrainConfig(_Section):
    """How the network is trained."""

    epochs: int = Field(10, ge=1)
    batch_size: int = Field(64, ge=1)
    optimizer: Literal["adamw", "sgd"] = "adamw"
    lr: float = Field(1e-3, gt=0.0)
    weight_decay: float = Field(0.01, ge=0.0)
    momentum: float = Field(0.9, ge=0.0, lt=1.0)
    scheduler: Literal["cosine", "onecycle", "none"] = "cosine"
    warmup_epochs: float = Field(0.0, ge=0.0)
    label_smoothing: float = Field(0.0, ge=0.0, lt=1.0)
    mixup: float = Field(0.0, ge=0.0, description="Mixup alpha (0 = off).")
    cutmix: float = Field(0.0, ge=0.0, description="CutMix alpha (0 = off).")
    augment: Literal["none", "light", "randaugment", "trivialaugment"] = "light"
    hflip: bool = Field(True, description="Random horizontal flips in 'light' augmentation.")
    class_weights: bool = Field(False, description="Weight the loss by inverse class frequency.")
    loss: Literal["auto", "ce", "dice", "ce+dice", "focal"] = Field(
        "auto", description="Segmentation loss (auto = ce); other tasks use their own."
    )
    precision: Literal["auto", "32", "bf16", "16"] = "auto"
    channels_last: bool | None = Field(None, description="None = on for CUDA and CPU.")
    early_stopping_patience: int | None = Field(None, ge=1)
    monitor: str | None = Field(
        None, description="Metric for best weights and early stopping; None = the task's default."
    )
    seed: int = 0
    deterministic: bool = False
    device: Literal["auto", "cpu", "cuda", "mps"] = "auto"
    devices: int | str = Field("auto", description="GPUs per machine (Lightning `devices`).")
    strategy: str = Field("auto", description="Lightning strategy, e.g. 'ddp'.")
    num_nodes: int = Field(1, ge=1)
    threads: int | None = Field(None, ge=1, description="CPU threads for torch; None = all.")

    @model_validator(mode="after")
    def _warmup_within_training(self) -> TrainConfig:
        if self.warmup_epochs >= self.epochs and self.warmup_epochs > 0:
            raise ValueError("warmup_epochs must be smaller than epochs")
        return self


class RunConfig(_Section):
    """A whole run: task, data, model, training, and where its directory goes."""

    task: Literal["classify", "detect", "segment", "instance"] = Field(
        "classify", description="What is learned; inferred from the data's layout when not set."
    )
    data: DataConfig = Field(default_factory=DataConfig)
    model: ModelConfig = Field(default_factory=ModelConfig)
    train: TrainConfig = Field(default_factory=TrainConfig)
    out: str = Field("runs", description="Folder that receives the run directory.")
    name: str | None = Field(None, description="Run directory name; default <model>-<time>.")

    def to_yaml(self) -> str:
        return yaml.safe_dump(self.model_dump(mode="json"), sort_keys=False)


_SECTIONS: dict[str, type[_Section]] = {
    "data": DataConfig,
    "model": ModelConfig,
    "train": TrainConfig,
}
_FLAT_ALIASES = {"model": "model.name", "weights": "model.weights"}


def flat_keys() -> dict[str, str]:
    """Every accepted flat key mapped to its dotted key (``"epochs" -> "train.epochs"``)."""
    mapping: dict[str, str] = {}
    for section, cls in _SECTIONS.items():
        for field in cls.model_fields:
            mapping.setdefault(field, f"{section}.{field}")
    mapping.update(_FLAT_ALIASES)
    for top in ("task", "out", "name"):
        mapping[top] = top
    return mapping


def _valid_dotted() -> list[str]:
    keys = ["task", "out", "name"]
    for section, cls in _SECTIONS.items():
        keys += [f"{section}.{f}" for f in cls.model_fields]
    return keys


def _unknown(key: str, origin: str) -> ConfigError:
    candidates = _valid_dotted() + list(flat_keys())
    near = difflib.get_close_matches(key, candidates, n=1, cutoff=0.5)
    hint = f" Did you mean '{near[0]}'?" if near else ""
    return ConfigError(f"unknown key '{key}' in {origin}.{hint} Valid keys: `imgrec config keys`.")


def _set_dotted(tree: dict[str, Any], dotted: str, value: Any, origin: str) -> None:
    parts = dotted.split(".")
    if parts[0] in _SECTIONS:
        section = _SECTIONS[parts[0]]
        if len(parts) == 1:
            if not isinstance(value, Mapping) and dotted in _FLAT_ALIASES:
                _set_dotted(tree, _FLAT_ALIASES[dotted], value, origin)
                return
            if not isinstance(value, Mapping):
                raise ConfigError(f"key '{dotted}' in {origin} must be a mapping of its fields.")
            for sub, sub_value in value.items():
                _set_dotted(tree, f"{dotted}.{sub}", sub_value, origin)
            return
        field = parts[1]
        if field not in section.model_fields:
            raise _unknown(dotted, origin)
        if field == "options" and len(parts) > 2:
            tree.setdefault(parts[0], {}).setdefault("options", {})[".".join(parts[2:])] = value
            return
        if len(parts) > 2:
            raise _unknown(dotted, origin)
        tree.setdefault(parts[0], {})[field] = value
        return
    if len(parts) == 1 and dotted in {"task", "out", "name"}:
        tree[dotted] = value
        return
    flat = flat_keys()
    if len(parts) == 1 and dotted in flat:
        _set_dotted(tree, flat[dotted], value, origin)
        return
    raise _unknown(dotted, origin)


def _merge(tree: dict[str, Any], overrides: Mapping[str, Any], origin: str) -> None:
    for key, value in overrides.items():
        if value is None and key not in {"name", "weights", "data.path", "path"}:
            continue
        if key == "model" and isinstance(value, Mapping):
            _set_dotted(tree, "model", value, origin)
        else:
            _set_dotted(tree, str(key), value, origin)


def dotted_keys(mapping: Mapping[str, Any]) -> set[str]:
    """The dotted config keys a (nested, dotted or flat) mapping sets."""
    tree: dict[str, Any] = {}
    _merge(tree, mapping, "keys")
    out: set[str] = {k for k in ("task", "out", "name") if k in tree}
    for section in _SECTIONS:
        out |= {f"{section}.{field}" for field in tree.get(section, {})}
    return out


def load_yaml(path: str | Path) -> dict[str, Any]:
    """Read a YAML config file into a dict (no validation yet)."""
    file = Path(path)
    try:
        data = yaml.safe_load(file.read_text())
    except FileNotFoundError as exc:
        raise ConfigError(f"{file}: config file not found.") from exc
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" line {mark.line + 1}" if mark is not None else ""
        raise ConfigError(f"{file}{where}: not valid YAML ({exc}).") from exc
    if data is None:
        return {}
    if not isinstance(data, dict):
        raise ConfigError(
            f"{file}: the top level must be a mapping of keys, not {type(data).__name__}."
        )
    return data


def build_config(
    *layers: tuple[str, Mapping[str, Any]],
    base: RunConfig | None = None,
) -> RunConfig:
    """Merge ``(origin, mapping)`` layers over ``base`` (or defaults) and validate.

    Example:
        >>> build_config(("cfg.yaml", {"train": {"epochs": 3}}), ("flags", {"lr": 0.01}))
    """
    tree: dict[str, Any] = base.model_dump(mode="python") if base is not None else {}
    for origin, mapping in layers:
        _merge(tree, mapping, origin)
    try:
        return RunConfig.model_validate(tree)
    except ValidationError as exc:
        first = exc.errors()[0]
        key = ".".join(str(p) for p in first["loc"]) or "(top level)"
        origins = ", ".join(o for o, _ in layers) or "defaults"
        raise ConfigError(
            f"invalid value for '{key}' (from {origins}): {first['msg']}"
            + (f" (got {first['input']!r})" if "input" in first and key != "(top level)" else "")
        ) from exc


class Settings(BaseSettings):
    """Environment settings (``IMGREC_*``): the only place imgrec reads the environment."""

    model_config = SettingsConfigDict(env_prefix="IMGREC_", extra="ignore")

    home: Path = Field(default_factory=lambda: Path.home() / ".imgrec")
    offline: bool = Field(False, description="Never try to download weights.")
    device: Literal["auto", "cpu", "cuda", "mps"] = Field(
        "auto", description="Device used when a run or command says 'auto'."
    )
    run_dir: Path | None = Field(
        None, description="Set by imgrec for DDP worker processes: the run directory to join."
    )
    db_url: str | None = Field(
        None, description="Run database URL (sqlite:///... or postgresql://...); default SQLite."
    )
    heartbeat_s: float = Field(
        10.0, gt=0, description="Seconds between a running run's heartbeats in the database."
    )
    heartbeat_grace_s: float = Field(
        60.0, gt=0, description="A run silent for this long is marked failed (its worker died)."
    )
    max_image_pixels: int | None = Field(
        None,
        gt=0,
        description="Largest image accepted, in pixels; default Pillow's limit (89,478,485). "
        "Images above Pillow's limit (up to twice it, Pillow's hard limit) are decoded reduced, "
        "at most 4096 px on the longer side.",
    )

    token: str | None = Field(
        None, description="Secret for the web API and pages; required to bind a non-loopback host."
    )
    max_upload_mb: int = Field(
        2048, gt=0, description="Largest dataset upload the web server accepts, in MiB."
    )

    @property
    def database_url(self) -> str:
        """``IMGREC_DB_URL``, or the SQLite database ``IMGREC_HOME/imgrec.db``."""
        return self.db_url or f"sqlite:///{self.home / 'imgrec.db'}"

    @property
    def cache_dir(self) -> Path:
        return self.home / "cache"

    @property
    def datasets_dir(self) -> Path:
        """Where zips are extracted and IDX sets are materialised."""
        return self.home / "datasets"
