"""Callbacks that make runs observable and exactly resumable.

- :class:`RNGState` saves and restores Python, NumPy and torch random states in the checkpoint.
- :class:`EpochHistory` collects one row of metrics per epoch and hands it to a sink.
- :class:`ProgressETA` prints loss, metrics and the time left for the whole run.
- :class:`BestWeights` keeps the weights of the best epoch by the monitored metric.
- :class:`FreezeBackbone` trains only the head for the first epochs.
- :class:`ResumableEarlyStopping` is Lightning's early stopping that takes the patience from
  the current config on resume instead of the checkpoint.
- :class:`TrainingClock` keeps the training time of earlier sessions in the checkpoint, so a
  resumed run's time is the sum of its sessions.
- :class:`ResumedSchedule` re-plans the learning-rate schedule of a run resumed with another
  number of epochs (the module's ``replan_schedule``).
"""

from __future__ import annotations

import math
import random
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any, TextIO

import lightning.pytorch as pl
import numpy as np
import torch
from lightning.pytorch.callbacks import Callback, EarlyStopping
from safetensors.torch import save_file

from imgrec._files import atomic_path
from imgrec.progress import format_duration

__all__ = [
    "BestWeights",
    "EpochHistory",
    "FreezeBackbone",
    "ProgressETA",
    "RNGState",
    "ResumableEarlyStopping",
    "ResumedSchedule",
    "TrainingClock",
]

EpochSink = Callable[[dict[str, float]], None]


class RNGState(Callback):
    """Puts every random generator's state into the checkpoint and restores it on resume."""

    def state_dict(self) -> dict[str, Any]:
        state: dict[str, Any] = {
            "python": random.getstate(),
            "numpy": np.random.get_state(),
            "torch": torch.get_rng_state(),
        }
        if torch.cuda.is_available():
            state["cuda"] = torch.cuda.get_rng_state_all()
        return state

    def load_state_dict(self, state_dict: dict[str, Any]) -> None:
        random.setstate(_as_python_state(state_dict["python"]))
        np.random.set_state(state_dict["numpy"])
        torch.set_rng_state(state_dict["torch"].to(torch.uint8))
        if "cuda" in state_dict and torch.cuda.is_available():
            torch.cuda.set_rng_state_all([s.to(torch.uint8) for s in state_dict["cuda"]])


def _as_python_state(state: Any) -> Any:
    version, internal, gauss = state
    return version, tuple(internal), gauss


class EpochHistory(Callback):
    """One row per epoch: every scalar the task logged for the epoch (``train_loss``,
    ``val_accuracy``, ``val_map``, ...), the learning rate and epoch time; sent to ``sink``."""

    def __init__(self, sink: EpochSink | None = None) -> None:
        self.sink = sink
        self.rows: list[dict[str, float]] = []
        self._started = 0.0
        self._train_done: float | None = None

    def on_train_epoch_start(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        self._started = time.perf_counter()
        self._train_done = None

    def on_validation_epoch_start(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        if self._train_done is None and not trainer.sanity_checking:
            self._train_done = time.perf_counter()

    def on_train_epoch_end(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        if trainer.sanity_checking:
            return
        metrics = trainer.callback_metrics
        row: dict[str, float] = {"epoch": float(trainer.current_epoch + 1)}
        for key, value in sorted(metrics.items()):
            if not key.endswith("_step") and getattr(value, "numel", lambda: 1)() == 1:
                row[key] = float(value)
        optimizer = trainer.optimizers[0] if trainer.optimizers else None
        if optimizer is not None:
            row["lr"] = float(optimizer.param_groups[-1]["lr"])
        now = time.perf_counter()
        row["train_time_s"] = (self._train_done or now) - self._started
        row["epoch_time_s"] = now - self._started
        self.rows.append(row)
        if self.sink is not None and trainer.is_global_zero:
            self.sink(row)

    def state_dict(self) -> dict[str, Any]:
        return {"rows": [dict(r) for r in self.rows]}

    def load_state_dict(self, state_dict: dict[str, Any]) -> None:
        self.rows = [dict(r) for r in state_dict.get("rows", [])]


class ProgressETA(Callback):
    """Live progress: epoch, batch, loss, metrics, elapsed time and ETA for the whole run."""

    def __init__(self, stream: TextIO | None = None, *, refresh_s: float = 0.5) -> None:
        self.stream = stream or sys.stderr
        self.refresh_s = refresh_s
        self.live = hasattr(self.stream, "isatty") and self.stream.isatty()
        self._fit_start = 0.0
        self._epoch_start = 0.0
        self._last_print = 0.0
        self._epoch_times: list[float] = []

    def on_fit_start(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        self._fit_start = time.perf_counter()

    def on_train_epoch_start(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        self._epoch_start = time.perf_counter()

    def _eta(self, trainer: pl.Trainer, fraction_of_epoch: float) -> float:
        elapsed_epoch = time.perf_counter() - self._epoch_start
        if self._epoch_times:
            per_epoch = sum(self._epoch_times[-3:]) / len(self._epoch_times[-3:])
        elif fraction_of_epoch > 0:
            per_epoch = elapsed_epoch / fraction_of_epoch
        else:
            return math.inf
        remaining_epochs = (trainer.max_epochs or 1) - trainer.current_epoch - 1
        return max(0.0, per_epoch - elapsed_epoch) + remaining_epochs * per_epoch

    def on_train_batch_end(
        self,
        trainer: pl.Trainer,
        pl_module: pl.LightningModule,
        outputs: Any,
        batch: Any,
        batch_idx: int,
    ) -> None:
        now = time.perf_counter()
        if not self.live or now - self._last_print < self.refresh_s or not trainer.is_global_zero:
            return
        self._last_print = now
        total = trainer.num_training_batches
        fraction = (batch_idx + 1) / total if isinstance(total, int) and total else 0.0
        loss = (
            outputs["loss"].item() if isinstance(outputs, dict) and "loss" in outputs else math.nan
        )
        self.stream.write(
            f"\r  epoch {trainer.current_epoch + 1}/{trainer.max_epochs}"
            f"  {batch_idx + 1}/{total}  loss {loss:.4f}"
            f"  ETA {format_duration(self._eta(trainer, fraction))}   "
        )
        self.stream.flush()

    def on_train_epoch_end(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        if trainer.sanity_checking or not trainer.is_global_zero:
            return
        took = time.perf_counter() - self._epoch_start
        self._epoch_times.append(took)
        metrics = trainer.callback_metrics
        parts = [f"epoch {trainer.current_epoch + 1}/{trainer.max_epochs}"]
        shown = [k for k in ("train_loss", "train_accuracy") if k in metrics]
        for key in shown + sorted(k for k in metrics if k.startswith("val_")):
            parts.append(f"{key} {float(metrics[key]):.4f}")
        parts.append(f"{took:.1f}s")
        parts.append(f"ETA {format_duration(self._eta(trainer, 1.0))}")
        prefix = "\r" if self.live else ""
        self.stream.write(prefix + "  ".join(parts) + " " * 8 + "\n")
        self.stream.flush()


class BestWeights(Callback):
    """Saves the model's weights whenever the monitored metric improves."""

    def __init__(self, path: Path, *, monitor: str, mode: str) -> None:
        self.path = Path(path)
        self.monitor = monitor
        self.mode = mode
        self.best_score: float | None = None
        self.best_epoch: int | None = None

    def _improved(self, score: float) -> bool:
        if self.best_score is None:
            return True
        return score > self.best_score if self.mode == "max" else score < self.best_score

    def on_train_epoch_end(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        if trainer.sanity_checking or self.monitor not in trainer.callback_metrics:
            return
        score = float(trainer.callback_metrics[self.monitor])
        if not math.isfinite(score) or not self._improved(score):
            return
        self.best_score, self.best_epoch = score, trainer.current_epoch + 1
        if trainer.is_global_zero:
            model = getattr(pl_module, "model", pl_module)
            tensors = {k: v.detach().cpu().contiguous() for k, v in model.state_dict().items()}
            with atomic_path(self.path) as tmp:
                save_file(tensors, str(tmp))

    def state_dict(self) -> dict[str, Any]:
        return {"best_score": self.best_score, "best_epoch": self.best_epoch}

    def load_state_dict(self, state_dict: dict[str, Any]) -> None:
        self.best_score = state_dict.get("best_score")
        self.best_epoch = state_dict.get("best_epoch")


class FreezeBackbone(Callback):
    """Freezes the backbone for the first ``epochs`` epochs (transfer learning)."""

    def __init__(self, epochs: int) -> None:
        self.epochs = epochs

    def on_train_epoch_start(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        model = getattr(pl_module, "model", None)
        if model is not None and hasattr(model, "freeze_backbone"):
            model.freeze_backbone(trainer.current_epoch < self.epochs)


class ResumableEarlyStopping(EarlyStopping):
    """Early stopping whose patience follows the current config after a resume."""

    def load_state_dict(self, state_dict: dict[str, Any]) -> None:
        patience = self.patience
        super().load_state_dict(state_dict)
        self.patience = patience
        self.stopped_epoch = 0


class TrainingClock(Callback):
    """Training time across sessions: what earlier sessions took travels in the checkpoint.

    :meth:`start` is called just before ``trainer.fit``; every checkpoint stores the time
    trained until then (earlier sessions plus this one so far). Time spent after a session's
    last checkpoint is not carried: that work is lost and done again by the next session.

    Attributes:
        before_s: Seconds trained by earlier sessions (from the checkpoint; 0 for a new run).
        sessions: Sessions so far, this one included.
        restored: Whether a checkpoint brought a clock (checkpoints older than it have none).
        epochs: Epochs this session trained.
    """

    def __init__(self) -> None:
        self.before_s = 0.0
        self.sessions = 1
        self.restored = False
        self.epochs = 0
        self._started: float | None = None

    def start(self) -> None:
        self._started = time.perf_counter()

    @property
    def session_s(self) -> float:
        """Seconds since :meth:`start` (0 before it)."""
        return 0.0 if self._started is None else time.perf_counter() - self._started

    @property
    def total_s(self) -> float:
        return self.before_s + self.session_s

    def on_train_epoch_end(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        if not trainer.sanity_checking:
            self.epochs += 1

    def state_dict(self) -> dict[str, Any]:
        return {"trained_s": self.total_s, "sessions": self.sessions}

    def load_state_dict(self, state_dict: dict[str, Any]) -> None:
        self.before_s = float(state_dict.get("trained_s") or 0.0)
        self.sessions = int(state_dict.get("sessions") or 1) + 1
        self.restored = True


class ResumedSchedule(Callback):
    """After a resume, asks the module to re-plan its schedule for the epochs asked now.

    The checkpoint brings the scheduler back as it was planned; a LightningModule with a
    ``replan_schedule()`` method (:class:`imgrec.tasks.base.TaskModule`) adopts the plan for the
    current number of epochs and returns one line saying what it did (None when the plan did
    not change). The line is printed to ``stream`` (when given) and kept in :attr:`note`.
    """

    def __init__(self, stream: TextIO | None = None) -> None:
        self.stream = stream
        self.note: str | None = None

    def on_train_start(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        replan = getattr(pl_module, "replan_schedule", None)
        self.note = replan() if callable(replan) else None
        if self.note and self.stream is not None and trainer.is_global_zero:
            self.stream.write(f"note: {self.note}\n")
            self.stream.flush()
