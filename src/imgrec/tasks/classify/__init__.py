"""Image classification as an imgrec task: one label per image."""

from __future__ import annotations

from collections.abc import Mapping
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

    def check_model(
        self,
        name: str,
        *,
        weights: str | None,
        pretrained: bool,
        offline: bool,
        options: Mapping[str, Any],
    ) -> None:
        """A classifier name from :func:`imgrec.models.registry.list_models` (or ``tv:``,
        ``timm:``), checked by :func:`imgrec.models.registry.check_model`."""
        from imgrec.models.registry import check_model

        check_model(name, weights=weights, pretrained=pretrained, offline=offline, options=options)

    def check_listing(self, folder: Path) -> None:
        """An image folder needs two class folders; other layouts are checked when read."""
        from imgrec.data.ingest import class_folders
        from imgrec.errors import DatasetError

        found = class_folders(folder)
        if found is None or len(found[1]) >= 2:
            return
        where, names = found
        has = f"one class folder ('{names[0]}')" if names else "no class folders"
        raise DatasetError(
            f"{where}: {has}; classification needs at least two classes, one sub-folder of "
            "images per class (or split folders, or a CSV of path,label). Add a folder for each "
            "other class, or pick a dataset with two or more."
        )


def __getattr__(name: str) -> Any:
    """The Lightning module loads on first use: naming or inferring a task imports no torch."""
    if name in ("ClassificationTask", "inverse_frequency_weights"):
        from imgrec.tasks.classify import module

        return getattr(module, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
