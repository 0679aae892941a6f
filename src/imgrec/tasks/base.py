"""The LightningModule every task shares: optimiser, schedules, parameter groups.

A task subclass supplies the loss and metrics; this base builds AdamW or SGD with a lower learning
rate for a pretrained backbone, and a per-step schedule (cosine with linear warm-up, or one-cycle)
that a resumed run re-plans when it is asked for another number of epochs.
"""

from __future__ import annotations

import math
import warnings
from typing import Any

import lightning.pytorch as pl
import torch

from imgrec.config import TrainConfig
from imgrec.models.base import ImageClassifier

__all__ = ["TaskModule", "warmup_cosine"]


def warmup_cosine(step: int, *, warmup_steps: int, total_steps: int, floor: float = 0.01) -> float:
    """Learning-rate multiplier: linear warm-up to 1, then cosine decay to ``floor``."""
    if warmup_steps > 0 and step < warmup_steps:
        return (step + 1) / warmup_steps
    progress = min(1.0, (step - warmup_steps) / max(1, total_steps - warmup_steps))
    return floor + (1.0 - floor) * 0.5 * (1.0 + math.cos(math.pi * progress))


class _WarmupCosine:
    """Picklable-free schedule callable; LambdaLR keeps its ``__dict__`` (the plan: warm-up and
    total steps) in the checkpoint and restores it on resume."""

    def __init__(self, warmup_steps: int, total_steps: int) -> None:
        self.warmup_steps = warmup_steps
        self.total_steps = total_steps

    def __call__(self, step: int) -> float:
        return warmup_cosine(step, warmup_steps=self.warmup_steps, total_steps=self.total_steps)


class TaskModule(pl.LightningModule):
    """Shared training plumbing.

    Args:
        model: A network with ``backbone_parameters()`` and ``head_parameters()``.
        train_config: Optimiser and schedule settings.
        steps_per_epoch: Optimiser steps in one epoch (for per-step schedules).
        backbone_lr_scale: Multiplier on the backbone's learning rate (1.0 when training from
            scratch; smaller when fine-tuning pretrained weights).
    """

    def __init__(
        self,
        model: ImageClassifier,
        *,
        train_config: TrainConfig,
        steps_per_epoch: int,
        backbone_lr_scale: float = 1.0,
    ) -> None:
        super().__init__()
        self.model: ImageClassifier = model
        self.train_config = train_config
        self.steps_per_epoch = max(1, steps_per_epoch)
        self.backbone_lr_scale = backbone_lr_scale

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.model(x)

    def _param_groups(self) -> list[dict[str, Any]]:
        cfg = self.train_config
        groups: list[dict[str, Any]] = []
        backbone = list(self.model.backbone_parameters())
        head = list(self.model.head_parameters())
        for params, scale in ((backbone, self.backbone_lr_scale), (head, 1.0)):
            decay = [p for p in params if p.ndim > 1]
            no_decay = [p for p in params if p.ndim <= 1]
            if decay:
                groups.append(
                    {"params": decay, "lr": cfg.lr * scale, "weight_decay": cfg.weight_decay}
                )
            if no_decay:
                groups.append({"params": no_decay, "lr": cfg.lr * scale, "weight_decay": 0.0})
        return groups

    def configure_optimizers(self) -> Any:
        cfg = self.train_config
        groups = self._param_groups()
        optimizer: torch.optim.Optimizer
        if cfg.optimizer == "sgd":
            optimizer = torch.optim.SGD(groups, lr=cfg.lr, momentum=cfg.momentum, nesterov=True)
        else:
            optimizer = torch.optim.AdamW(groups, lr=cfg.lr)
        total_steps = cfg.epochs * self.steps_per_epoch
        warmup_steps = round(cfg.warmup_epochs * self.steps_per_epoch)
        scheduler: torch.optim.lr_scheduler.LRScheduler
        if cfg.scheduler == "none":
            return optimizer
        if cfg.scheduler == "onecycle":
            pct = warmup_steps / total_steps if warmup_steps else 0.25
            scheduler = torch.optim.lr_scheduler.OneCycleLR(
                optimizer,
                max_lr=[g["lr"] for g in groups],
                total_steps=total_steps,
                pct_start=min(max(pct, 0.01), 0.9),
            )
        else:
            scheduler = torch.optim.lr_scheduler.LambdaLR(
                optimizer, _WarmupCosine(warmup_steps, total_steps)
            )
        return {
            "optimizer": optimizer,
            "lr_scheduler": {"scheduler": scheduler, "interval": "step"},
        }

    def replan_schedule(self) -> str | None:
        """After a resume, re-plan the learning-rate schedule for the epochs asked now.

        The checkpoint restores the scheduler with the plan it was made with (its total steps).
        When the run now asks for another number of epochs (``--resume --epochs N``), the plan
        becomes the one a run asked for N epochs from the start would have had; the steps
        already taken keep their place on it. A finished cosine run given more epochs thus
        climbs back to the new curve's rate at this step (a warm restart) and decays to the new
        end, instead of training on at the final rate (1e-5 for lr 1e-3) and gaining nothing;
        one-cycle, which refuses to step past its planned end, gets its phases stretched the
        same way. ``train.scheduler: none`` has no plan to change.

        Returns:
            One line saying what changed, or None when the plan is the same.
        """
        configs = self.trainer.lr_scheduler_configs
        if not configs:
            return None
        live = configs[0].scheduler
        cfg = self.train_config
        total = cfg.epochs * self.steps_per_epoch
        planned = _planned_steps(live)
        if planned is None or planned == total:
            return None
        if isinstance(live, torch.optim.lr_scheduler.OneCycleLR):
            fresh = self.configure_optimizers()["lr_scheduler"]["scheduler"]  # its plan only
            live.total_steps = fresh.total_steps
            live._schedule_phases = fresh._schedule_phases  # the plan: where each phase ends
        else:
            for fn in getattr(live, "lr_lambdas", []):
                if isinstance(fn, _WarmupCosine):
                    fn.total_steps = total
        groups = live.optimizer.param_groups
        before = float(groups[-1]["lr"])
        with warnings.catch_warnings():  # get_lr() outside step() warns; asked here on purpose
            warnings.simplefilter("ignore")
            rates = live.get_lr()
        for group, rate in zip(groups, rates, strict=True):
            group["lr"] = rate
        live._last_lr = [float(group["lr"]) for group in groups]
        return (
            f"the {cfg.scheduler} learning-rate schedule was planned for "
            f"{planned / self.steps_per_epoch:g} epochs; re-planned for {cfg.epochs} as if asked "
            f"from the start, it continues at step {live.last_epoch} with lr "
            f"{float(groups[-1]['lr']):.3g} (was {before:.3g})."
        )


def _planned_steps(scheduler: Any) -> int | None:
    """The total steps a scheduler was planned for (None: one whose plan imgrec does not know)."""
    if isinstance(scheduler, torch.optim.lr_scheduler.OneCycleLR):
        return int(scheduler.total_steps)
    for fn in getattr(scheduler, "lr_lambdas", []):
        if isinstance(fn, _WarmupCosine):
            return fn.total_steps
    return None
