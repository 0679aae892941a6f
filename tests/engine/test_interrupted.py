"""Ctrl-C and SIGTERM end a run as ``interrupted``, also after Lightning turns them into exit(1)
or its SIGTERMException, with a reason that says where the run stopped and how to resume it."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest
from lightning.pytorch.utilities.exceptions import SIGTERMException

from imgrec.engine.fit import CHECKPOINT
from imgrec.engine.lifecycle import describe_failure, interruption, status_of, was_interrupted
from imgrec.engine.rundir import update_run_status
from imgrec.errors import RunInterrupted, RunStoppedError


def _lightning_style_exit() -> SystemExit:
    """What Lightning raises on Ctrl-C: sys.exit(1) inside ``except KeyboardInterrupt``."""
    try:
        try:
            raise KeyboardInterrupt
        except KeyboardInterrupt:
            sys.exit(1)
    except SystemExit as exc:
        return exc
    raise AssertionError("unreachable")


@pytest.mark.parametrize(
    ("exc", "status"),
    [
        (KeyboardInterrupt(), "interrupted"),
        (_lightning_style_exit(), "interrupted"),
        (SIGTERMException(), "interrupted"),
        (SystemExit(1), "failed"),
        (ValueError("x"), "failed"),
        (RunStoppedError("stop"), RunStoppedError.status),
    ],
    ids=["ctrl-c", "lightning-exit", "sigterm", "plain-exit", "error", "stopped"],
)
def test_status_of_an_ended_run(exc: BaseException, status: str) -> None:
    assert status_of(exc) == status
    assert was_interrupted(exc) == (status == "interrupted")
    assert describe_failure(exc)  # never empty, an interruption's included


def test_the_interruption_says_where_the_run_stopped_and_how_to_resume(tmp_path: Path) -> None:
    assert interruption(ValueError("x"), run_dir=tmp_path, epochs=5) is None
    early = interruption(KeyboardInterrupt(), run_dir=None, epochs=5)
    assert isinstance(early, RunInterrupted) and early.exit_code == 130
    assert (
        str(early) == "interrupted by Ctrl-C (SIGINT) while reading the data; nothing was trained."
    )
    first = interruption(SIGTERMException(), run_dir=tmp_path, epochs=5)
    assert first is not None and first.exit_code == 143 and "nothing to resume" in str(first)

    (tmp_path / CHECKPOINT).parent.mkdir()
    (tmp_path / CHECKPOINT).write_bytes(b"")
    update_run_status(tmp_path, last_epoch=2, phase="training")
    stopped = interruption(_lightning_style_exit(), run_dir=tmp_path, epochs=5)
    assert stopped is not None and stopped.run_dir == tmp_path and stopped.signal == "SIGINT"
    assert str(stopped) == (
        f"interrupted by Ctrl-C (SIGINT) at epoch 3/5 (2 saved); "
        f"resume with: imgrec train --resume {tmp_path}"
    )
    update_run_status(tmp_path, last_epoch=4, phase="evaluating")  # early stopping ended it
    evaluating = str(interruption(SIGTERMException(), run_dir=tmp_path, epochs=5))
    assert evaluating.startswith("interrupted by SIGTERM while evaluating after epoch 4/5;")
