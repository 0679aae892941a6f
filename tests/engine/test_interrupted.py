"""Ctrl-C and SIGTERM end a run as ``interrupted``, also after Lightning turns them into exit(1)."""

from __future__ import annotations

import sys

import pytest

from imgrec.engine.lifecycle import status_of, was_interrupted
from imgrec.errors import RunStoppedError


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
        (SystemExit(1), "failed"),
        (ValueError("x"), "failed"),
        (RunStoppedError("stop"), RunStoppedError.status),
    ],
    ids=["ctrl-c", "lightning-exit", "plain-exit", "error", "stopped"],
)
def test_status_of_an_ended_run(exc: BaseException, status: str) -> None:
    assert status_of(exc) == status
    assert was_interrupted(exc) == (status == "interrupted")
