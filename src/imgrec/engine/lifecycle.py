"""The parts of a run's life that no task changes: how it ended, where it writes, what it took.

Used by the generic runner (:mod:`imgrec.engine.runner`) for every task: the status of a run
that raised, the run directory of this process (new, resumed, or shared with DDP ranks), the
``training`` block of ``metrics.json``, and the refusal of a run whose loss diverged.
"""

from __future__ import annotations

import contextlib
import math
import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from imgrec.config import RunConfig, Settings
from imgrec.engine.fit import FitResult
from imgrec.engine.observer import RunObserver
from imgrec.engine.rundir import new_run_dir, update_run_status
from imgrec.errors import ConfigError, RunError, RunStoppedError

__all__ = [
    "describe_failure",
    "is_rank_zero",
    "record_epoch",
    "refuse_diverged",
    "run_dir_for_this_process",
    "shared_run_dir",
    "status_of",
    "training_summary",
    "was_interrupted",
]


def was_interrupted(exc: BaseException) -> bool:
    """Ctrl-C or SIGTERM: a KeyboardInterrupt, or the SystemExit(1) Lightning turns it into."""
    if isinstance(exc, KeyboardInterrupt):
        return True
    return isinstance(exc, SystemExit) and isinstance(exc.__context__, KeyboardInterrupt)


def status_of(exc: BaseException) -> str:
    """The status of a run that raised ``exc``: pruned/cancelled, interrupted or failed."""
    if isinstance(exc, RunStoppedError):
        return exc.status
    return "interrupted" if was_interrupted(exc) else "failed"


def describe_failure(exc: BaseException) -> str | None:
    """The error text recorded for a run that raised ``exc`` (none for an interruption)."""
    if was_interrupted(exc):
        return None
    return f"{type(exc).__name__}: {exc}"


def is_rank_zero() -> bool:
    """True in the process that owns the run directory (always, outside distributed training)."""
    from lightning.fabric.utilities.rank_zero import rank_zero_only

    return getattr(rank_zero_only, "rank", 0) == 0


def run_dir_for_this_process(cfg: RunConfig, settings: Settings, run_dir: Path | None) -> Path:
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


@contextlib.contextmanager
def shared_run_dir(run_dir: Path) -> Iterator[None]:
    """While training, ``IMGREC_RUN_DIR`` names ``run_dir``, then its old value is restored.

    The one environment change the engine makes, on purpose: Lightning's DDP launcher starts the
    other ranks by re-running this command, and they inherit the environment, so they join this
    run directory instead of making their own (:func:`run_dir_for_this_process`).
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


def record_epoch(run_dir: Path, row: dict[str, float], observer: RunObserver) -> None:
    """After each epoch: ``run.json`` names the last epoch and the observer hears the row."""
    update_run_status(run_dir, last_epoch=int(row["epoch"]), last_metrics=row)
    observer.epoch(row)


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


def refuse_diverged(
    history: list[dict[str, float]], *, has_best: bool, monitor: str = "val_loss"
) -> None:
    """A run whose loss became NaN/inf and that has no good epoch to fall back on is an error.

    A good epoch has finite validation values: its ``val_loss`` where the task logs one, else
    the monitored metric (detection logs no validation loss).
    """
    bad = [r for r in history if not math.isfinite(r.get("train_loss", 0.0))]

    def good(row: dict[str, float]) -> bool:
        key = "val_loss" if "val_loss" in row else monitor
        return math.isfinite(row.get(key, math.nan))

    if bad and (not has_best or not any(good(r) for r in history)):
        raise RunError(
            f"training diverged: the loss became NaN or infinite at epoch {int(bad[0]['epoch'])}. "
            "Lower the learning rate (lr), or use precision 32 if mixed precision is on."
        )
