"""``imgrec runs list|show|compare|export|experiments|delete``: the run database from the
terminal.

These commands only use the store (no torch import), so they answer in well under a second.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Annotated, Any

import typer

runs_app = typer.Typer(
    help="List, show, compare, export and delete recorded runs.",
    no_args_is_help=True,
    rich_markup_mode=None,
)

DbOption = Annotated[
    str | None,
    typer.Option("--db", help="Run database URL (default IMGREC_DB_URL or SQLite in IMGREC_HOME)."),
]
FormatOption = Annotated[str, typer.Option("--format", "-f", help="table, csv or json.")]


def _store(db: str | None) -> Any:
    from imgrec.api import open_store
    from imgrec.config import Settings

    settings = Settings()
    store = open_store(db, settings=settings)
    store.reap_stale_runs(grace_s=settings.heartbeat_grace_s)
    return store


def _show(rows: list[dict[str, Any]], fmt: str, *, title: str | None = None) -> None:
    from imgrec.store.reports import rows_to_csv, rows_to_json

    if fmt == "json":
        typer.echo(rows_to_json(rows))
    elif fmt == "csv":
        rows_to_csv(rows, sys.stdout)
    elif fmt == "table":
        _table(rows, title=title)
    else:
        typer.echo(f"error: --format must be table, csv or json (got '{fmt}')", err=True)
        raise typer.Exit(2)


def _cell(value: Any) -> str:
    from datetime import datetime

    if value is None:
        return ""
    if isinstance(value, float):
        return f"{value:.4g}"
    if isinstance(value, datetime):
        return f"{value:%Y-%m-%d %H:%M}"
    return str(value)


def _table(rows: list[dict[str, Any]], *, title: str | None) -> None:
    from rich.console import Console
    from rich.table import Table

    if not rows:
        typer.echo("(nothing recorded yet)")
        return
    columns: list[str] = []
    for row in rows:
        columns += [k for k in row if k not in columns]
    table = Table(title=title)
    for column in columns:
        table.add_column(column, overflow="fold")
    for row in rows:
        table.add_row(*(_cell(row.get(c)) for c in columns))
    Console(width=max(100, min(200, 16 * len(columns)))).print(table)


@runs_app.command("list")
def list_runs(
    status: Annotated[str | None, typer.Option(help="Only runs in this state.")] = None,
    experiment: Annotated[str | None, typer.Option(help="Only this experiment's runs.")] = None,
    limit: Annotated[int, typer.Option(help="At most this many (newest first).")] = 50,
    fmt: FormatOption = "table",
    db: DbOption = None,
) -> None:
    """Recorded runs, newest first."""
    from imgrec.cli.common import run_or_exit
    from imgrec.store.reports import summary_row

    def action() -> None:
        with _store(db) as store:
            exp_id = store.get_experiment(experiment).id if experiment else None
            runs = store.list_runs(status=status, experiment_id=exp_id, limit=limit)
            _show([summary_row(r) for r in runs], fmt, title="runs")

    run_or_exit(action)


@runs_app.command("show")
def show_run(
    run: Annotated[str, typer.Argument(help="Run id, name or run directory.")],
    fmt: FormatOption = "table",
    db: DbOption = None,
) -> None:
    """One run: state, parameters, metrics, every epoch and its files."""
    from imgrec.cli.common import run_or_exit

    def action() -> None:
        with _store(db) as store:
            info = store.get_run(run)
            epochs = [e.model_dump() for e in store.epochs(info.id)]
            artifacts = [a.model_dump() for a in store.artifacts(info.id)]
            if fmt == "json":
                from imgrec.store.reports import rows_to_json

                typer.echo(
                    rows_to_json(
                        {
                            "run": info.model_dump(mode="json"),
                            "epochs": epochs,
                            "artifacts": artifacts,
                        }
                    )
                )
                return
            flat = info.flat()
            _show([{"key": k, "value": v} for k, v in flat.items()], fmt, title=f"run {info.id}")
            if fmt == "table":
                _show(epochs, fmt, title="epochs")
                _show(artifacts, fmt, title=f"files (in {info.run_dir})")

    run_or_exit(action)


@runs_app.command("compare")
def compare(
    runs: Annotated[list[str], typer.Argument(help="Two or more run ids, names or directories.")],
    all_params: Annotated[
        bool, typer.Option("--all", help="Also parameters that are the same in every run.")
    ] = False,
    fmt: FormatOption = "table",
    db: DbOption = None,
) -> None:
    """Parameters and metrics side by side (parameters that differ, unless --all)."""
    from imgrec.cli.common import run_or_exit
    from imgrec.store.reports import compare_runs

    def action() -> None:
        with _store(db) as store:
            infos = [store.get_run(r) for r in runs]
            _show(compare_runs(infos, all_params=all_params), fmt, title="comparison")

    run_or_exit(action)


@runs_app.command("export")
def export(
    out: Annotated[
        Path | None, typer.Option(help="File to write (default: standard output).")
    ] = None,
    fmt: Annotated[str, typer.Option("--format", "-f", help="csv or json.")] = "csv",
    experiment: Annotated[str | None, typer.Option(help="Only this experiment's runs.")] = None,
    db: DbOption = None,
) -> None:
    """Every run as one flat row (parameters, config, metrics); JSON also has the epochs."""
    from imgrec.cli.common import run_or_exit
    from imgrec.store.reports import rows_to_csv, rows_to_json

    def action() -> None:
        with _store(db) as store:
            exp_id = store.get_experiment(experiment).id if experiment else None
            runs = store.list_runs(experiment_id=exp_id)
            handle = out.open("w", newline="") if out is not None else sys.stdout
            try:
                if fmt == "csv":
                    rows_to_csv([r.flat() for r in runs], handle)
                elif fmt == "json":
                    rows = [
                        r.model_dump(mode="json")
                        | {"epochs": [e.model_dump() for e in store.epochs(r.id)]}
                        for r in runs
                    ]
                    handle.write(rows_to_json(rows) + "\n")
                else:
                    typer.echo(f"error: --format must be csv or json (got '{fmt}')", err=True)
                    raise typer.Exit(2)
            finally:
                if out is not None:
                    handle.close()
            if out is not None:
                typer.echo(f"wrote {len(runs)} runs to {out}", err=True)

    run_or_exit(action)


@runs_app.command("experiments")
def experiments(fmt: FormatOption = "table", db: DbOption = None) -> None:
    """Searches (`imgrec tune`): state, trials, best run."""
    from imgrec.cli.common import run_or_exit

    def action() -> None:
        with _store(db) as store:
            rows = []
            for e in store.list_experiments():
                counts = store.run_counts(e.id)
                done = counts.get("completed", 0) + counts.get("pruned", 0)
                rows.append(
                    {
                        "id": e.id,
                        "name": e.name,
                        "status": e.status,
                        "trials": f"{done}/{e.n_trials}",
                        "failed": counts.get("failed", 0),
                        "objectives": ", ".join(f"{m} ({d})" for m, d in e.objectives),
                        "best_run": e.best_run_id,
                        "best": e.summary.get("best_value"),
                        "created": e.created_at,
                    }
                )
            _show(rows, fmt, title="experiments")

    run_or_exit(action)


@runs_app.command("delete")
def delete(
    runs: Annotated[
        list[str] | None, typer.Argument(help="Run ids, names or run directories.")
    ] = None,
    status: Annotated[
        str | None, typer.Option(help="Delete every run in this state (e.g. failed).")
    ] = None,
    yes: Annotated[bool, typer.Option("--yes", "-y", help="Do not ask for confirmation.")] = False,
    keep_files: Annotated[
        bool, typer.Option("--keep-files", help="Delete the records only; keep run directories.")
    ] = False,
    db: DbOption = None,
) -> None:
    """Delete runs: their records (epochs, metrics) and their run directories.

    Only a folder imgrec made (with run.json or card.json) is removed; anything else recorded
    as a run directory is refused. Queued and running runs are refused too.
    """
    from imgrec import api
    from imgrec.cli.common import run_or_exit

    planned = run_or_exit(
        lambda: api.delete_runs(
            runs or [], status=status, keep_files=keep_files, dry_run=True, db=db
        )
    )
    if not planned:
        typer.echo(f"no {status} runs to delete.")
        return
    shown = {"removed": "folder removed too", "kept": "folder kept", "missing": "folder gone"}
    typer.echo(f"{len(planned)} run(s) to delete:")
    for run in planned:
        where = f"  {run.run_dir} ({shown[run.files]})" if run.run_dir is not None else ""
        typer.echo(f"  {run.id}  {run.name}  [{run.status}]{where}")
    if not yes and not typer.confirm(f"Delete these {len(planned)} run(s)?", default=False):
        typer.echo("nothing deleted.", err=True)
        raise typer.Exit(1)
    ids: list[str | int] = [run.id for run in planned]
    done = run_or_exit(lambda: api.delete_runs(ids, keep_files=keep_files, db=db))
    removed = sum(run.files == "removed" for run in done)
    typer.echo(f"deleted {len(done)} run(s) and {removed} run folder(s).")
