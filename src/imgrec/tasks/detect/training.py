"""Detection training pieces: a tv_tensors dataset, its collate, transforms v2, the module.

Boxes travel as ``tv_tensors.BoundingBoxes`` through one transforms v2 pipeline with the image,
so flips and crops move them together; crowd boxes are left out of training targets (COCO
ignores them in evaluation too).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import torch
from PIL import ImageOps
from torchvision import tv_tensors
from torchvision.transforms import v2

from imgrec.config import TrainConfig
from imgrec.data.images import open_quietly
from imgrec.tasks.base import TaskModule

__all__ = [
    "DetectionModule",
    "DetectionTorchDataset",
    "collate_detection",
    "eval_transform",
    "train_transform",
]


def train_transform(img_size: int) -> v2.Transform:
    """Flip, zoom-out/in that keeps boxes, photometric jitter, then longest side ``img_size``.

    The zoom-out pads the image grey (114, as YOLO and MMDetection do) but masks with 0: one
    fill for every tensor would paint 114 into the masks, where only 0 and 1 belong.
    """
    pad: dict[Any, int] = {tv_tensors.Image: 114, "others": 0}
    return v2.Compose(
        [
            v2.RandomHorizontalFlip(0.5),
            v2.RandomApply([v2.RandomZoomOut(fill=pad, side_range=(1.0, 1.5))], p=0.3),
            v2.RandomApply([v2.ColorJitter(0.3, 0.3, 0.3, 0.02)], p=0.8),
            v2.Resize(size=None, max_size=img_size),
            v2.SanitizeBoundingBoxes(min_size=1.0),
        ]
    )


def eval_transform(img_size: int) -> v2.Transform:
    """Longest side ``img_size``, aspect kept (the detector maps boxes back itself)."""
    return v2.Compose([v2.Resize(size=None, max_size=img_size)])


class DetectionTorchDataset(torch.utils.data.Dataset[tuple[torch.Tensor, dict[str, Any]]]):
    """Items with ``path``, ``boxes`` (N, 4) xyxy, ``labels`` (N,), ``iscrowd`` (N,)."""

    def __init__(self, items: Sequence[Any], *, transform: v2.Transform | None) -> None:
        self.items = list(items)
        self.transform = transform

    def __len__(self) -> int:
        return len(self.items)

    def __getitem__(self, index: int) -> tuple[torch.Tensor, dict[str, Any]]:
        item = self.items[index]
        with open_quietly(item.path) as img:
            pixels = np.asarray(ImageOps.exif_transpose(img).convert("RGB"))
        h, w = pixels.shape[:2]
        keep = ~np.asarray(item.iscrowd, dtype=bool)
        image = tv_tensors.Image(torch.from_numpy(pixels.copy()).permute(2, 0, 1))
        target: dict[str, Any] = {
            "boxes": tv_tensors.BoundingBoxes(
                torch.as_tensor(np.asarray(item.boxes, dtype=np.float32)[keep]).reshape(-1, 4),
                format="XYXY",
                canvas_size=(h, w),
            ),
            "labels": torch.as_tensor(np.asarray(item.labels, dtype=np.int64)[keep]),
        }
        if self.transform is not None:
            image, target = self.transform(image, target)
        target["image_id"] = index
        target["orig_size"] = (h, w)
        return image.float().div(255), target


def collate_detection(
    batch: Sequence[tuple[torch.Tensor, dict[str, Any]]],
) -> tuple[list[torch.Tensor], list[dict[str, Any]]]:
    """Lists of images (any sizes) and targets; detectors batch them themselves."""
    return [b[0] for b in batch], [b[1] for b in batch]


class DetectionModule(TaskModule):
    """Trains a :class:`imgrec.models.detectors.Detector`; logs ``train_loss`` (and each loss
    part) per epoch, and ``val_map`` / ``val_map50`` (COCO, by pycocotools through torchmetrics)."""

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
        self.val_metric = MeanAveragePrecision(box_format="xyxy", backend="pycocotools")

    def _plain(self, targets: list[dict[str, Any]]) -> list[dict[str, torch.Tensor]]:
        return [
            {"boxes": t["boxes"].as_subclass(torch.Tensor), "labels": t["labels"]} for t in targets
        ]

    def training_step(self, batch: Any, batch_idx: int) -> Any:
        images, targets = batch
        losses = self.model(images, self._plain(targets))
        loss = sum(losses.values())
        n = len(images)
        self.log("train_loss", loss.detach(), on_step=False, on_epoch=True, batch_size=n)
        for name, value in losses.items():
            self.log(f"train_{name}", value.detach(), on_step=False, on_epoch=True, batch_size=n)
        return loss

    def validation_step(self, batch: Any, batch_idx: int) -> None:
        images, targets = batch
        preds = self.model(images)
        self.val_metric.update(
            [{k: p[k].detach() for k in ("boxes", "scores", "labels")} for p in preds],
            self._plain(targets),
        )

    def on_validation_epoch_end(self) -> None:
        result = self.val_metric.compute()
        self.log("val_map", max(float(result["map"]), 0.0))
        self.log("val_map50", max(float(result["map_50"]), 0.0))
        self.val_metric.reset()

    def predict_step(self, batch: Any, batch_idx: int) -> Any:
        images, _ = batch
        return self.model(images)
