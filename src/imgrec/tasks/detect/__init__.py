"""Object detection as an imgrec task: boxes, labels and scores per image."""

from __future__ import annotations

from pathlib import Path
from typing import ClassVar

from imgrec.tasks.registry import MetricSpec, TaskSpec, register_task

__all__ = ["DetectTask"]


@register_task
class DetectTask(TaskSpec):
    """COCO JSON, YOLO txt + data.yaml or Pascal VOC XML -> boxes with labels and scores."""

    name: ClassVar[str] = "detect"
    formats: ClassVar[tuple[str, ...]] = ("coco", "yolo", "voc")
    metrics: ClassVar[tuple[MetricSpec, ...]] = (
        MetricSpec("val_map", "max", True, "Val mAP"),
        MetricSpec("val_map50", "max", True, "Val AP50"),
        MetricSpec("train_loss", "min", True, "Train loss"),
        MetricSpec("map", "max", False, "Test mAP"),
        MetricSpec("map50", "max", False, "Test AP50"),
        MetricSpec("map75", "max", False, "Test AP75"),
    )
    summary_metric: ClassVar[str] = "map"
    runner: ClassVar[str] = "imgrec.engine.detect_runner:DetectRunner"
    model_check: ClassVar[str] = "imgrec.models.detectors:check_detector"
    default_model: ClassVar[str] = "tinydet"

    def recognises(self, folder: Path) -> str | None:
        """``"coco"``, ``"yolo"`` or ``"voc"`` when ``folder`` has that layout."""
        from imgrec.data.detection import detect_layout

        return detect_layout(folder)
