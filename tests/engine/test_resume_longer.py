"""A run resumed with more epochs: the schedule is re-planned for the new end (not stuck at the
final rate), and the training time adds up over the sessions."""

from __future__ import annotations

from pathlib import Path

import pytest

from imgrec.config import TrainConfig
from tests.engine.test_fit import _run

pytestmark = pytest.mark.slow

FINAL = 1e-3 * 0.01  # the cosine schedule's floor for lr 1e-3


def test_cosine_resumed_with_more_epochs_is_replanned_and_times_add_up(tmp_path: Path) -> None:
    _, first = _run(tmp_path, TrainConfig(epochs=2, lr=1e-3, device="cpu"))
    assert first.history[-1]["lr"] == pytest.approx(FINAL)  # the plan ran to its end
    _, more = _run(tmp_path, TrainConfig(epochs=4, lr=1e-3, device="cpu"), resume=True)
    rates = [row["lr"] for row in more.history]
    assert len(rates) == 4 and more.epochs_completed == 4
    assert rates[2] > 10 * FINAL  # epoch 3 climbs back onto the 4-epoch curve
    assert rates[3] < rates[2]  # and decays towards the new end
    assert more.schedule_note is not None and "planned for 2 epochs" in more.schedule_note
    assert "re-planned for 4" in more.schedule_note
    # Time: the checkpoint carried the first session's, this session adds its own.
    assert more.sessions == 2 and more.epochs_this_session == 2
    assert more.session_time_s < more.wall_time_s
    assert more.wall_time_s == pytest.approx(first.wall_time_s + more.session_time_s, abs=0.5)


def test_one_cycle_resumed_with_more_epochs_trains_on(tmp_path: Path) -> None:
    # One-cycle refuses to step past its planned end (ValueError) unless it is re-planned.
    cfg = TrainConfig(epochs=2, lr=1e-3, device="cpu", scheduler="onecycle")
    _run(tmp_path / "resumed", cfg)
    longer = cfg.model_copy(update={"epochs": 4})
    _, more = _run(tmp_path / "resumed", longer, resume=True)
    _, planned = _run(tmp_path / "straight", longer)  # asked for 4 epochs from the start
    assert more.epochs_completed == 4
    for epoch in (2, 3):  # the resumed run follows the 4-epoch plan from where it stood
        assert more.history[epoch]["lr"] == pytest.approx(planned.history[epoch]["lr"])
    assert more.schedule_note is not None and "onecycle" in more.schedule_note
