"""Resuming keeps a run's record true: the training time is every session's, and a finished run
is refused instead of being re-evaluated over its own record."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

import imgrec
from imgrec.api import open_store
from imgrec.errors import RunError

pytestmark = pytest.mark.slow

TINY: dict[str, Any] = {
    "img_size": 16,
    "batch_size": 16,
    "show_progress": False,
    "model.options.width": 8,
}


def _files(run_dir: Path) -> dict[str, str]:
    return {name: (run_dir / name).read_text() for name in ("run.json", "metrics.json")}


def test_resumed_time_adds_up_and_a_finished_run_is_refused(
    shapes_dir: Path, tmp_path: Path
) -> None:
    first = imgrec.train(shapes_dir, out=str(tmp_path), epochs=2, **TINY)
    run_dir, run_id = first.run_dir, first.run_id
    before = first.metrics["training"]["wall_time_s"]

    more = imgrec.train(resume=run_dir, epochs=3, show_progress=False)
    training = more.metrics["training"]
    assert more.run_id == run_id and training["epochs_completed"] == 3
    assert training["sessions"] == 2 and training["epochs_this_session"] == 1
    assert training["wall_time_s"] > before > training["wall_time_this_session_s"]
    card = json.loads((run_dir / "card.json").read_text())
    assert card["training"]["wall_time_s"] == training["wall_time_s"]
    run = open_store().get_run(run_id)
    assert run.status == "completed" and run.epochs_completed == 3
    assert run.train_time_s == pytest.approx(training["wall_time_s"])

    # Finished: the same epochs again would train nothing and overwrite the record.
    files = _files(run_dir)
    with pytest.raises(RunError, match=r"already finished.*--epochs 8"):
        imgrec.train(resume=run_dir, epochs=3, show_progress=False)
    with pytest.raises(RunError, match="already trained 3 epochs"):
        imgrec.train(resume=run_dir, epochs=2, show_progress=False)
    assert _files(run_dir) == files
    after = open_store().get_run(run_id)
    assert (after.status, after.error, after.train_time_s) == ("completed", None, run.train_time_s)
    assert after.finished_at == run.finished_at
