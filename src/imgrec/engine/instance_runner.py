"""Instance segmentation's part of a training run (``task: instance``): COCO data with masks, a
Mask R-CNN, box and mask AP by pycocotools. The run's life is :mod:`imgrec.engine.runner`'s.

It is detection's runner (:class:`~imgrec.engine.detect_runner.DetectRunner`) with masks: the
dataset decodes each object's polygon or RLE mask, the model is a Mask R-CNN, the evaluation
adds COCO ``segm`` metrics, and the card records mask AP.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from imgrec.config import RunConfig, Settings
from imgrec.data.detection import DetectionDataset
from imgrec.engine.detect_runner import DetectRunner, read_detection_data
from imgrec.engine.instance_eval import evaluate_instance_segmenter
from imgrec.errors import DatasetError
from imgrec.models.instance_segmenters import create_instance_segmenter
from imgrec.tasks.instance.training import InstanceModule, InstanceTorchDataset, trainable_objects

__all__ = ["InstanceRunner", "read_instance_data"]


def read_instance_data(cfg: RunConfig, settings: Settings) -> DetectionDataset:
    """The COCO dataset of ``cfg.data.path`` with its masks; refused when it has none."""
    data = read_detection_data(cfg, settings)
    if data.layout != "coco":
        raise DatasetError(
            f"{data.source}: a {data.layout} dataset holds boxes only; instance segmentation "
            "reads COCO instances with polygon or RLE masks (`imgrec data synth OUT --task "
            "instance` writes an example)."
        )
    if not data.has_masks:
        raise DatasetError(
            f"{data.source}: no annotation has a usable 'segmentation' (polygons or RLE); "
            "train --task detect on boxes, or add masks to the annotations."
        )
    return data


class InstanceRunner(DetectRunner):
    """The :class:`~imgrec.engine.task_runner.TaskRunner` of instance segmentation."""

    task_name = "instance"
    dataset_class = InstanceTorchDataset
    module_class = InstanceModule
    card_metrics = ("mask_map", "mask_map50", "mask_map75", "map", "map50", "map75")
    evaluate_images = staticmethod(evaluate_instance_segmenter)
    create_model = staticmethod(create_instance_segmenter)

    def read_data(
        self, cfg: RunConfig, settings: Settings, progress: Callable[[str], Any] | None
    ) -> DetectionDataset:
        data = read_instance_data(cfg, settings)
        if not any(trainable_objects(im).any() for im in data.by_split("train")):
            raise DatasetError(f"{data.source}: no training image has an object with a mask.")
        return data
