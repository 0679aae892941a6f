"""Semantic segmentation as an imgrec task: one class per pixel."""

from __future__ import annotations

from pathlib import Path
from typing import ClassVar

from imgrec.tasks.registry import MetricSpec, TaskSpec, register_task

__all__ = ["SegmentTask"]


@register_task
class SegmentTask(TaskSpec):
    """Images with index/colour masks, VOC SegmentationClass or COCO masks -> a class per pixel."""

    name: ClassVar[str] = "segment"
    formats: ClassVar[tuple[str, ...]] = ("mask-folders", "voc-seg", "coco-seg")
    metrics: ClassVar[tuple[MetricSpec, ...]] = (
        MetricSpec("val_miou", "max", True, "Val mIoU"),
        MetricSpec("val_pixel_accuracy", "max", True, "Val pixel accuracy"),
        MetricSpec("val_loss", "min", True, "Val loss"),
        MetricSpec("train_loss", "min", True, "Train loss"),
        MetricSpec("miou", "max", False, "Test mIoU"),
        MetricSpec("pixel_accuracy", "max", False, "Test pixel accuracy"),
        MetricSpec("mean_dice", "max", False, "Test mean Dice"),
    )
    summary_metric: ClassVar[str] = "miou"
    runner: ClassVar[str] = "imgrec.engine.segment_runner:SegmentRunner"
    model_check: ClassVar[str] = "imgrec.models.segmenters:check_segmenter"
    default_model: ClassVar[str] = "smallunet"

    def recognises(self, folder: Path) -> str | None:
        """The segmentation layout of ``folder`` (``"mask-folders"``, ``"voc-seg"``, ...)."""
        from imgrec.data.segmentation import detect_segmentation_layout

        return detect_segmentation_layout(folder)
