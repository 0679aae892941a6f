"""One training run from config to run directory: data, model, fit, evaluation, artifacts."""

from __future__ import annotations

import contextlib
import importlib
import math
import os
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import torch

from imgrec.config import RunConfig, Settings
from imgrec.data.augment import sample_policy
from imgrec.data.loaders import ArrayDataset, make_loader
from imgrec.data.manifest import Split
from imgrec.data.prepare import PreparedData, prepare_dataset
from imgrec.engine.devices import resolve_accelerator, use_channels_last
from imgrec.engine.evaluate import evaluate_classifier
from imgrec.engine.fit import BEST_WEIGHTS, CHECKPOINT, FitResult, fit
from imgrec.engine.observer import RunObserver
from imgrec.engine.rundir import (
    CONFIG_FILE,
    SPLITS_FILE,
    new_run_dir,
    now_iso,
    read_run_status,
    update_run_status,
    write_splits,
)
from imgrec.errors import ConfigError, RunError, RunStoppedError
from imgrec.evaluation.writers import write_history_csv, write_json
from imgrec.models.card import IMAGENET_MEAN, IMAGENET_STD, ModelCard, Preprocessing
from imgrec.models.registry import create_model
from imgrec.models.weights import save_weights
from imgrec.progress import TextProgress
from imgrec.tasks.classify import ClassificationTask, inverse_frequency_weights
from imgrec.tasks.registry import get_task

__all__ = ["dataset_mean_std", "run_classification", "run_training", "was_interrupted"]


def dataset_mean_std(
    images: np.ndarray, *, max_images: int = 5000
) -> tuple[list[float], list[float]]:
    """Per-channel mean and std in [0, 1] of (a seeded sample of) ``(N, H, W, 3)`` uint8 images."""
    rng = np.random.default_rng(0)
    pick = rng.choice(len(images), size=min(len(images), max_images), replace=False)
    sample = np.asarray(images[np.sort(pick)], dtype=np.float64) / 255.0
    mean = sample.mean(axis=(0, 1, 2))
    std = np.maximum(sample.std(axis=(0, 1, 2)), 1e-3)
    return [round(float(v), 4) for v in mean], [round(float(v), 4) for v in std]


def _num_workers(cfg: RunConfig) -> int:
    if cfg.data.num_workers is not None:
        return cfg.data.num_workers
    # Whole-batch fetches from memory need no workers; per-image policies do.
    return 0 if sample_policy(cfg.train.augment) is None else 2


def run_training(
    cfg: RunConfig,
    *,
    settings: Settings,
    run_dir: Path | None = None,
    show_progress: bool = True,
    observer: RunObserver | None = None,
) -> tuple[Path, dict[str, Any]]:
    """Train and evaluate; ``run_dir`` given means resume that run. Returns (run_dir, metrics).

    The task named by ``cfg.task`` says which training entry runs (its ``runner``); the engine
    names no task. ``observer`` (rank 0 only) hears the start, every epoch and the end, also of
    a run that fails while its data is read.
    """
    task = get_task(cfg.task)
    module, _, function = task.runner.partition(":")
    entry = getattr(importlib.import_module(module), function)
    result: tuple[Path, dict[str, Any]] = entry(
        cfg, settings=settings, run_dir=run_dir, show_progress=show_progress, observer=observer
    )
    return result


def run_classification(
    cfg: RunConfig,
    *,
    settings: Settings,
    run_dir: Path | None = None,
    show_progress: bool = True,
    observer: RunObserver | None = None,
) -> tuple[Path, dict[str, Any]]:
    """The classification run behind :func:`run_training` (``task: classify``)."""
    import lightning.pytorch as pl

    watcher = observer if observer is not None and is_rank_zero() else RunObserver()
    stream = sys.stderr
    progress = (lambda label: TextProgress(label, stream=stream)) if show_progress else None
    if cfg.train.threads:
        torch.set_num_threads(cfg.train.threads)
    pl.seed_everything(cfg.train.seed, verbose=False)
    assert cfg.data.path is not None
    try:
        data = prepare_dataset(
            cfg.data.path,
            datasets_dir=settings.datasets_dir,
            cache_dir=settings.cache_dir if cfg.data.cache else None,
            img_size=cfg.data.img_size,
            resize_mode=cfg.data.resize_mode,
            val_fraction=cfg.data.val_fraction,
            test_fraction=cfg.data.test_fraction,
            split_seed=cfg.data.split_seed,
            progress=progress,
        )
    except BaseException as exc:
        watcher.finished(status=_status_of(exc), metrics=None, error=_describe(exc), run_dir=None)
        raise
    if show_progress:
        stream.write(data.report.render_text() + "\n")
    run_dir = _run_dir_for_this_process(cfg, settings, run_dir)
    resume = (run_dir / CHECKPOINT).is_file()
    done = int(read_run_status(run_dir).get("last_epoch") or 0) if resume else 0
    if cfg.train.epochs < done:
        refused = RunError(
            f"{run_dir} has already trained {done} epochs; to continue it, ask for more "
            f"(--epochs {done + 5}, say), not {cfg.train.epochs}."
        )
        watcher.finished(status="failed", metrics=None, error=str(refused), run_dir=run_dir)
        raise refused
    if not is_rank_zero():
        return run_dir, _train_and_evaluate(cfg, settings, data, run_dir, resume, False, watcher)
    (run_dir / CONFIG_FILE).write_text(cfg.to_yaml())
    update_run_status(run_dir, status="running", started=now_iso(), error=None, pid=os.getpid())
    dataset = _dataset_summary(data)
    write_json(run_dir / "data_report.json", dataset["report"])
    write_splits(data.manifest, run_dir / SPLITS_FILE)
    try:
        with shared_run_dir(run_dir):
            watcher.started(run_dir=run_dir, config=cfg.model_dump(mode="json"), dataset=dataset)
            metrics = _train_and_evaluate(
                cfg, settings, data, run_dir, resume, show_progress, watcher
            )
    except BaseException as exc:
        status, error = _status_of(exc), _describe(exc)
        update_run_status(run_dir, status=status, finished=now_iso(), error=error)
        watcher.finished(status=status, metrics=None, error=error, run_dir=run_dir)
        raise
    update_run_status(run_dir, status="completed", finished=now_iso(), accuracy=metrics["accuracy"])
    watcher.finished(status="completed", metrics=metrics, error=None, run_dir=run_dir)
    return run_dir, metrics


def was_interrupted(exc: BaseException) -> bool:
    """Ctrl-C or SIGTERM: a KeyboardInterrupt, or the SystemExit(1) Lightning turns it into."""
    if isinstance(exc, KeyboardInterrupt):
        return True
    return isinstance(exc, SystemExit) and isinstance(exc.__context__, KeyboardInterrupt)


def _status_of(exc: BaseException) -> str:
    if isinstance(exc, RunStoppedError):
        return exc.status
    return "interrupted" if was_interrupted(exc) else "failed"


def _describe(exc: BaseException) -> str | None:
    if was_interrupted(exc):
        return None
    return f"{type(exc).__name__}: {exc}"


def _dataset_summary(data: PreparedData) -> dict[str, Any]:
    counts = data.manifest.counts()
    return {
        "fingerprint": data.manifest.fingerprint(),
        "source": str(data.manifest.source),
        "layout": data.manifest.layout,
        "num_classes": len(data.classes),
        "num_images": len(data.manifest.samples),
        "counts": counts,
        "report": data.report.to_dict(),
    }


def is_rank_zero() -> bool:
    """True in the process that owns the run directory (always, outside distributed training)."""
    from lightning.fabric.utilities.rank_zero import rank_zero_only

    return getattr(rank_zero_only, "rank", 0) == 0


def _run_dir_for_this_process(cfg: RunConfig, settings: Settings, run_dir: Path | None) -> Path:
    """The given run directory (resume), the one a DDP parent shares, or a new one."""
    if run_dir is not None:
        return run_dir
    if settings.run_dir is not None:
        settings.run_dir.mkdir(parents=True, exist_ok=True)
        return settings.run_dir
    if is_rank_zero():
        return new_run_dir(Path(cfg.out), name=cfg.name, model_name=cfg.model.name)
    if cfg.name is None:
        raise ConfigError(
            "this process was started by torchrun (rank > 0): pass --name so that every process "
            "writes to the same run directory."
        )
    shared = Path(cfg.out) / cfg.name
    shared.mkdir(parents=True, exist_ok=True)
    return shared


def _train_and_evaluate(
    cfg: RunConfig,
    settings: Settings,
    data: PreparedData,
    run_dir: Path,
    resume: bool,
    show_progress: bool,
    observer: RunObserver,
) -> dict[str, Any]:
    classes = data.classes
    model = create_model(
        cfg.model.name,
        num_classes=len(classes),
        img_size=cfg.data.img_size,
        weights=cfg.model.weights,
        pretrained=cfg.model.pretrained,
        offline=settings.offline,
        **cfg.model.options,
    )
    starts_pretrained = bool(cfg.model.weights or cfg.model.pretrained)
    if starts_pretrained:
        mean, std = list(IMAGENET_MEAN), list(IMAGENET_STD)
    else:
        mean, std = dataset_mean_std(data.images["train"])
    preprocessing = Preprocessing(
        size=(cfg.data.img_size, cfg.data.img_size),
        resize_mode=cfg.data.resize_mode,
        mean=tuple(mean),
        std=tuple(std),
    )
    train_set = ArrayDataset(
        data.images["train"],
        data.labels["train"],
        sample_transform=sample_policy(cfg.train.augment),
    )
    workers = _num_workers(cfg)
    train_loader = make_loader(
        train_set,
        batch_size=cfg.train.batch_size,
        train=True,
        seed=cfg.train.seed,
        balanced=cfg.data.balanced_sampler,
        num_workers=workers,
    )
    val_split = "val" if "val" in data.images else None
    val_loader = (
        make_loader(
            ArrayDataset(data.images["val"], data.labels["val"]),
            batch_size=max(cfg.train.batch_size, 256),
            train=False,
        )
        if val_split
        else None
    )
    accelerator = resolve_accelerator(cfg.train.device)
    task = ClassificationTask(
        model,
        num_classes=len(classes),
        train_config=cfg.train,
        steps_per_epoch=len(train_loader),
        mean=mean,
        std=std,
        class_weights=inverse_frequency_weights(data.labels["train"].tolist(), len(classes))
        if cfg.train.class_weights
        else None,
        backbone_lr_scale=cfg.model.backbone_lr_scale if starts_pretrained else 1.0,
        channels_last=use_channels_last(cfg.train.channels_last, accelerator),
    )
    if task.channels_last:
        model.to(memory_format=torch.channels_last)
    monitor = get_task(cfg.task).metric(cfg.train.monitor or "val_accuracy")
    result: FitResult = fit(
        task,
        train_loader,
        val_loader,
        config=cfg.train,
        run_dir=run_dir,
        resume=resume,
        freeze_epochs=cfg.model.freeze_epochs,
        on_epoch=lambda row: _on_epoch(run_dir, row, observer),
        show_progress=show_progress,
        monitor=monitor,
    )
    if result.global_rank != 0:
        return {}  # only rank 0 evaluates and writes artifacts
    best = run_dir / BEST_WEIGHTS
    _refuse_diverged(result.history, has_best=best.is_file())
    if best.is_file():
        from safetensors.torch import load_file

        model.load_state_dict(load_file(str(best)))
    write_history_csv(result.history, run_dir / "history.csv")
    eval_split: Split = (
        "test" if "test" in data.images else "val" if "val" in data.images else "train"
    )
    device = "cuda" if result.accelerator == "cuda" else "cpu"
    if show_progress:
        sys.stderr.write(
            f"evaluating on the {eval_split} split ({len(data.labels[eval_split])} images)\n"
        )
    metrics = evaluate_classifier(
        model.float(),
        data.images[eval_split],
        data.labels[eval_split],
        classes,
        preprocessing=preprocessing,
        out_dir=run_dir,
        device=device,
        history=result.history,
    )
    n_train = len(train_set)
    metrics["split"] = eval_split
    metrics["training"] = training_summary(result, monitor=monitor.name, train_images=n_train)
    model_cpu = model.to("cpu").to(memory_format=torch.contiguous_format)
    save_weights(model_cpu, run_dir / "model.safetensors")
    card = ModelCard(
        architecture=getattr(model, "architecture", cfg.model.name),
        options=dict(getattr(model, "options", cfg.model.options)),
        classes=list(classes),
        preprocessing=preprocessing,
        metrics={k: metrics[k] for k in ("accuracy", "macro_f1", "loss") if k in metrics}
        | {"split": eval_split},
        dataset={
            "fingerprint": data.manifest.fingerprint(),
            "layout": data.manifest.layout,
            "source": str(data.manifest.source),
            "counts": data.manifest.counts(),
        },
        training={
            "epochs": result.epochs_completed,
            "config": cfg.model_dump(mode="json")["train"],
        },
    )
    card.save(run_dir)
    write_json(run_dir / "metrics.json", metrics)
    return metrics


def training_summary(result: FitResult, *, monitor: str, train_images: int) -> dict[str, Any]:
    """The ``training`` block of ``metrics.json``: time, epochs, best epoch, speed, device."""
    epochs_now = len(result.history)
    return {
        "wall_time_s": round(result.wall_time_s, 3),
        "epochs_completed": result.epochs_completed,
        "epochs_this_session": epochs_now,
        "stopped_early": result.stopped_early,
        "best_epoch": result.best_epoch,
        "best_val": result.best_score,
        "monitor": monitor,
        "images_per_second": round(train_images * epochs_now / result.wall_time_s, 1)
        if result.wall_time_s > 0 and epochs_now
        else None,
        "accelerator": result.accelerator,
        "precision": result.precision,
        "train_images": train_images,
    }


def _refuse_diverged(history: list[dict[str, float]], *, has_best: bool) -> None:
    """A run whose loss became NaN/inf and that has no good epoch to fall back on is an error."""
    bad = [r for r in history if not math.isfinite(r.get("train_loss", 0.0))]
    if bad and (
        not has_best or all(not math.isfinite(r.get("val_loss", math.nan)) for r in history)
    ):
        raise RunError(
            f"training diverged: the loss became NaN or infinite at epoch {int(bad[0]['epoch'])}. "
            "Lower the learning rate (lr), or use precision 32 if mixed precision is on."
        )


@contextlib.contextmanager
def shared_run_dir(run_dir: Path) -> Iterator[None]:
    """While training, ``IMGREC_RUN_DIR`` names ``run_dir``, then its old value is restored.

    The one environment change the engine makes, on purpose: Lightning's DDP launcher starts the
    other ranks by re-running this command, and they inherit the environment, so they join this
    run directory instead of making their own (:func:`_run_dir_for_this_process`).
    """
    previous = os.environ.get("IMGREC_RUN_DIR")
    os.environ["IMGREC_RUN_DIR"] = str(run_dir)
    try:
        yield
    finally:
        if previous is None:
            os.environ.pop("IMGREC_RUN_DIR", None)
        else:
            os.environ["IMGREC_RUN_DIR"] = previous


def _on_epoch(run_dir: Path, row: dict[str, float], observer: RunObserver) -> None:
    update_run_status(run_dir, last_epoch=int(row["epoch"]), last_metrics=row)
    observer.epoch(row)
