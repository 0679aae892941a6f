"""What the generic runner asks of a task: its data, its training plan, its evaluation, its card.

A task's :attr:`~imgrec.tasks.registry.TaskSpec.runner` names a class implementing
:class:`TaskRunner`; :func:`imgrec.engine.runner.run_training` drives it through one life:

    data = runner.read_data(cfg, settings, progress)       # the task's readers and splits
    runner.write_inputs(data, run_dir)                     # data_report.json, splits...
    plan = runner.plan(cfg, settings, data)                # model, LightningModule, loaders
    ... fit(plan.module, plan.train_loader, plan.val_loader, monitor=plan.monitor) ...
    split, _ = runner.eval_split(data)
    report = runner.evaluate(plan, data, split=split, run_dir=run_dir, device=..., history=...)
    runner.card(cfg, plan, data, report).save(run_dir)

Everything else (run directory, resume, status, observer, divergence, best weights, history,
weights file, ``metrics.json``) is the runner's and the same for every task.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

import torch
from torch import nn

from imgrec.config import RunConfig, Settings
from imgrec.models.card import ModelCard
from imgrec.models.weights import LoadReport
from imgrec.tasks.registry import MetricSpec

__all__ = ["TaskRunner", "TrainingPlan", "first_split"]


@dataclass
class TrainingPlan:
    """What one run trains: the model, the LightningModule around it, its loaders.

    Attributes:
        model: The network whose weights become ``model.safetensors``.
        module: The LightningModule :func:`imgrec.engine.fit.fit` trains.
        train_loader: Training batches.
        val_loader: Validation batches, or None when the dataset has no val split.
        monitor: The metric early stopping and best weights follow.
        train_images: Images in the training split (for images/second).
        extras: Whatever the task's ``evaluate``/``card`` need from planning (preprocessing).
        load_report: What the model's weights started from (``--weights``/``--pretrained``) and
            which head tensors are new; the runner prints it and keeps it in ``metrics.json``
            and the card (``training.weights``). None when training from scratch.
    """

    model: nn.Module
    module: Any
    train_loader: torch.utils.data.DataLoader[Any]
    val_loader: torch.utils.data.DataLoader[Any] | None
    monitor: MetricSpec
    train_images: int
    extras: dict[str, Any]
    load_report: LoadReport | None = None


class TaskRunner(Protocol):
    """One task's part of a training run (see the module docstring)."""

    def read_data(
        self, cfg: RunConfig, settings: Settings, progress: Callable[[str], Any] | None
    ) -> Any:
        """Read and split ``cfg.data.path`` with the task's readers; raise DatasetError."""
        ...

    def describe_data(self, data: Any) -> str:
        """The validation report as text, printed before training."""
        ...

    def dataset_summary(self, data: Any) -> dict[str, Any]:
        """fingerprint, source, layout, num_classes, num_images, counts, report."""
        ...

    def write_inputs(self, data: Any, run_dir: Path) -> None:
        """Files describing the data the run used (``data_report.json``, splits)."""
        ...

    def plan(self, cfg: RunConfig, settings: Settings, data: Any) -> TrainingPlan:
        """Build the model, the LightningModule and the loaders."""
        ...

    def eval_split(self, data: Any) -> tuple[str, int]:
        """The split the final evaluation uses (test, else val, else train) and its size."""
        ...

    def evaluate(
        self,
        plan: TrainingPlan,
        data: Any,
        *,
        split: str,
        run_dir: Path,
        device: str,
        history: list[dict[str, float]],
    ) -> dict[str, Any]:
        """Evaluate ``plan.model`` on ``split``; write the task's plots; return the report."""
        ...

    def card(
        self, cfg: RunConfig, plan: TrainingPlan, data: Any, report: dict[str, Any], *, epochs: int
    ) -> ModelCard:
        """The model card saved beside the weights."""
        ...


def first_split(data: Any) -> tuple[str, int]:
    """The split a final evaluation uses: test, else val, else train; and its size (for any
    dataset with ``by_split``)."""
    split = next((s for s in ("test", "val", "train") if data.by_split(s)), "train")
    return split, len(data.by_split(split))
