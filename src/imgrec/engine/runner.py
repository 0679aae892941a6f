"""One training run from config to run directory, the same for every task.

The task named by ``cfg.task`` supplies its part (a :class:`~imgrec.engine.task_runner.
TaskRunner`: data, training plan, evaluation, card); this module owns the rest of the run's
life: seed, run directory (new, resumed or shared with DDP ranks), ``run.json`` status, the
observer, fit, divergence, best weights, ``history.csv``, ``model.safetensors`` and
``metrics.json``.
"""

from __future__ import annotations

import importlib
import os
import sys
from pathlib import Path
from typing import Any

import torch

from imgrec.config import RunConfig, Settings
from imgrec.engine.fit import BEST_WEIGHTS, CHECKPOINT, fit
from imgrec.engine.lifecycle import (
    describe_failure,
    interruption,
    is_rank_zero,
    record_epoch,
    refuse_diverged,
    refuse_resume,
    run_dir_for_this_process,
    shared_run_dir,
    status_of,
    training_summary,
    was_interrupted,
)
from imgrec.engine.observer import RunObserver
from imgrec.engine.outcome import RunOutcome
from imgrec.engine.rundir import CONFIG_FILE, now_iso, update_run_status
from imgrec.engine.task_runner import TaskRunner
from imgrec.errors import RunError
from imgrec.evaluation.writers import write_history_csv, write_json
from imgrec.models.weights import save_weights
from imgrec.progress import TextProgress
from imgrec.tasks.registry import get_task

__all__ = ["is_rank_zero", "run_training", "task_runner", "was_interrupted"]


def task_runner(task_name: str) -> TaskRunner:
    """The :class:`TaskRunner` the task ``task_name`` names (``TaskSpec.runner``)."""
    module, _, attribute = get_task(task_name).runner.partition(":")
    runner: TaskRunner = getattr(importlib.import_module(module), attribute)()
    return runner


def run_training(
    cfg: RunConfig,
    *,
    settings: Settings,
    run_dir: Path | None = None,
    show_progress: bool = True,
    observer: RunObserver | None = None,
) -> RunOutcome:
    """Train and evaluate; ``run_dir`` given means resume that run.

    ``observer`` (rank 0 only) hears the start, every epoch and the end, also of a run that
    fails while its data is read.

    A resumed run's training time is the sum of its sessions (the checkpoint carries it), and a
    resume with more epochs re-plans the learning-rate schedule for the new end
    (:func:`imgrec.engine.fit.fit`). A resume of a finished run (completed, no more epochs
    asked) is refused before anything is read or written (:func:`refuse_resume`).

    Raises:
        RunInterrupted: Ctrl-C or SIGTERM stopped the run; it is recorded ``interrupted`` (in
            ``run.json`` and by the observer) with the exception's message as the reason.
        RunError: the resume is refused, or training diverged.
    """
    import lightning.pytorch as pl

    runner = task_runner(cfg.task)
    watcher = observer if observer is not None and is_rank_zero() else RunObserver()
    if run_dir is not None:
        try:
            refuse_resume(cfg, run_dir)
        except RunError as refused:
            watcher.finished(status="failed", metrics=None, error=str(refused), run_dir=run_dir)
            raise
    stream = sys.stderr
    progress = (lambda label: TextProgress(label, stream=stream)) if show_progress else None
    if cfg.train.threads:
        torch.set_num_threads(cfg.train.threads)
    pl.seed_everything(cfg.train.seed, verbose=False)
    try:
        data = runner.read_data(cfg, settings, progress)
    except BaseException as exc:
        stopped = interruption(exc, run_dir=None, epochs=cfg.train.epochs)
        error = str(stopped) if stopped is not None else describe_failure(exc)
        watcher.finished(status=status_of(exc), metrics=None, error=error, run_dir=None)
        if stopped is not None:
            raise stopped from exc
        raise
    if show_progress:
        stream.write(runner.describe_data(data) + "\n")
    run_dir = run_dir_for_this_process(cfg, settings, run_dir)
    resume = (run_dir / CHECKPOINT).is_file()
    primary = get_task(cfg.task).summary_metric
    if not is_rank_zero():
        report = _train_and_evaluate(runner, cfg, settings, data, run_dir, resume, False, watcher)
        return RunOutcome.from_report(
            report, run_dir=run_dir, task=cfg.task, primary_metric=primary
        )
    (run_dir / CONFIG_FILE).write_text(cfg.to_yaml())
    update_run_status(
        run_dir, status="running", phase="training", started=now_iso(), error=None, pid=os.getpid()
    )
    dataset = runner.dataset_summary(data)
    runner.write_inputs(data, run_dir)
    try:
        with shared_run_dir(run_dir):
            watcher.started(run_dir=run_dir, config=cfg.model_dump(mode="json"), dataset=dataset)
            report = _train_and_evaluate(
                runner, cfg, settings, data, run_dir, resume, show_progress, watcher
            )
    except BaseException as exc:
        stopped = interruption(exc, run_dir=run_dir, epochs=cfg.train.epochs)
        status = status_of(exc)
        error = str(stopped) if stopped is not None else describe_failure(exc)
        update_run_status(run_dir, status=status, finished=now_iso(), error=error)
        watcher.finished(status=status, metrics=None, error=error, run_dir=run_dir)
        if stopped is not None:
            raise stopped from exc
        raise
    outcome = RunOutcome.from_report(report, run_dir=run_dir, task=cfg.task, primary_metric=primary)
    update_run_status(
        run_dir,
        status="completed",
        phase=None,
        finished=now_iso(),
        primary_metric=primary,
        primary_value=outcome.primary_value,
    )
    watcher.finished(status="completed", metrics=report, error=None, run_dir=run_dir)
    return outcome


def _train_and_evaluate(
    runner: TaskRunner,
    cfg: RunConfig,
    settings: Settings,
    data: Any,
    run_dir: Path,
    resume: bool,
    show_progress: bool,
    observer: RunObserver,
) -> dict[str, Any]:
    plan = runner.plan(cfg, settings, data)
    if plan.load_report is not None and show_progress:
        sys.stderr.write(f"note: {plan.load_report}\n")
    result = fit(
        plan.module,
        plan.train_loader,
        plan.val_loader,
        config=cfg.train,
        run_dir=run_dir,
        resume=resume,
        freeze_epochs=cfg.model.freeze_epochs,
        on_epoch=lambda row: record_epoch(run_dir, row, observer),
        show_progress=show_progress,
        monitor=plan.monitor,
    )
    if result.global_rank != 0:
        return {}  # only rank 0 evaluates and writes artifacts
    update_run_status(run_dir, phase="evaluating")
    best = run_dir / BEST_WEIGHTS
    refuse_diverged(result.history, has_best=best.is_file(), monitor=plan.monitor.name)
    if best.is_file():
        from safetensors.torch import load_file

        plan.model.load_state_dict(load_file(str(best)))
    write_history_csv(result.history, run_dir / "history.csv")
    split, size = runner.eval_split(data)
    device = "cuda" if result.accelerator == "cuda" else "cpu"
    if show_progress:
        sys.stderr.write(f"evaluating on the {split} split ({size} images)\n")
    plan.model.float()
    report = runner.evaluate(
        plan, data, split=split, run_dir=run_dir, device=device, history=result.history
    )
    report["split"] = split
    report["training"] = training_summary(
        result, monitor=plan.monitor.name, train_images=plan.train_images
    )
    plan.model.to("cpu").to(memory_format=torch.contiguous_format)
    save_weights(plan.model, run_dir / "model.safetensors")
    card = runner.card(cfg, plan, data, report, epochs=result.epochs_completed)
    card.training["wall_time_s"] = report["training"]["wall_time_s"]  # every session's
    if plan.load_report is not None:  # where the weights started, and which head is new
        report["training"]["weights"] = plan.load_report.to_dict()
        card.training["weights"] = plan.load_report.to_dict()
    card.save(run_dir)
    write_json(run_dir / "metrics.json", report)
    return report
