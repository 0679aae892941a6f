"""The functions behind the command line, the worker and notebooks.

>>> import imgrec
>>> result = imgrec.train("shapes/", model="simple_cnn", epochs=5, img_size=32)
>>> imgrec.load(result.run_dir).predict(["new.png"])
"""

from __future__ import annotations

import sys
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from imgrec.config import RunConfig, Settings, build_config, load_yaml
from imgrec.errors import ConfigError, RunError

__all__ = [
    "TrainResult",
    "check_data",
    "evaluate",
    "export_idx",
    "load",
    "predict",
    "synth_data",
    "train",
]

# Keys a resumed run may change; everything else must stay as the run started.
RESUMABLE_KEYS = frozenset(
    {
        "epochs",
        "train.epochs",
        "early_stopping_patience",
        "train.early_stopping_patience",
        "device",
        "train.device",
        "threads",
        "train.threads",
        "num_workers",
        "data.num_workers",
    }
)


@dataclass
class TrainResult:
    """What :func:`train` hands back."""

    run_dir: Path
    metrics: dict[str, Any]
    config: RunConfig

    @property
    def accuracy(self) -> float:
        return float(self.metrics["accuracy"])


def _config_layers(
    data: str | Path | None,
    config: str | Path | Mapping[str, Any] | None,
    overrides: Mapping[str, Any],
) -> list[tuple[str, Mapping[str, Any]]]:
    layers: list[tuple[str, Mapping[str, Any]]] = []
    if isinstance(config, str | Path):
        layers.append((str(config), load_yaml(config)))
    elif config is not None:
        layers.append(("config", config))
    if overrides:
        layers.append(("arguments", overrides))
    if data is not None:
        layers.append(("arguments", {"data.path": str(data)}))
    return layers


def resolve_train_config(
    data: str | Path | None = None,
    *,
    config: str | Path | Mapping[str, Any] | None = None,
    resume: str | Path | None = None,
    **overrides: Any,
) -> tuple[RunConfig, Path | None]:
    """The run's config (and the run directory when resuming)."""
    if resume is None:
        cfg = build_config(*_config_layers(data, config, overrides))
        if cfg.data.path is None:
            raise ConfigError("no dataset given: pass a folder, zip or CSV (data.path).")
        return cfg, None
    from imgrec.engine.rundir import CONFIG_FILE

    run_dir = Path(resume)
    saved = run_dir / CONFIG_FILE
    if not saved.is_file():
        raise RunError(f"{run_dir}: not a run directory ({CONFIG_FILE} missing); cannot resume.")
    refused = sorted(k for k, v in overrides.items() if v is not None and k not in RESUMABLE_KEYS)
    if refused or config is not None or data is not None:
        names = ", ".join(refused) or "config/data"
        raise ConfigError(
            f"cannot change {names} when resuming {run_dir}; a resumed run keeps its config. "
            f"Only these may change: {', '.join(sorted(RESUMABLE_KEYS))}."
        )
    base = build_config((str(saved), load_yaml(saved)))
    return build_config(("arguments", overrides), base=base), run_dir


def train(
    data: str | Path | None = None,
    *,
    config: str | Path | Mapping[str, Any] | None = None,
    resume: str | Path | None = None,
    show_progress: bool = True,
    **overrides: Any,
) -> TrainResult:
    """Train, evaluate and save a model; returns the run directory and its metrics.

    Args:
        data: Folder, zip or CSV of images (``data.path``).
        config: A YAML file or a mapping; keyword overrides win over it.
        resume: A run directory to continue (only epochs, patience and device may change).
        show_progress: Print progress with ETA to stderr.
        **overrides: Any config key, flat (``epochs=5``) or dotted (``"train.lr": 0.01``).
    """
    from imgrec.engine.runner import run_training

    settings = Settings()
    cfg, run_dir = resolve_train_config(data, config=config, resume=resume, **overrides)
    if cfg.train.device == "auto":
        cfg.train.device = settings.device
    run_dir, metrics = run_training(
        cfg, settings=settings, run_dir=run_dir, show_progress=show_progress
    )
    return TrainResult(run_dir=run_dir, metrics=metrics, config=cfg)


def load(run_dir: str | Path, *, device: str = "auto") -> Any:
    """A :class:`imgrec.engine.predictor.Predictor` for a run directory."""
    from imgrec.engine.predictor import Predictor

    return Predictor.from_run_dir(run_dir, device=_device(device))


def _device(requested: str) -> str:
    """``"auto"`` defers to ``IMGREC_DEVICE`` (itself ``"auto"`` unless set)."""
    return Settings().device if requested == "auto" else requested


def predict(
    run_dir: str | Path,
    inputs: Sequence[Any],
    *,
    top_k: int = 5,
    batch_size: int = 64,
    device: str = "auto",
) -> list[Any]:
    """Predict files, folders (expanded), PIL images or arrays with the model in ``run_dir``."""
    from imgrec.engine.predictor import expand_inputs

    predictor = load(run_dir, device=device)
    items: list[Any] = []
    paths = [i for i in inputs if isinstance(i, str | Path)]
    items += expand_inputs(paths)
    items += [i for i in inputs if not isinstance(i, str | Path)]
    return list(predictor.predict(items, top_k=top_k, batch_size=batch_size))


def evaluate(
    run_dir: str | Path,
    *,
    data: str | Path | None = None,
    split: str = "test",
    out: str | Path | None = None,
    device: str = "auto",
    show_progress: bool = True,
) -> dict[str, Any]:
    """Re-evaluate a trained model on its own test split or on another dataset.

    The other dataset's class names must be classes the model knows; the report is written to
    ``out`` (default ``RUN_DIR/eval-<name>``) and returned.
    """
    from imgrec.engine.reevaluate import reevaluate

    return reevaluate(
        Path(run_dir),
        data=Path(data) if data is not None else None,
        split=split,
        out=Path(out) if out is not None else None,
        settings=Settings(),
        device=_device(device),
        stream=sys.stderr if show_progress else None,
    )


def check_data(
    path: str | Path,
    *,
    val_fraction: float = 0.15,
    test_fraction: float = 0.15,
    split_seed: int = 0,
    progress: bool = True,
) -> Any:
    """Ingest, split and validate a dataset; returns the :class:`DataReport` (never raises for
    an unusable dataset: the report's ``errors`` say why)."""
    from imgrec.data.ingest import ingest
    from imgrec.data.split import assign_splits
    from imgrec.data.validate import check_dataset
    from imgrec.errors import DatasetError
    from imgrec.progress import TextProgress

    settings = Settings()
    manifest = ingest(
        path,
        extract_root=settings.datasets_dir,
        progress=TextProgress("reading images") if progress else None,
    )
    try:
        if manifest.samples and manifest.num_classes > 1:
            manifest = assign_splits(
                manifest, val_fraction=val_fraction, test_fraction=test_fraction, seed=split_seed
            )
    except DatasetError as exc:
        report = check_dataset(manifest)
        report.errors.append(str(exc))
        return report
    return check_dataset(manifest)


def synth_data(
    out: str | Path,
    *,
    task: str = "classify",
    per_class: int = 100,
    img_size: int = 64,
    classes: str | Sequence[str] | None = None,
    splits: bool = False,
    seed: int = 0,
) -> Path:
    """Write the synthetic shapes dataset to ``out``."""
    from imgrec.data.synth import DEFAULT_CLASSES, write_shapes_dataset

    if task != "classify":
        raise ConfigError(f"task '{task}': only 'classify' datasets can be generated so far.")
    names = classes.split(",") if isinstance(classes, str) else classes
    return write_shapes_dataset(
        Path(out),
        task="classify",
        per_class=per_class,
        img_size=img_size,
        classes=[n.strip() for n in names] if names else DEFAULT_CLASSES,
        seed=seed,
        splits=splits,
    )


def export_idx(source: str | Path, out: str | Path) -> Path:
    """Convert IDX files (MNIST, Fashion-MNIST) to split/class folders of PNGs."""
    from imgrec.data.idx import export_idx_folder
    from imgrec.progress import TextProgress

    return export_idx_folder(Path(source), Path(out), progress=TextProgress("writing PNGs"))
