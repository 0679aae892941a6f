"""Which curves the run and experiment pages draw, from the task's declared metrics.

A task declares its metrics (``imgrec.api.task_info``: name, direction, per epoch, label); the
pages plot the per-epoch ones, larger-is-better on a 0..1 score axis (``val_accuracy``,
``val_map``) and smaller-is-better on a loss axis (``val_loss``, ``train_loss``). Nothing here
names a task: a new task's curves appear once it declares them.
"""

from __future__ import annotations

from collections.abc import Sequence
from functools import cache
from typing import Any

from imgrec.errors import ImgrecError
from imgrec.store import EpochInfo

__all__ = ["epoch_curves", "live_curves", "task_metrics"]

Spec = dict[str, Any]


@cache
def _info(task: str) -> dict[str, Any]:
    from imgrec.api import task_info

    return task_info(task)


def task_metrics(task: str) -> dict[str, Any]:
    """``task_info`` of ``task`` (cached); an unknown task reads as classification."""
    try:
        return _info(task)
    except ImgrecError:
        return _info("classify")


def _axis(spec: Spec) -> str:
    return "score" if spec["direction"] == "max" else "loss"


def _series(spec: Spec) -> dict[str, str]:
    return {"name": spec["name"], "label": spec["label"], "axis": _axis(spec)}


def epoch_curves(task: str, epochs: Sequence[EpochInfo]) -> dict[str, Any]:
    """The run page's curves: each per-epoch metric of the task that the epochs recorded, and
    beside each ``val_*`` metric its ``train_*`` twin when recorded (train accuracy); the rows
    reduced to those metrics, and the title of the score axis."""
    info = task_metrics(task)
    present = {k for e in epochs for k in e.values}
    declared = [m for m in info["metrics"] if m["per_epoch"]]
    names = {m["name"] for m in declared}
    series: list[dict[str, str]] = []
    for spec in declared:
        series.append(_series(spec))
        twin = "train_" + spec["name"].removeprefix("val_")
        if spec["name"].startswith("val_") and twin in present and twin not in names:
            label = spec["label"]
            label = "Train " + label[4:] if label.startswith("Val ") else twin.replace("_", " ")
            series.append({"name": twin, "label": label, "axis": _axis(spec)})
    series = [s for s in series if s["name"] in present]
    keys = [s["name"] for s in series]
    rows = [{"epoch": e.epoch} | {k: e.value(k) for k in keys} for e in epochs]
    monitor = next(m for m in declared if m["name"] == info["monitor"])
    score_axis = str(monitor["label"]).removeprefix("Val ")
    return {"series": series, "epochs": rows, "score_axis": score_axis}


def live_curves(task: str, objective: str) -> dict[str, Any]:
    """The experiment page's two charts (a score and a loss per epoch of every trial) and the
    label of the runs' test score: the objective when it is per epoch, else the task's monitor
    and its first per-epoch loss."""
    info = task_metrics(task)
    declared = [m for m in info["metrics"] if m["per_epoch"]]
    chosen = {_axis(m): m for m in reversed(declared)}  # the first of each axis wins
    for spec in declared:
        if spec["name"] == objective:
            chosen[_axis(spec)] = spec
    summary = next(
        (m for m in info["metrics"] if m["name"] == info["summary_metric"]),
        {"name": info["summary_metric"], "label": info["summary_metric"]},
    )
    out: dict[str, Any] = {"summary": {"name": summary["name"], "label": summary["label"]}}
    for axis in ("score", "loss"):
        spec = chosen.get(axis)
        out[axis] = {"name": spec["name"], "label": spec["label"]} if spec else None
    return out
