"""The ``imgrec`` command line: one Typer app, each command calls one api function.

Heavy modules (torch, Lightning) are imported inside the commands so ``imgrec --help`` is fast.
Domain errors print ``error: <message>`` and exit with status 2 (:mod:`imgrec.cli.common`);
nothing prints a traceback for a mistake the user can fix. One module per group of commands.
"""

from __future__ import annotations

import typer

from imgrec.cli import train as train_commands
from imgrec.cli.data import config_app, data_app
from imgrec.cli.explain import explain_command, inspect_command
from imgrec.cli.runs import runs_app
from imgrec.cli.serve import serve_command
from imgrec.cli.tune import tune_command, worker_command

__all__ = ["app", "main"]

app = typer.Typer(
    name="imgrec",
    help="imgrec: from a folder or zip of images to a trained, evaluated, reusable model.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
    # Plain click help: Typer's rich renderer imports markdown and syntax highlighting (~0.7 s),
    # which would make `imgrec --help` slow.
    rich_markup_mode=None,
)
for command in train_commands.app.registered_commands:
    app.registered_commands.append(command)
app.command("tune")(tune_command)
app.command("worker")(worker_command)
app.command("explain")(explain_command)
app.command("inspect")(inspect_command)
app.command("serve")(serve_command)
app.add_typer(data_app, name="data")
app.add_typer(config_app, name="config")
app.add_typer(runs_app, name="runs")


def main() -> None:
    app()


if __name__ == "__main__":
    main()
