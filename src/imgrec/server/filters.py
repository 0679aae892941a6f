"""Jinja filters of the pages: numbers, percentages, shares, durations, times and sizes."""

from __future__ import annotations

import math
from collections.abc import Callable
from datetime import datetime
from typing import Any

__all__ = ["TEMPLATE_FILTERS"]


def _num(value: Any, digits: int = 4) -> str:
    if value is None or value == "":
        return "—"
    if isinstance(value, bool | int):
        return str(value)
    if isinstance(value, float):
        return "—" if not math.isfinite(value) else f"{value:.{digits}g}"
    return str(value)


def _pct(value: float | None) -> str:
    return "—" if value is None else f"{value * 100:.1f}%"


def _share(value: float | None) -> str:
    """A fraction as a percentage that keeps small shares visible: 0.0042 is 0.42%, 0 is 0%."""
    if value is None or not math.isfinite(value):
        return "—"
    if value == 0:
        return "0%"
    return f"{value * 100:.2f}%" if value < 0.1 else f"{value * 100:.1f}%"


def _secs(value: float | None) -> str:
    if value is None or not math.isfinite(value):
        return "—"
    s = round(value)
    if s < 60:
        return f"{value:.1f}s" if value < 10 else f"{s}s"
    m = s // 60
    return f"{m}m {s % 60:02d}s" if m < 60 else f"{m // 60}h {m % 60:02d}m"


def _when(value: datetime | str | None) -> str:
    if value is None:
        return "—"
    if isinstance(value, str):
        value = datetime.fromisoformat(value)
    return value.strftime("%Y-%m-%d %H:%M")


def _bytes(value: float | None) -> str:
    if value is None:
        return "—"
    for unit in ("B", "KB", "MB", "GB"):
        if value < 1024 or unit == "GB":
            return f"{value:.0f} {unit}" if unit == "B" else f"{value:.1f} {unit}"
        value /= 1024
    return "—"  # unreachable


TEMPLATE_FILTERS: dict[str, Callable[..., str]] = {
    "num": _num,
    "pct": _pct,
    "share": _share,
    "secs": _secs,
    "when": _when,
    "bytes": _bytes,
}
