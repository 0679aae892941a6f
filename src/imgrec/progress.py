"""A small text progress reporter with ETA for long steps (ingest, decoding, evaluation)."""

from __future__ import annotations

import math
import sys
import time
from typing import TextIO

__all__ = ["TextProgress", "format_duration", "search_eta"]


def format_duration(seconds: float) -> str:
    """``75`` -> ``"1m15s"``; ``4000`` -> ``"1h06m"``."""
    if not math.isfinite(seconds):
        return "?"
    seconds = max(0, round(seconds))
    if seconds < 60:
        return f"{seconds}s"
    if seconds < 3600:
        return f"{seconds // 60}m{seconds % 60:02d}s"
    return f"{seconds // 3600}h{(seconds % 3600) // 60:02d}m"


def search_eta(
    *,
    remaining: int,
    mean_trial_s: float | None,
    parallel: int,
    deadline_in_s: float | None = None,
) -> float | None:
    """Seconds until the search ends: remaining trials over the workers, capped by a deadline."""
    if remaining <= 0:
        return 0.0
    estimate = None
    if mean_trial_s is not None:
        estimate = remaining * mean_trial_s / max(1, parallel)
    if deadline_in_s is not None:
        estimate = min(estimate, deadline_in_s) if estimate is not None else deadline_in_s
    return None if estimate is None else max(0.0, estimate)


class TextProgress:
    """Callable ``(done, total)`` that prints ``label  done/total  pct  elapsed  ETA``.

    On a terminal the line is redrawn at most every ``refresh_s``; otherwise it prints at most ten
    lines per step, so logs stay short.
    """

    def __init__(self, label: str, *, stream: TextIO | None = None, refresh_s: float = 0.5) -> None:
        self.label = label
        self.stream = stream or sys.stderr
        self.refresh_s = refresh_s
        self.live = hasattr(self.stream, "isatty") and self.stream.isatty()
        self.started = time.perf_counter()
        self._last = 0.0
        self._last_decile = -1

    def __call__(self, done: int, total: int) -> None:
        now = time.perf_counter()
        finished = total > 0 and done >= total
        elapsed = now - self.started
        fraction = done / total if total else 1.0
        if self.live:
            if not finished and now - self._last < self.refresh_s:
                return
        else:
            decile = int(fraction * 10)
            if decile == self._last_decile and not finished:
                return
            self._last_decile = decile
        self._last = now
        eta = elapsed / fraction - elapsed if fraction > 0 else float("inf")
        line = (
            f"{self.label}  {done}/{total}  {fraction:4.0%}  {format_duration(elapsed)}"
            f"  ETA {format_duration(eta)}"
        )
        end = "\n" if finished or not self.live else ""
        self.stream.write(("\r" if self.live else "") + line + "   " + end)
        self.stream.flush()
