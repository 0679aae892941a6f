"""Semantic segmentation training: the losses and the LightningModule.

Losses (``train.loss``): ``ce`` (cross-entropy, the default), ``dice`` (soft multi-class Dice),
``ce+dice`` (their sum, good for rare thin classes) and ``focal`` (cross-entropy scaled by
``(1 - p)^2``, for heavy class imbalance). Every loss leaves ``ignore_index`` pixels out, and
``class_weights`` (inverse pixel frequency, computed by the runner) weigh the cross-entropy terms.
Validation accumulates one confusion matrix over the split
(:class:`imgrec.evaluation.segmentation.SegmentationEvaluator`), so ``val_miou`` follows the
same convention as the final report.
"""

from __future__ import annotations

from typing import Any, Literal

import torch
import torch.nn.functional as F
from torch import Tensor

from imgrec.config import TrainConfig
from imgrec.evaluation.segmentation import SegmentationEvaluator
from imgrec.models.segmenters import normalise
from imgrec.tasks.base import TaskModule

__all__ = ["LOSSES", "SegmentationLoss", "SegmentationModule"]

LossName = Literal["ce", "dice", "ce+dice", "focal"]
LOSSES: tuple[LossName, ...] = ("ce", "dice", "ce+dice", "focal")


class SegmentationLoss(torch.nn.Module):
    """Per-pixel loss over ``(B, K, H, W)`` logits and ``(B, H, W)`` targets (see the module)."""

    def __init__(
        self,
        kind: LossName = "ce",
        *,
        ignore_index: int = 255,
        class_weights: Tensor | None = None,
        focal_gamma: float = 2.0,
    ) -> None:
        super().__init__()
        if kind not in LOSSES:
            raise ValueError(f"unknown segmentation loss '{kind}'; use one of {', '.join(LOSSES)}")
        self.kind = kind
        self.ignore_index = ignore_index
        self.focal_gamma = focal_gamma
        self.weight: Tensor | None
        self.register_buffer("weight", class_weights, persistent=False)

    def forward(self, logits: Tensor, target: Tensor) -> Tensor:
        if self.kind in ("ce", "ce+dice"):
            loss = F.cross_entropy(
                logits, target, weight=self.weight, ignore_index=self.ignore_index
            )
            return loss + self._dice(logits, target) if self.kind == "ce+dice" else loss
        if self.kind == "dice":
            return self._dice(logits, target)
        return self._focal(logits, target)

    def _valid(self, target: Tensor) -> tuple[Tensor, Tensor]:
        valid = target != self.ignore_index
        return valid, torch.where(valid, target, torch.zeros_like(target))

    def _dice(self, logits: Tensor, target: Tensor) -> Tensor:
        valid, safe = self._valid(target)
        probs = logits.softmax(1) * valid.unsqueeze(1)
        onehot = F.one_hot(safe, logits.shape[1]).permute(0, 3, 1, 2).to(probs.dtype)
        onehot = onehot * valid.unsqueeze(1)
        inter = (probs * onehot).sum((0, 2, 3))
        total = probs.sum((0, 2, 3)) + onehot.sum((0, 2, 3))
        present = onehot.sum((0, 2, 3)) > 0  # classes absent from the batch do not pull at 0
        dice = (2 * inter + 1.0) / (total + 1.0)
        return (1 - dice[present]).mean() if bool(present.any()) else logits.sum() * 0.0

    def _focal(self, logits: Tensor, target: Tensor) -> Tensor:
        valid, safe = self._valid(target)
        logp = F.log_softmax(logits, 1).gather(1, safe.unsqueeze(1)).squeeze(1)
        loss = -((1 - logp.exp()) ** self.focal_gamma) * logp
        if self.weight is not None:
            loss = loss * self.weight[safe]
        valid_f = valid.to(loss.dtype)
        return (loss * valid_f).sum() / valid_f.sum().clamp(min=1.0)


class SegmentationModule(TaskModule):
    """Trains a :class:`imgrec.models.segmenters.Segmenter`; logs ``train_loss`` per epoch, and
    ``val_loss``, ``val_miou`` and ``val_pixel_accuracy`` on the validation split."""

    def __init__(
        self,
        model: Any,
        *,
        train_config: TrainConfig,
        steps_per_epoch: int,
        class_names: list[str],
        loss: LossName = "ce",
        ignore_index: int = 255,
        class_weights: Tensor | None = None,
        backbone_lr_scale: float = 1.0,
    ) -> None:
        super().__init__(
            model,
            train_config=train_config,
            steps_per_epoch=steps_per_epoch,
            backbone_lr_scale=backbone_lr_scale,
        )
        self.criterion = SegmentationLoss(
            loss, ignore_index=ignore_index, class_weights=class_weights
        )
        self.class_names = list(class_names)
        self.ignore_index = ignore_index
        self._val: SegmentationEvaluator | None = None

    def training_step(self, batch: Any, batch_idx: int) -> Tensor:
        images, masks = batch
        loss = self.criterion(self.model(normalise(images, self.model)), masks)
        self.log("train_loss", loss.detach(), on_step=False, on_epoch=True, batch_size=len(images))
        return loss

    def on_validation_epoch_start(self) -> None:
        self._val = SegmentationEvaluator(
            len(self.class_names), self.class_names, ignore_index=self.ignore_index
        )

    def validation_step(self, batch: Any, batch_idx: int) -> None:
        images, masks = batch
        logits = self.model(normalise(images, self.model))
        loss = self.criterion(logits, masks)
        self.log("val_loss", loss.detach(), on_step=False, on_epoch=True, batch_size=len(images))
        assert self._val is not None
        self._val.update(logits.argmax(1), masks)

    def on_validation_epoch_end(self) -> None:
        if self._val is None or self.trainer.sanity_checking:
            return
        report = self._val.compute()
        miou = report.miou if report.miou == report.miou else 0.0  # NaN: nothing to score
        self.log("val_miou", float(miou))
        self.log("val_pixel_accuracy", float(report.pixel_accuracy))
        self._val = None

    def predict_step(self, batch: Any, batch_idx: int) -> Tensor:
        images, _ = batch
        return self.model(normalise(images, self.model)).argmax(1)
