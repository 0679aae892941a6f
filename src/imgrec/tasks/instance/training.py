"""Instance-segmentation training pieces: a dataset with per-object masks, the module.

Each object's mask travels as a ``tv_tensors.Mask`` ``(N, H, W)`` next to its
``BoundingBoxes`` through the detection transforms v2 pipeline, so flips, zooms and resizes
move boxes and masks together (``SanitizeBoundingBoxes`` drops a mask with its box). Crowd
regions and objects without a usable mask are left out of training targets.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import torch
from PIL import ImageOps
from torchvision import tv_tensors

from imgrec.config import TrainConfig
from imgrec.data.detection.masks import decode_segmentation
from imgrec.data.images import open_quietly
from imgrec.tasks.detect.training import DetectionModule, DetectionTorchDataset

__all__ = ["InstanceModule", "InstanceTorchDataset", "trainable_objects"]


def trainable_objects(item: Any) -> np.ndarray:
    """Which objects of ``item`` train: not crowd, with a mask."""
    return ~np.asarray(item.iscrowd, dtype=bool).reshape(-1) & item.mask_flags


class InstanceTorchDataset(DetectionTorchDataset):
    """Items as for detection plus ``segmentations`` (COCO polygons or RLE, one per box)."""

    def __getitem__(self, index: int) -> tuple[torch.Tensor, dict[str, Any]]:
        item = self.items[index]
        with open_quietly(item.path) as img:
            pixels = np.asarray(ImageOps.exif_transpose(img).convert("RGB"))
        h, w = pixels.shape[:2]
        keep = trainable_objects(item)
        segs = [item.segmentations[i] for i in np.flatnonzero(keep)]
        masks = np.zeros((len(segs), h, w), dtype=np.uint8)
        for i, seg in enumerate(segs):
            masks[i] = decode_segmentation(seg, h, w)
        image = tv_tensors.Image(torch.from_numpy(pixels.copy()).permute(2, 0, 1))
        boxes = np.asarray(item.boxes, dtype=np.float32).reshape(-1, 4)[keep]
        target: dict[str, Any] = {
            "boxes": tv_tensors.BoundingBoxes(
                torch.as_tensor(boxes), format="XYXY", canvas_size=(h, w)
            ),
            "labels": torch.as_tensor(np.asarray(item.labels, dtype=np.int64)[keep]),
            "masks": tv_tensors.Mask(torch.from_numpy(masks)),
        }
        if self.transform is not None:
            image, target = self.transform(image, target)
        target["image_id"] = index
        target["orig_size"] = (h, w)
        return image.float().div(255), target


class InstanceModule(DetectionModule):
    """Trains a Mask R-CNN :class:`~imgrec.models.detectors.Detector`; logs ``train_loss`` (and
    each part: classifier, box, mask, objectness, rpn box) and ``val_mask_map``,
    ``val_mask_map50``, ``val_map`` (COCO segm and bbox, by pycocotools through torchmetrics)."""

    def __init__(
        self,
        model: Any,
        *,
        train_config: TrainConfig,
        steps_per_epoch: int,
        backbone_lr_scale: float = 1.0,
    ) -> None:
        from torchmetrics.detection import MeanAveragePrecision

        super().__init__(
            model,
            train_config=train_config,
            steps_per_epoch=steps_per_epoch,
            backbone_lr_scale=backbone_lr_scale,
        )
        self.val_metric = MeanAveragePrecision(
            box_format="xyxy", iou_type=("bbox", "segm"), backend="pycocotools"
        )

    def _plain(self, targets: list[dict[str, Any]]) -> list[dict[str, torch.Tensor]]:
        return [
            {
                "boxes": t["boxes"].as_subclass(torch.Tensor),
                "labels": t["labels"],
                "masks": t["masks"].as_subclass(torch.Tensor),
            }
            for t in targets
        ]

    def validation_step(self, batch: Any, batch_idx: int) -> None:
        images, targets = batch
        preds = self.model(images)
        self.val_metric.update(
            [
                {
                    "boxes": p["boxes"].detach(),
                    "scores": p["scores"].detach(),
                    "labels": p["labels"].detach(),
                    "masks": p["masks"][:, 0].detach() > 0.5,
                }
                for p in preds
            ],
            [{**t, "masks": t["masks"].bool()} for t in self._plain(targets)],
        )

    def on_validation_epoch_end(self) -> None:
        result = self.val_metric.compute()
        self.log("val_mask_map", max(float(result["segm_map"]), 0.0))
        self.log("val_mask_map50", max(float(result["segm_map_50"]), 0.0))
        self.log("val_map", max(float(result["bbox_map"]), 0.0))
        self.val_metric.reset()
