"""Image classification as a Lightning task: loss, metrics, batch preprocessing."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import torch
import torch.nn.functional as F
from torchmetrics.classification import MulticlassAccuracy

from imgrec.config import TrainConfig
from imgrec.data.augment import BatchPreprocess, make_mixing
from imgrec.models.base import ImageClassifier
from imgrec.tasks.base import TaskModule

__all__ = ["ClassificationTask", "inverse_frequency_weights"]


def inverse_frequency_weights(labels: Sequence[int], num_classes: int) -> torch.Tensor:
    """``N / (K * n_c)`` per class (classes without samples get weight 0)."""
    counts = torch.bincount(torch.as_tensor(list(labels)), minlength=num_classes).float()
    weights = torch.where(counts > 0, counts.sum() / (num_classes * counts.clamp(min=1)), 0.0)
    return weights


class ClassificationTask(TaskModule):
    """Cross-entropy classification with on-device augmentation.

    Batches arrive as ``(uint8 (B, 3, H, W), int64 (B,))``. Training logs ``train_loss`` and
    ``train_accuracy``; validation logs ``val_loss`` and ``val_accuracy`` per epoch.
    """

    def __init__(
        self,
        model: ImageClassifier,
        *,
        num_classes: int,
        train_config: TrainConfig,
        steps_per_epoch: int,
        mean: Sequence[float],
        std: Sequence[float],
        class_weights: torch.Tensor | None = None,
        backbone_lr_scale: float = 1.0,
        channels_last: bool = False,
    ) -> None:
        super().__init__(
            model,
            train_config=train_config,
            steps_per_epoch=steps_per_epoch,
            backbone_lr_scale=backbone_lr_scale,
        )
        self.num_classes = num_classes
        augment = train_config.augment != "none"
        self.preprocess = BatchPreprocess(
            mean,
            std,
            scale=(1.0, 1.15) if augment else (1.0, 1.0),
            translate=0.1 if augment else 0.0,
            hflip=train_config.hflip and augment,
        )
        self.augment = augment
        self.mix = make_mixing(num_classes, mixup=train_config.mixup, cutmix=train_config.cutmix)
        self.channels_last = channels_last
        self.class_weights: torch.Tensor
        self.register_buffer(
            "class_weights", class_weights if class_weights is not None else torch.empty(0)
        )
        self.train_accuracy = MulticlassAccuracy(num_classes=num_classes, average="micro")
        self.val_accuracy = MulticlassAccuracy(num_classes=num_classes, average="micro")

    def on_after_batch_transfer(self, batch: Any, dataloader_idx: int) -> Any:
        images, labels = batch
        x = self.preprocess(images, augment=self.training and self.augment)
        if self.channels_last:
            x = x.contiguous(memory_format=torch.channels_last)
        return x, labels

    def _loss(self, logits: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
        weight = self.class_weights if self.class_weights.numel() else None
        return F.cross_entropy(
            logits.float(),
            targets,
            weight=weight,
            label_smoothing=self.train_config.label_smoothing,
        )

    def training_step(self, batch: tuple[torch.Tensor, torch.Tensor], batch_idx: int) -> Any:
        x, y = batch
        if x.shape[0] < 2:
            return None  # BatchNorm cannot train on one sample; Lightning skips the step
        targets: torch.Tensor = y
        if self.mix is not None and x.shape[0] > 1:
            x, targets = self.mix(x, y)
        logits = self(x)
        loss = self._loss(logits, targets)
        hard = y if targets.ndim == 1 else targets.argmax(dim=1)
        self.train_accuracy(logits.detach(), hard)
        self.log("train_loss", loss.detach(), on_step=False, on_epoch=True, batch_size=len(y))
        self.log("train_accuracy", self.train_accuracy, on_step=False, on_epoch=True)
        return loss

    def validation_step(self, batch: tuple[torch.Tensor, torch.Tensor], batch_idx: int) -> None:
        x, y = batch
        logits = self(x)
        loss = F.cross_entropy(logits.float(), y)
        self.val_accuracy(logits, y)
        self.log("val_loss", loss, on_step=False, on_epoch=True, batch_size=len(y))
        self.log("val_accuracy", self.val_accuracy, on_step=False, on_epoch=True)

    def predict_step(self, batch: tuple[torch.Tensor, torch.Tensor], batch_idx: int) -> Any:
        x, _ = batch
        return self(x).float()
