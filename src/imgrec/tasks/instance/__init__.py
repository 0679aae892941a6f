"""Instance segmentation as an imgrec task: a box, a class, a score and a mask per object."""

from __future__ import annotations

from pathlib import Path
from typing import ClassVar

from imgrec.tasks.registry import MetricSpec, TaskSpec, register_task

__all__ = ["InstanceTask"]


@register_task
class InstanceTask(TaskSpec):
    """COCO instances with polygon or RLE masks -> boxes, labels, scores and masks."""

    name: ClassVar[str] = "instance"
    formats: ClassVar[tuple[str, ...]] = ("coco",)
    metrics: ClassVar[tuple[MetricSpec, ...]] = (
        MetricSpec("val_mask_map", "max", True, "Val mask mAP"),
        MetricSpec("val_mask_map50", "max", True, "Val mask AP50"),
        MetricSpec("val_map", "max", True, "Val box mAP"),
        MetricSpec("train_loss", "min", True, "Train loss"),
        MetricSpec("mask_map", "max", False, "Test mask mAP"),
        MetricSpec("mask_map50", "max", False, "Test mask AP50"),
        MetricSpec("mask_map75", "max", False, "Test mask AP75"),
        MetricSpec("map", "max", False, "Test box mAP"),
        MetricSpec("map50", "max", False, "Test box AP50"),
    )
    summary_metric: ClassVar[str] = "mask_map"
    runner: ClassVar[str] = "imgrec.engine.instance_runner:InstanceRunner"
    model_check: ClassVar[str] = "imgrec.models.instance_segmenters:check_instance_segmenter"
    default_model: ClassVar[str] = "tinymask"
    data_needs: ClassVar[str] = " with polygon or RLE masks in its annotations"

    def recognises(self, folder: Path) -> str | None:
        """``"coco"`` when ``folder`` is a COCO layout whose annotations hold masks (a COCO set
        of boxes only is a detection set); its masks are checked when read."""
        from imgrec.data.detection import detect_layout
        from imgrec.data.segmentation.coco import is_coco_segmentation

        if detect_layout(folder) != "coco" or not is_coco_segmentation(folder):
            return None
        return "coco"
