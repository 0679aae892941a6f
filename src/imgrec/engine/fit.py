"""Training with a Lightning Trainer: callbacks, checkpoints, resume, devices.

:func:`fit` is the only place that builds a ``Trainer``. A checkpoint is written at the end of
every epoch (``checkpoints/last.ckpt``, pickle-free, atomic); passing ``resume=True`` continues
from it with the optimiser, scheduler, callbacks, loop counters and random state as they were.

Two things change on purpose when a run resumes: its training time continues from what the
checkpoint says earlier sessions took (``FitResult.wall_time_s`` is the whole run's), and when it
now asks for another number of epochs, the learning-rate schedule is re-planned for the new end
as if those epochs had been asked from the start
(:meth:`imgrec.tasks.base.TaskModule.replan_schedule`); one line says so.
"""

from __future__ import annotations

import logging
import sys
import warnings
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import lightning.pytorch as pl
from lightning.pytorch.callbacks import Callback, ModelCheckpoint
from torch.utils.data import DataLoader

from imgrec.config import TrainConfig
from imgrec.engine.callbacks import (
    BestWeights,
    EpochHistory,
    EpochSink,
    FreezeBackbone,
    ProgressETA,
    ResumableEarlyStopping,
    ResumedSchedule,
    RNGState,
    TrainingClock,
)
from imgrec.engine.checkpoint_io import SafeCheckpointIO
from imgrec.engine.devices import resolve_accelerator, resolve_precision
from imgrec.errors import RunError
from imgrec.tasks.registry import MetricSpec

__all__ = ["BEST_WEIGHTS", "CHECKPOINT", "FitResult", "fit", "quiet_lightning"]

CHECKPOINT = "checkpoints/last.ckpt"
BEST_WEIGHTS = "checkpoints/best.safetensors"


@dataclass
class FitResult:
    """What training produced.

    Attributes:
        epochs_completed: Epochs trained in all, every session of a resumed run together.
        wall_time_s: Training time of the whole run (earlier sessions from the checkpoint).
        session_time_s: Training time of this session alone.
        epochs_this_session: Epochs this session trained.
        sessions: Sessions the run has trained in, this one included.
        schedule_note: What a resume changed in the learning-rate schedule, if anything.
    """

    epochs_completed: int
    stopped_early: bool
    wall_time_s: float
    best_epoch: int | None
    best_score: float | None
    history: list[dict[str, float]] = field(default_factory=list)
    accelerator: str = "cpu"
    precision: str = "32-true"
    global_rank: int = 0
    session_time_s: float = 0.0
    epochs_this_session: int = 0
    sessions: int = 1
    schedule_note: str | None = None


def quiet_lightning() -> None:
    """Silence Lightning's start-up banners and tips; imgrec prints its own progress."""
    for name in ("lightning.pytorch", "lightning.fabric", "lightning"):
        logging.getLogger(name).setLevel(logging.WARNING)
    warnings.filterwarnings("ignore", message=".*does not have many workers.*")
    warnings.filterwarnings("ignore", message=".*LeafSpec.*")
    # Resuming writes into its own checkpoint folder on purpose.
    warnings.filterwarnings("ignore", message=".*exists and is not empty.*")


def monitor_spec(name: str | None) -> MetricSpec:
    """A metric to monitor from its name alone (``val_accuracy`` when none is given)."""
    name = name or "val_accuracy"
    return MetricSpec(name, "min" if name.endswith("loss") else "max", True, name)


def fit(
    task: pl.LightningModule,
    train_loader: DataLoader[Any],
    val_loader: DataLoader[Any] | None,
    *,
    config: TrainConfig,
    run_dir: Path,
    resume: bool = False,
    freeze_epochs: int = 0,
    on_epoch: EpochSink | None = None,
    show_progress: bool = True,
    extra_callbacks: list[Callback] | None = None,
    monitor: MetricSpec | None = None,
) -> FitResult:
    """Train ``task`` and return what happened.

    Args:
        task: The LightningModule (e.g. :class:`imgrec.tasks.classify.ClassificationTask`).
        train_loader: Batches for training.
        val_loader: Batches for validation; without it nothing is monitored.
        config: Training settings (epochs, precision, devices, early stopping, ...).
        run_dir: The run directory; checkpoints go to ``run_dir/checkpoints``.
        resume: Continue from ``run_dir/checkpoints/last.ckpt``.
        freeze_epochs: Train only the head for this many epochs.
        on_epoch: Called with each epoch's metrics row (the store plugs in here).
        show_progress: Print progress with ETA to stderr.
        extra_callbacks: More Lightning callbacks (e.g. Optuna pruning).
        monitor: The task's metric to monitor (name and direction); by default
            ``config.monitor`` (or ``val_accuracy``), minimised when its name ends in ``loss``.

    Raises:
        RunError: ``resume`` without a checkpoint.
    """
    quiet_lightning()
    accelerator = resolve_accelerator(config.device)
    precision = resolve_precision(config.precision, accelerator)
    checkpoint = run_dir / CHECKPOINT
    if resume and not checkpoint.is_file():
        raise RunError(f"{run_dir}: nothing to resume, {CHECKPOINT} does not exist.")
    history = EpochHistory(on_epoch)
    spec = monitor or monitor_spec(config.monitor)
    mode = spec.direction
    best = BestWeights(run_dir / BEST_WEIGHTS, monitor=spec.name, mode=mode)
    clock = TrainingClock()
    callbacks: list[Callback] = [RNGState(), history, best, clock]
    replan = ResumedSchedule(sys.stderr if show_progress else None)
    if resume:
        callbacks.append(replan)
    if show_progress:
        callbacks.append(ProgressETA())
    if freeze_epochs > 0:
        callbacks.append(FreezeBackbone(freeze_epochs))
    early: ResumableEarlyStopping | None = None
    if config.early_stopping_patience and val_loader is not None:
        early = ResumableEarlyStopping(
            monitor=spec.name, mode=mode, patience=config.early_stopping_patience
        )
        callbacks.append(early)
    callbacks.append(
        ModelCheckpoint(
            dirpath=checkpoint.parent,
            filename=checkpoint.stem,
            save_top_k=1,
            monitor=None,
            every_n_epochs=1,
            enable_version_counter=False,
        )
    )
    callbacks += extra_callbacks or []
    trainer = pl.Trainer(
        accelerator=accelerator,
        devices=config.devices,
        strategy=config.strategy,
        num_nodes=config.num_nodes,
        precision=precision,  # type: ignore[arg-type]  # validated by resolve_precision
        max_epochs=config.epochs,
        callbacks=callbacks,
        logger=False,
        enable_progress_bar=False,
        enable_model_summary=False,
        num_sanity_val_steps=0,
        deterministic=config.deterministic,
        plugins=[SafeCheckpointIO()],
        default_root_dir=run_dir,
        limit_val_batches=1.0 if val_loader is not None else 0,
    )
    clock.start()
    trainer.fit(
        task,
        train_dataloaders=train_loader,
        val_dataloaders=val_loader,
        ckpt_path=str(checkpoint) if resume else None,
    )
    session = clock.session_s
    if resume and not clock.restored:  # a checkpoint from before the clock: its epochs' times
        earlier = history.rows[: len(history.rows) - clock.epochs]
        clock.before_s = sum(row.get("epoch_time_s", 0.0) for row in earlier)
    return FitResult(
        epochs_completed=trainer.current_epoch,
        stopped_early=bool(early is not None and early.stopped_epoch > 0),
        wall_time_s=clock.before_s + session,
        session_time_s=session,
        epochs_this_session=clock.epochs,
        sessions=clock.sessions,
        schedule_note=replan.note,
        best_epoch=best.best_epoch,
        best_score=best.best_score,
        history=list(history.rows),
        accelerator=accelerator,
        precision=precision,
        global_rank=trainer.global_rank,
    )
