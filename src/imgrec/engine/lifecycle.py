"""The parts of a run's life that no task changes: how it ended, where it writes, what it took.

Used by the generic runner (:mod:`imgrec.engine.runner`) for every task: the status of a run
that raised (and the one line an interrupted run ends with), the refusal of a resume that would
train nothing new, the run directory of this process (new, resumed, or shared with DDP ranks),
the ``training`` block of ``metrics.json``, and the refusal of a run whose loss diverged.
"""

from __future__ import annotations

import contextlib
import math
import os
import shlex
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from imgrec.config import RunConfig, Settings
from imgrec.engine.fit import CHECKPOINT, FitResult
from imgrec.engine.observer import RunObserver
from imgrec.engine.rundir import new_run_dir, read_run_status, update_run_status
from imgrec.errors import ConfigError, RunError, RunInterrupted, RunStoppedError

__all__ = [
    "describe_failure",
    "interruption",
    "interruption_signal",
    "is_rank_zero",
    "record_epoch",
    "refuse_diverged",
    "refuse_resume",
    "run_dir_for_this_process",
    "shared_run_dir",
    "status_of",
    "training_summary",
    "was_interrupted",
]


def interruption_signal(exc: BaseException) -> str | None:
    """``"SIGINT"`` for Ctrl-C (a KeyboardInterrupt, or the SystemExit(1) Lightning turns it
    into), ``"SIGTERM"`` for Lightning's ``SIGTERMException``; None for anything else."""
    from lightning.pytorch.utilities.exceptions import SIGTERMException

    if isinstance(exc, RunInterrupted):
        return exc.signal
    if isinstance(exc, KeyboardInterrupt):
        return "SIGINT"
    if isinstance(exc, SIGTERMException):
        return "SIGTERM"
    if isinstance(exc, SystemExit) and isinstance(exc.__context__, KeyboardInterrupt):
        return "SIGINT"
    return None


def was_interrupted(exc: BaseException) -> bool:
    """Ctrl-C or SIGTERM (see :func:`interruption_signal`)."""
    return interruption_signal(exc) is not None


def status_of(exc: BaseException) -> str:
    """The status of a run that raised ``exc``: pruned/cancelled, interrupted or failed."""
    if isinstance(exc, RunStoppedError):
        return exc.status
    return "interrupted" if was_interrupted(exc) else "failed"


def describe_failure(exc: BaseException) -> str:
    """The error text recorded for a run that raised ``exc`` (for an interruption, the signal)."""
    signal = interruption_signal(exc)
    if signal is not None:
        return str(exc) if isinstance(exc, RunInterrupted) else f"interrupted by {_by(signal)}"
    return f"{type(exc).__name__}: {exc}"


def _by(signal: str) -> str:
    return "Ctrl-C (SIGINT)" if signal == "SIGINT" else signal


def interruption(exc: BaseException, *, run_dir: Path | None, epochs: int) -> RunInterrupted | None:
    """The :class:`RunInterrupted` that replaces ``exc`` if it is Ctrl-C or SIGTERM, else None.

    Its message is the line the command line ends with: where the run stopped (the epoch it was
    in, or the evaluation after the last one) and the command that continues it.
    """
    signal = interruption_signal(exc)
    if signal is None:
        return None
    by = _by(signal)
    if run_dir is None:
        text = f"interrupted by {by} while reading the data; nothing was trained."
        return RunInterrupted(text, run_dir=None, signal=signal)
    resume = f"resume with: imgrec train --resume {shlex.quote(str(run_dir))}"
    status = read_run_status(run_dir)
    done = int(status.get("last_epoch") or 0)
    if not (run_dir / CHECKPOINT).is_file():
        text = (
            f"interrupted by {by} at epoch 1/{epochs}, before the first checkpoint: nothing to "
            "resume; start the run again."
        )
    elif status.get("phase") == "evaluating" or done >= epochs:
        text = f"interrupted by {by} while evaluating after epoch {done}/{epochs}; {resume}"
    else:
        text = f"interrupted by {by} at epoch {done + 1}/{epochs} ({done} saved); {resume}"
    return RunInterrupted(text, run_dir=run_dir, signal=signal)


def refuse_resume(cfg: RunConfig, run_dir: Path) -> None:
    """Refuse, before anything is written, a resume that would go back or train nothing new.

    A run that completed all its epochs is finished: resuming it with the same ``epochs``
    would train nothing and only overwrite its record with a second evaluation, so it is
    refused (as Ultralytics refuses to resume a finished run); asking for more epochs trains
    it further. A run that trained all its epochs but was stopped while evaluating is not
    finished: resuming it evaluates it.

    Raises:
        RunError: ``cfg.train.epochs`` is below the epochs already trained, or the run is
            completed and asks for no more.
    """
    status = read_run_status(run_dir)
    done = int(status.get("last_epoch") or 0)
    if not (run_dir / CHECKPOINT).is_file():
        return  # fit() says there is nothing to resume
    if cfg.train.epochs < done:
        raise RunError(
            f"{run_dir} has already trained {done} epochs; to continue it, ask for more "
            f"(--epochs {done + 5}, say), not {cfg.train.epochs}."
        )
    if status.get("status") == "completed" and cfg.train.epochs == done:
        raise RunError(
            f"{run_dir} is already finished: it trained all {done} epochs and was evaluated. "
            f"To train it further, ask for more epochs (--epochs {done + 5}, say); "
            f"`imgrec eval {shlex.quote(str(run_dir))}` evaluates it again."
        )


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
    """The ``training`` block of ``metrics.json``: time, epochs, best epoch, speed, device.

    ``wall_time_s`` is the training time of the whole run, every session of a resumed run
    together; ``wall_time_this_session_s`` and ``images_per_second`` are this session's.
    """
    epochs_now = result.epochs_this_session
    session = result.session_time_s
    summary: dict[str, Any] = {
        "wall_time_s": round(result.wall_time_s, 3),
        "wall_time_this_session_s": round(session, 3),
        "sessions": result.sessions,
        "epochs_completed": result.epochs_completed,
        "epochs_this_session": epochs_now,
        "stopped_early": result.stopped_early,
        "best_epoch": result.best_epoch,
        "best_val": result.best_score,
        "monitor": monitor,
        "images_per_second": round(train_images * epochs_now / session, 1)
        if session > 0 and epochs_now
        else None,
        "accelerator": result.accelerator,
        "precision": result.precision,
        "train_images": train_images,
    }
    if result.schedule_note is not None:
        summary["schedule"] = result.schedule_note
    return summary


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
