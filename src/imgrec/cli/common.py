"""What every command shares: domain errors as ``error: ...`` with exit 2, ``key=value`` pairs."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, TypeVar

import typer

from imgrec.errors import ImgrecError, RunInterrupted

__all__ = ["parse_pairs", "run_or_exit"]

T = TypeVar("T")


def run_or_exit(action: Callable[[], T]) -> T:
    """``action()``; an imgrec error prints ``error: <message>`` and exits 2, Ctrl-C exits 130,
    SIGTERM 143.

    An interrupted training run (:class:`~imgrec.errors.RunInterrupted`) prints its one line:
    where it stopped and the command that resumes it. Lightning ends a fit stopped by Ctrl-C with
    ``sys.exit(1)`` and one stopped by SIGTERM with ``SIGTERMException``, a ``SystemExit`` without
    a code, which would end the process with status 0 as if the run had finished.
    """
    try:
        return action()
    except ImgrecError as exc:
        typer.echo(f"error: {exc}", err=True)
        raise typer.Exit(2) from None
    except RunInterrupted as exc:
        typer.echo(str(exc), err=True)
        raise typer.Exit(exc.exit_code) from None
    except KeyboardInterrupt:
        typer.echo("interrupted", err=True)
        raise typer.Exit(130) from None
    except SystemExit as exc:
        if isinstance(exc.__context__, KeyboardInterrupt) and exc.code == 1:  # Lightning's
            typer.echo("interrupted", err=True)
            raise typer.Exit(130) from None
        if type(exc).__name__ != "SIGTERMException":
            raise
        typer.echo("stopped by SIGTERM; `imgrec train --resume RUN` continues a run", err=True)
        raise typer.Exit(143) from None


def parse_pairs(pairs: list[str] | None, what: str) -> dict[str, Any]:
    """``["a=1", "b.c=x"]`` -> ``{"a": 1, "b.c": "x"}`` (values read as YAML)."""
    import yaml

    out: dict[str, Any] = {}
    for pair in pairs or []:
        key, sep, raw = pair.partition("=")
        if not sep or not key:
            typer.echo(f"error: {what} '{pair}' must look like key=value", err=True)
            raise typer.Exit(2)
        out[key.strip()] = yaml.safe_load(raw) if raw else ""
    return out
