"""How every command ends: domain errors exit 2, Ctrl-C 130, SIGTERM 143 (never 0)."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest
import typer

from imgrec.cli.common import parse_pairs, run_or_exit
from imgrec.errors import ConfigError, RunInterrupted


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


def _lightning_ctrl_c() -> None:
    try:
        raise KeyboardInterrupt
    except KeyboardInterrupt:
        sys.exit(1)  # what Lightning's trainer does on Ctrl-C


@pytest.mark.parametrize(("signal", "code"), [("SIGINT", 130), ("SIGTERM", 143)])
def test_an_interrupted_run_prints_its_line_and_exits_128_plus_the_signal(
    signal: str, code: int, capsys: pytest.CaptureFixture[str]
) -> None:
    line = "interrupted by X at epoch 3/5 (2 saved); resume with: imgrec train --resume runs/a"
    stopped = RunInterrupted(line, run_dir=Path("runs/a"), signal=signal)
    with pytest.raises(typer.Exit) as ended:
        run_or_exit(lambda: _raise(stopped))
    assert ended.value.exit_code == code
    assert capsys.readouterr().err == line + "\n"


def test_ctrl_c_turned_into_exit_1_by_lightning_exits_130() -> None:
    with pytest.raises(typer.Exit) as interrupted:
        run_or_exit(_lightning_ctrl_c)
    assert interrupted.value.exit_code == 130


def test_pairs_are_read_as_yaml_and_a_bare_word_is_refused() -> None:
    assert parse_pairs(["a=1", "b.c=x", "d="], "--set") == {"a": 1, "b.c": "x", "d": ""}
    with pytest.raises(typer.Exit):
        parse_pairs(["nokey"], "--set")
