"""``imgrec tune`` and ``imgrec worker``: hyperparameter search and the processes that run it."""

from __future__ import annotations

import re
import signal
from pathlib import Path
from typing import Annotated, Any

import typer

__all__ = ["parse_duration", "tune_command", "worker_command"]

_UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400}


def parse_duration(text: str) -> float:
    """``"2h"``, ``"90m"``, ``"1h30m"``, ``"45s"`` or plain seconds -> seconds."""
    raw = text.strip().lower()
    if re.fullmatch(r"\d+(\.\d+)?", raw):
        return float(raw)
    parts = re.findall(r"(\d+(?:\.\d+)?)([smhd])", raw)
    if not parts or "".join(n + u for n, u in parts) != raw:
        typer.echo(
            f"error: --timeout '{text}' is not a duration; write e.g. 90s, 30m, 2h or 1h30m",
            err=True,
        )
        raise typer.Exit(2)
    return sum(float(n) * _UNITS[u] for n, u in parts)


def tune_command(
    path: Annotated[str, typer.Argument(help="Folder, zip or CSV of images.")],
    task: Annotated[
        str | None,
        typer.Option(help="classify, detect or segment; inferred from the dataset's layout."),
    ] = None,
    space: Annotated[
        Path | None, typer.Option(help="YAML file of bounds; default: a sensible space.")
    ] = None,
    trials: Annotated[int, typer.Option(help="Number of trials.")] = 20,
    timeout: Annotated[
        str | None, typer.Option(help="Start no new trial after this long (e.g. 2h, 30m).")
    ] = None,
    sampler: Annotated[str, typer.Option(help="tpe, random, cmaes or gp.")] = "tpe",
    pruner: Annotated[str, typer.Option(help="median, hyperband or none.")] = "median",
    metric: Annotated[
        list[str] | None,
        typer.Option(
            help="Objective (default: the task's, val_accuracy or val_map); give twice for a "
            "Pareto front (val_accuracy, latency_ms)."
        ),
    ] = None,
    direction: Annotated[
        list[str] | None, typer.Option(help="maximize or minimize, one per --metric.")
    ] = None,
    workers: Annotated[
        int, typer.Option(help="Local worker processes; 0 = only create the experiment.")
    ] = 1,
    name: Annotated[str | None, typer.Option(help="Experiment name.")] = None,
    out: Annotated[str, typer.Option(help="Folder for the experiment directory.")] = "experiments",
    set_: Annotated[
        list[str] | None, typer.Option("--set", help="Fixed config key=value for every trial.")
    ] = None,
    config: Annotated[Path | None, typer.Option("--config", "-c", help="Base YAML config.")] = None,
    db: Annotated[str | None, typer.Option(help="Run database URL.")] = None,
    verbose: Annotated[bool, typer.Option(help="Show each trial's training progress.")] = False,
    quiet: Annotated[bool, typer.Option("--quiet", "-q", help="No progress output.")] = False,
) -> None:
    """Search hyperparameters with Optuna; prints the best run directory as the last line."""
    from imgrec import api
    from imgrec.cli.common import parse_pairs, run_or_exit

    seconds = parse_duration(timeout) if timeout else None
    overrides: dict[str, Any] = parse_pairs(set_, "--set")
    if task is not None:
        overrides["task"] = task
    result = run_or_exit(
        lambda: api.tune(
            path,
            space=space,
            trials=trials,
            timeout=seconds,
            sampler=sampler,
            pruner=pruner,
            metrics=metric or [],
            directions=direction or [],
            workers=workers,
            name=name,
            out=out,
            config=config,
            db=db,
            show_progress=not quiet,
            verbose=verbose,
            **overrides,
        )
    )
    if workers == 0:
        typer.echo(
            f"experiment '{result.experiment}' created; start workers with "
            f"`imgrec worker --experiment {result.experiment}`" + (f" --db {db}" if db else "")
        )
        return
    summary = result.summary
    counts = ", ".join(f"{n} {state}" for state, n in sorted(summary.get("counts", {}).items()))
    typer.echo(f"experiment {result.experiment}: {result.status} ({counts})")
    if summary.get("best_trial") is None:
        typer.echo(
            "no trial completed; see `imgrec runs list --experiment NAME` for errors", err=True
        )
        raise typer.Exit(1)
    typer.echo(
        f"best trial {summary['best_trial']}: {summary['best_value']} with {summary['best_params']}"
    )
    typer.echo(f"report and plots: {result.out_dir}")
    typer.echo(f"best model: {summary.get('model_dir')}")
    typer.echo(str(summary["best_run_dir"]))


def _interrupt(_signum: int, _frame: object) -> None:
    from imgrec.api import request_stop

    if not request_stop():
        return  # one stop is enough: a second interrupt must not break the hand-back
    raise KeyboardInterrupt


def worker_command(
    db: Annotated[str | None, typer.Option(help="Run database URL shared by the workers.")] = None,
    experiment: Annotated[str | None, typer.Option(help="Only this experiment.")] = None,
    wait: Annotated[bool, typer.Option(help="Keep waiting for new experiments.")] = False,
    until_done: Annotated[
        bool, typer.Option(help="Stay until every trial of --experiment has finished.")
    ] = False,
    verbose: Annotated[bool, typer.Option(help="Show each trial's training progress.")] = False,
) -> None:
    """Run trials of open experiments until none is left (or forever with --wait).

    SIGTERM stops the worker like Ctrl-C: its running trial is handed back to the study with
    the same parameters, for the next worker.
    """
    from imgrec import api
    from imgrec.cli.common import run_or_exit

    signal.signal(signal.SIGTERM, _interrupt)

    count = run_or_exit(
        lambda: api.worker(
            db=db, experiment=experiment, wait=wait, until_done=until_done, verbose=verbose
        )
    )
    typer.echo(f"worker finished: ran {count} trial(s)", err=True)
