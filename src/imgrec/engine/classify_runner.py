"""Classification's part of a training run (``task: classify``): image folders, CSV or IDX in,
a classifier, accuracy and per-class tables out. The run's life is :mod:`imgrec.engine.runner`'s.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any, cast

import numpy as np
import torch

from imgrec.config import RunConfig, Settings
from imgrec.data.augment import sample_policy
from imgrec.data.loaders import ArrayDataset, make_loader
from imgrec.data.manifest import Split
from imgrec.data.prepare import PreparedData, prepare_dataset
from imgrec.engine.devices import resolve_accelerator, use_channels_last
from imgrec.engine.evaluate import evaluate_classifier
from imgrec.engine.rundir import SPLITS_FILE, write_splits
from imgrec.engine.task_runner import TrainingPlan
from imgrec.evaluation.writers import write_json
from imgrec.models.card import IMAGENET_MEAN, IMAGENET_STD, ModelCard, Preprocessing
from imgrec.models.registry import create_model
from imgrec.tasks.classify import ClassificationTask, inverse_frequency_weights
from imgrec.tasks.registry import get_task

__all__ = ["ClassifyRunner", "dataset_mean_std"]


def dataset_mean_std(
    images: np.ndarray, *, max_images: int = 5000
) -> tuple[list[float], list[float]]:
    """Per-channel mean and std in [0, 1] of (a seeded sample of) ``(N, H, W, 3)`` uint8 images."""
    rng = np.random.default_rng(0)
    pick = rng.choice(len(images), size=min(len(images), max_images), replace=False)
    sample = np.asarray(images[np.sort(pick)], dtype=np.float64) / 255.0
    mean = sample.mean(axis=(0, 1, 2))
    std = np.maximum(sample.std(axis=(0, 1, 2)), 1e-3)
    return [round(float(v), 4) for v in mean], [round(float(v), 4) for v in std]


def _num_workers(cfg: RunConfig) -> int:
    if cfg.data.num_workers is not None:
        return cfg.data.num_workers
    # Whole-batch fetches from memory need no workers; per-image policies do.
    return 0 if sample_policy(cfg.train.augment) is None else 2


class ClassifyRunner:
    """The :class:`~imgrec.engine.task_runner.TaskRunner` of image classification."""

    def read_data(
        self, cfg: RunConfig, settings: Settings, progress: Callable[[str], Any] | None
    ) -> PreparedData:
        assert cfg.data.path is not None
        return prepare_dataset(
            cfg.data.path,
            datasets_dir=settings.datasets_dir,
            cache_dir=settings.cache_dir if cfg.data.cache else None,
            img_size=cfg.data.img_size,
            resize_mode=cfg.data.resize_mode,
            val_fraction=cfg.data.val_fraction,
            test_fraction=cfg.data.test_fraction,
            split_seed=cfg.data.split_seed,
            progress=progress,
        )

    def describe_data(self, data: PreparedData) -> str:
        return data.report.render_text()

    def dataset_summary(self, data: PreparedData) -> dict[str, Any]:
        return {
            "fingerprint": data.manifest.fingerprint(),
            "source": str(data.manifest.source),
            "layout": data.manifest.layout,
            "num_classes": len(data.classes),
            "num_images": len(data.manifest.samples),
            "counts": data.manifest.counts(),
            "report": data.report.to_dict(),
        }

    def write_inputs(self, data: PreparedData, run_dir: Path) -> None:
        write_json(run_dir / "data_report.json", data.report.to_dict())
        write_splits(data.manifest, run_dir / SPLITS_FILE)

    def plan(self, cfg: RunConfig, settings: Settings, data: PreparedData) -> TrainingPlan:
        classes = data.classes
        model = create_model(
            cfg.model.name,
            num_classes=len(classes),
            img_size=cfg.data.img_size,
            weights=cfg.model.weights,
            pretrained=cfg.model.pretrained,
            offline=settings.offline,
            **cfg.model.options,
        )
        starts_pretrained = bool(cfg.model.weights or cfg.model.pretrained)
        if starts_pretrained:
            mean, std = list(IMAGENET_MEAN), list(IMAGENET_STD)
        else:
            mean, std = dataset_mean_std(data.images["train"])
        preprocessing = Preprocessing(
            size=(cfg.data.img_size, cfg.data.img_size),
            resize_mode=cfg.data.resize_mode,
            mean=tuple(mean),
            std=tuple(std),
        )
        train_set = ArrayDataset(
            data.images["train"],
            data.labels["train"],
            sample_transform=sample_policy(cfg.train.augment),
        )
        train_loader = make_loader(
            train_set,
            batch_size=cfg.train.batch_size,
            train=True,
            seed=cfg.train.seed,
            balanced=cfg.data.balanced_sampler,
            num_workers=_num_workers(cfg),
        )
        val_loader = (
            make_loader(
                ArrayDataset(data.images["val"], data.labels["val"]),
                batch_size=max(cfg.train.batch_size, 256),
                train=False,
            )
            if "val" in data.images
            else None
        )
        accelerator = resolve_accelerator(cfg.train.device)
        module = ClassificationTask(
            model,
            num_classes=len(classes),
            train_config=cfg.train,
            steps_per_epoch=len(train_loader),
            mean=mean,
            std=std,
            class_weights=inverse_frequency_weights(data.labels["train"].tolist(), len(classes))
            if cfg.train.class_weights
            else None,
            backbone_lr_scale=cfg.model.backbone_lr_scale if starts_pretrained else 1.0,
            channels_last=use_channels_last(cfg.train.channels_last, accelerator),
        )
        if module.channels_last:
            model.to(memory_format=torch.channels_last)
        task = get_task("classify")
        return TrainingPlan(
            model=model,
            module=module,
            train_loader=train_loader,
            val_loader=val_loader,
            monitor=task.metric(cfg.train.monitor) if cfg.train.monitor else task.monitor,
            train_images=len(train_set),
            extras={"preprocessing": preprocessing},
            load_report=model.load_report,
        )

    def eval_split(self, data: PreparedData) -> tuple[str, int]:
        split: Split = (
            "test" if "test" in data.images else "val" if "val" in data.images else "train"
        )
        return split, len(data.labels[split])

    def evaluate(
        self,
        plan: TrainingPlan,
        data: PreparedData,
        *,
        split: str,
        run_dir: Path,
        device: str,
        history: list[dict[str, float]],
    ) -> dict[str, Any]:
        own = cast(Split, split)
        return evaluate_classifier(
            plan.model,
            data.images[own],
            data.labels[own],
            data.classes,
            preprocessing=plan.extras["preprocessing"],
            out_dir=run_dir,
            device=device,
            history=history,
            monitor=(plan.monitor.name, plan.monitor.direction),
            sources=[str(sample.path) for sample in data.manifest.by_split(own)],
        )

    def card(
        self,
        cfg: RunConfig,
        plan: TrainingPlan,
        data: PreparedData,
        report: dict[str, Any],
        *,
        epochs: int,
    ) -> ModelCard:
        model = plan.model
        return ModelCard(
            architecture=getattr(model, "architecture", cfg.model.name),
            options=dict(getattr(model, "options", cfg.model.options)),
            classes=list(data.classes),
            preprocessing=plan.extras["preprocessing"],
            metrics={k: report[k] for k in ("accuracy", "macro_f1", "loss") if k in report}
            | {"split": report["split"]},
            dataset={
                "fingerprint": data.manifest.fingerprint(),
                "layout": data.manifest.layout,
                "source": str(data.manifest.source),
                "counts": data.manifest.counts(),
            },
            training={"epochs": epochs, "config": cfg.model_dump(mode="json")["train"]},
        )
