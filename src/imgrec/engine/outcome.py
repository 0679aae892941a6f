"""What one finished training run hands back: a typed view of its ``metrics.json``.

Every task writes its own evaluation report (classification: accuracy, per-class tables;
detection: COCO AP, per-class AP); what callers need from any of them is the same few things:
the task, the split it was measured on, the final scores by name, the task's primary score, the
training summary and the timings. :class:`RunOutcome` gives those as attributes, so no caller
reads the report by key; ``report`` keeps the whole document for whoever wants the details.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

__all__ = ["RunOutcome", "numeric_scores"]


def numeric_scores(report: Mapping[str, Any]) -> dict[str, float]:
    """The top-level numbers of an evaluation report, by name (booleans are not scores)."""
    return {
        k: float(v)
        for k, v in report.items()
        if isinstance(v, int | float) and not isinstance(v, bool)
    }


@dataclass(frozen=True)
class RunOutcome:
    """A finished run's results.

    Attributes:
        run_dir: The run directory (model, card, report, plots).
        task: The task that trained it (``"classify"``, ``"detect"``).
        primary_metric: The task's summary metric (``"accuracy"``, ``"map"``).
        split: The split the final scores were measured on (``"test"`` when there is one).
        scores: Every final score by name (``accuracy``, ``macro_f1``, ``map``, ``map50``...).
        training: Wall time, epochs, best epoch, images per second, device, precision.
        inference: Batch-1 latency and throughput (empty when not measured).
        report: The whole ``metrics.json`` document.
    """

    run_dir: Path
    task: str
    primary_metric: str
    split: str | None = None
    scores: Mapping[str, float] = field(default_factory=dict)
    training: Mapping[str, Any] = field(default_factory=dict)
    inference: Mapping[str, Any] = field(default_factory=dict)
    report: Mapping[str, Any] = field(default_factory=dict)

    @classmethod
    def from_report(
        cls, report: Mapping[str, Any], *, run_dir: Path, task: str, primary_metric: str
    ) -> RunOutcome:
        """The outcome described by an evaluation report (``metrics.json``'s content)."""
        split = report.get("split")
        return cls(
            run_dir=run_dir,
            task=task,
            primary_metric=primary_metric,
            split=str(split) if split is not None else None,
            scores=numeric_scores(report),
            training=dict(report.get("training") or {}),
            inference=dict(report.get("inference") or {}),
            report=report,
        )

    @property
    def primary_value(self) -> float | None:
        """The primary score (test accuracy, test mAP), if the run measured it."""
        return self.scores.get(self.primary_metric)

    def score(self, name: str) -> float | None:
        """A final score by name, or None when the run has none by that name."""
        return self.scores.get(name)

    @property
    def train_time_s(self) -> float | None:
        value = self.training.get("wall_time_s")
        return float(value) if value is not None else None

    @property
    def latency_ms(self) -> float | None:
        """Median batch-1 inference latency in milliseconds, when measured."""
        value = (self.inference.get("latency_batch1") or {}).get("p50_ms")
        return float(value) if value is not None else None

    @property
    def epochs_completed(self) -> int:
        return int(self.training.get("epochs_completed") or 0)
