"""Progress of a whole search: trials done by state, best so far, elapsed time and ETA."""

from __future__ import annotations

import sys
import time
from datetime import datetime
from typing import TextIO

import optuna
from optuna.trial import TrialState

from imgrec.progress import format_duration, search_eta
from imgrec.store import ExperimentInfo

__all__ = ["SearchProgress", "search_eta"]


class SearchProgress:
    """Prints one line per change: ``trials 7/20 (5 complete, 2 pruned) best ... ETA ...``."""

    def __init__(self, exp: ExperimentInfo, *, workers: int = 1, stream: TextIO | None = None):
        self.exp = exp
        self.workers = workers
        self.stream = stream or sys.stderr
        self.started = time.monotonic()
        self._last = ""

    def line(
        self, study: optuna.Study, *, deadline: datetime | None = None, now: datetime | None = None
    ) -> str:
        trials = study.get_trials(deepcopy=False)
        states = {s: sum(t.state == s for t in trials) for s in TrialState}
        ended = [t for t in trials if t.state.is_finished() and t.duration is not None]
        done = states[TrialState.COMPLETE] + states[TrialState.PRUNED]
        seconds = [t.duration.total_seconds() for t in ended if t.duration is not None]
        mean = sum(seconds) / len(seconds) if seconds else None
        deadline_in = (deadline - now).total_seconds() if deadline and now else None
        running = states[TrialState.RUNNING]
        eta = search_eta(
            remaining=self.exp.n_trials - done,
            mean_trial_s=mean,
            parallel=max(running, self.workers),
            deadline_in_s=deadline_in,
        )
        metric, direction = self.exp.objectives[0]
        best = ""
        complete = [t for t in trials if t.state == TrialState.COMPLETE and t.values]
        if complete:
            pick = max if direction == "maximize" else min
            top = pick(complete, key=lambda t: t.values[0])
            best = f" | best {metric} {top.values[0]:.4f} (trial {top.number})"
        parts = [f"{states[TrialState.COMPLETE]} complete", f"{states[TrialState.PRUNED]} pruned"]
        if states[TrialState.FAIL]:
            parts.append(f"{states[TrialState.FAIL]} failed")
        if running:
            parts.append(f"{running} running")
        elapsed = format_duration(time.monotonic() - self.started)
        left = format_duration(eta) if eta is not None else "?"
        return (
            f"search {self.exp.name}: {done}/{self.exp.n_trials} trials ({', '.join(parts)})"
            f"{best} | {elapsed} elapsed, ETA {left}"
        )

    def update(self, study: optuna.Study, **kwargs: datetime | None) -> None:
        text = self.line(study, **kwargs)
        if text.split(" | ")[0:2] != self._last.split(" | ")[0:2]:
            self.stream.write(text + "\n")
            self.stream.flush()
        self._last = text
