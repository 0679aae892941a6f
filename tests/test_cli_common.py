"""How every command ends: domain errors exit 2, Ctrl-C 130, SIGTERM 143 (never 0)."""

from __future__ import annotations

import pytest
import typer

from imgrec.cli.common import parse_pairs, run_or_exit
from imgrec.errors import ConfigError


def _raise(exc: BaseException) -> None:
    raise exc


def test_exit_statuses() -> None:
    from lightning.pytorch.utilities.exceptions import SIGTERMException

    with pytest.raises(typer.Exit) as stopped:
        run_or_exit(lambda: _raise(SIGTERMException()))
    assert stopped.value.exit_code == 143  # Lightning's own exception would exit 0
    with pytest.raises(typer.Exit) as failed:
        run_or_exit(lambda: _raise(ConfigError("bad key")))
    assert failed.value.exit_code == 2
    with pytest.raises(typer.Exit) as interrupted:
        run_or_exit(lambda: _raise(KeyboardInterrupt()))
    assert interrupted.value.exit_code == 130
    with pytest.raises(SystemExit) as other:
        run_or_exit(lambda: _raise(SystemExit(3)))
    assert other.value.code == 3
    assert run_or_exit(lambda: 7) == 7


def test_pairs_are_read_as_yaml_and_a_bare_word_is_refused() -> None:
    assert parse_pairs(["a=1", "b.c=x", "d="], "--set") == {"a": 1, "b.c": "x", "d": ""}
    with pytest.raises(typer.Exit):
        parse_pairs(["nokey"], "--set")
