"""Semantic segmentation's part of a training run (``task: segment``): image + mask data, a
segmenter, mIoU evaluation. The run's life is :mod:`imgrec.engine.runner`'s.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import torch

from imgrec.config import RunConfig, Settings
from imgrec.data.segmentation import (
    SegmentationDataset,
    SegmentationImage,
    SegmentationTorchDataset,
    collate_segmentation,
    read_segmentation,
    render_segmentation_report,
    segmentation_report,
    segmentation_transforms,
)
from imgrec.engine.segment_eval import evaluate_segmenter
from imgrec.engine.task_runner import TrainingPlan, first_split
from imgrec.errors import DatasetError
from imgrec.evaluation.writers import write_json
from imgrec.models.card import ModelCard, Preprocessing
from imgrec.models.segmenters import create_segmenter
from imgrec.tasks.registry import get_task
from imgrec.tasks.segment.training import SegmentationModule

__all__ = ["DEFAULT_SEGMENTER", "SegmentRunner", "pixel_class_weights", "segmenter_name"]

DEFAULT_SEGMENTER = "smallunet"
_CLASSIFY_DEFAULT = "simple_cnn"


def segmenter_name(cfg: RunConfig) -> str:
    """The configured segmenter; the classification default model means 'the default one'."""
    return DEFAULT_SEGMENTER if cfg.model.name == _CLASSIFY_DEFAULT else cfg.model.name


def read_segmentation_data(cfg: RunConfig, settings: Settings) -> SegmentationDataset:
    """The dataset of ``cfg.data.path`` read by the segmentation readers, with its splits."""
    assert cfg.data.path is not None
    settings.datasets_dir.mkdir(parents=True, exist_ok=True)
    return read_segmentation(
        Path(cfg.data.path).expanduser().resolve(),
        work_dir=settings.datasets_dir,
        val_fraction=cfg.data.val_fraction,
        test_fraction=cfg.data.test_fraction,
        split_seed=cfg.data.split_seed,
    )


def segmentation_summary(ds: SegmentationDataset) -> dict[str, Any]:
    digest = hashlib.sha256("|".join(ds.classes).encode())
    for image in ds.images:
        digest.update(f"{image.key}:{image.split}:{image.pixels}\n".encode())
    return {
        "fingerprint": digest.hexdigest()[:16],
        "source": str(ds.source),
        "layout": ds.layout,
        "num_classes": ds.num_classes,
        "num_images": len(ds.images),
        "counts": ds.counts(),
        "report": segmentation_report(ds),
    }


def pixel_class_weights(images: list[SegmentationImage], k: int) -> torch.Tensor:
    """Inverse pixel frequency per class over ``images``, mean 1 over the classes present
    (a class without pixels gets 1: it is never the target, the weight changes nothing)."""
    counts = np.zeros(k, dtype=np.float64)
    for image in images:
        counts[: len(image.pixels)] += np.asarray(image.pixels[:k], dtype=np.float64)
    present = counts > 0
    weights = np.ones(k)
    if present.any():
        inverse = counts[present].sum() / (present.sum() * counts[present])
        weights[present] = inverse / inverse.mean()
    return torch.as_tensor(np.clip(weights, 0.05, 20.0), dtype=torch.float32)


def _loader(
    images: list[SegmentationImage], data: SegmentationDataset, cfg: RunConfig, *, train: bool
) -> torch.utils.data.DataLoader[Any]:
    dataset = SegmentationTorchDataset(
        images,
        data,
        segmentation_transforms(cfg.data.img_size, train=train, hflip=cfg.train.hflip),
    )
    generator = torch.Generator().manual_seed(cfg.train.seed)
    return torch.utils.data.DataLoader(
        dataset,
        batch_size=cfg.train.batch_size,
        shuffle=train,
        drop_last=train and len(dataset) > cfg.train.batch_size,  # BatchNorm needs 2 or more
        collate_fn=collate_segmentation,
        num_workers=cfg.data.num_workers if cfg.data.num_workers is not None else 0,
        generator=generator if train else None,
    )


class SegmentRunner:
    """The :class:`~imgrec.engine.task_runner.TaskRunner` of semantic segmentation."""

    def read_data(
        self, cfg: RunConfig, settings: Settings, progress: Callable[[str], Any] | None
    ) -> SegmentationDataset:
        data = read_segmentation_data(cfg, settings)
        if not data.by_split("train"):
            raise DatasetError(f"{data.source}: no training images with usable masks.")
        return data

    def describe_data(self, data: SegmentationDataset) -> str:
        return render_segmentation_report(data)

    def dataset_summary(self, data: SegmentationDataset) -> dict[str, Any]:
        return segmentation_summary(data)

    def write_inputs(self, data: SegmentationDataset, run_dir: Path) -> None:
        write_json(run_dir / "data_report.json", segmentation_report(data))

    def plan(self, cfg: RunConfig, settings: Settings, data: SegmentationDataset) -> TrainingPlan:
        name = segmenter_name(cfg)
        model = create_segmenter(
            name,
            num_classes=data.num_classes,
            img_size=cfg.data.img_size,
            weights=cfg.model.weights,
            offline=settings.offline,
            pretrained=cfg.model.pretrained,
            **cfg.model.options,
        )
        train_images = data.by_split("train")
        train_loader = _loader(train_images, data, cfg, train=True)
        val_images = data.by_split("val")
        starts_pretrained = bool(cfg.model.weights or cfg.model.pretrained)
        loss = "ce" if cfg.train.loss == "auto" else cfg.train.loss
        module = SegmentationModule(
            model,
            train_config=cfg.train,
            steps_per_epoch=len(train_loader),
            class_names=list(data.classes),
            loss=loss,
            ignore_index=data.ignore_index,
            class_weights=(
                pixel_class_weights(train_images, data.num_classes)
                if cfg.train.class_weights
                else None
            ),
            backbone_lr_scale=cfg.model.backbone_lr_scale if starts_pretrained else 1.0,
        )
        task = get_task("segment")
        return TrainingPlan(
            model=model,
            module=module,
            train_loader=train_loader,
            val_loader=_loader(val_images, data, cfg, train=False) if val_images else None,
            monitor=task.metric(cfg.train.monitor) if cfg.train.monitor else task.monitor,
            train_images=len(train_images),
            extras={"architecture": name, "img_size": cfg.data.img_size, "loss": loss},
        )

    def eval_split(self, data: SegmentationDataset) -> tuple[str, int]:
        return first_split(data)

    def evaluate(
        self,
        plan: TrainingPlan,
        data: SegmentationDataset,
        *,
        split: str,
        run_dir: Path,
        device: str,
        history: list[dict[str, float]],
    ) -> dict[str, Any]:
        return evaluate_segmenter(
            plan.model,
            data.by_split(split),  # type: ignore[arg-type]
            data,
            out_dir=run_dir,
            device=device,
            img_size=plan.extras["img_size"],
            history=history,
        )

    def card(
        self,
        cfg: RunConfig,
        plan: TrainingPlan,
        data: SegmentationDataset,
        report: dict[str, Any],
        *,
        epochs: int,
    ) -> ModelCard:
        size = cfg.data.img_size
        model = plan.model
        return ModelCard(
            task="segment",
            architecture=plan.extras["architecture"],
            options=dict(getattr(model, "options", cfg.model.options)),
            classes=list(data.classes),
            preprocessing=Preprocessing(
                size=(size, size),
                mean=tuple(getattr(model, "mean", (0.485, 0.456, 0.406))),
                std=tuple(getattr(model, "std", (0.229, 0.224, 0.225))),
            ),
            metrics={k: report[k] for k in ("miou", "pixel_accuracy", "mean_dice") if k in report}
            | {"split": report["split"]},
            dataset={
                "fingerprint": segmentation_summary(data)["fingerprint"],
                "layout": data.layout,
                "source": str(data.source),
                "ignore_index": data.ignore_index,
                "palette": (
                    {str(k): list(v) for k, v in data.palette.items()} if data.palette else None
                ),
                "binary_255": data.binary_255,
            },
            training={
                "epochs": epochs,
                "loss": plan.extras["loss"],
                "config": cfg.model_dump(mode="json")["train"],
            },
        )
