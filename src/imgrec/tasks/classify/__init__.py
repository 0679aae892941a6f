"""Image classification as an imgrec task: one label per image."""

from __future__ import annotations

from pathlib import Path
from typing import Any, ClassVar

from imgrec.tasks.registry import MetricSpec, TaskSpec, register_task

__all__ = ["ClassificationTask", "ClassifyTask", "inverse_frequency_weights"]


@register_task
class ClassifyTask(TaskSpec):
    """Class folders, split folders, CSV ``path,label`` or IDX files -> a label and scores."""

    name: ClassVar[str] = "classify"
    formats: ClassVar[tuple[str, ...]] = ("imagefolder", "split-folders", "csv", "idx")
    metrics: ClassVar[tuple[MetricSpec, ...]] = (
        MetricSpec("val_accuracy", "max", True, "Val accuracy"),
        MetricSpec("val_loss", "min", True, "Val loss"),
        MetricSpec("train_loss", "min", True, "Train loss"),
        MetricSpec("accuracy", "max", False, "Test accuracy"),
        MetricSpec("macro_f1", "max", False, "Test macro F1"),
        MetricSpec("loss", "min", False, "Test loss"),
    )
    summary_metric: ClassVar[str] = "accuracy"
    runner: ClassVar[str] = "imgrec.engine.classify_runner:ClassifyRunner"

    def recognises(self, folder: Path) -> str | None:
        """Class folders of images count as classification (the fallback layout)."""
        return "imagefolder" if any(p.is_dir() for p in folder.iterdir()) else None


def __getattr__(name: str) -> Any:
    """The Lightning module loads on first use: naming or inferring a task imports no torch."""
    if name in ("ClassificationTask", "inverse_frequency_weights"):
        from imgrec.tasks.classify import module

        return getattr(module, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
