"""Detection's part of a training run (``task: detect``): COCO/YOLO/VOC data, a detector,
COCO evaluation by pycocotools. The run's life is :mod:`imgrec.engine.runner`'s.

What differs from classification is the data (boxes per image, images of any size), the model
surface (lists of images in, loss dicts or detections out) and the evaluation.
"""

from __future__ import annotations

import hashlib
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any, Literal

import torch

from imgrec.config import RunConfig, Settings
from imgrec.data.detection import (
    DetectionDataset,
    DetectionImage,
    read_detection,
    render_report_text,
)
from imgrec.engine.detect_eval import evaluate_detector
from imgrec.engine.task_runner import TrainingPlan, first_split
from imgrec.errors import DatasetError
from imgrec.evaluation.writers import write_json
from imgrec.models.card import ModelCard, Preprocessing
from imgrec.models.detectors import create_detector
from imgrec.tasks.detect.training import (
    DetectionModule,
    DetectionTorchDataset,
    collate_detection,
    eval_transform,
    train_transform,
)
from imgrec.tasks.registry import MetricSpec, get_task

__all__ = ["DetectRunner", "learning_curves", "read_detection_data"]

_CLASSIFY_DEFAULT = "simple_cnn"


def read_detection_data(cfg: RunConfig, settings: Settings) -> DetectionDataset:
    """The dataset of ``cfg.data.path`` read by the detection readers, with its splits."""
    assert cfg.data.path is not None
    source = Path(cfg.data.path).expanduser().resolve()
    settings.datasets_dir.mkdir(parents=True, exist_ok=True)
    return read_detection(  # a zip is extracted once per content into datasets_dir, then reused
        source,
        work_dir=settings.datasets_dir,
        val_fraction=cfg.data.val_fraction,
        test_fraction=cfg.data.test_fraction,
        split_seed=cfg.data.split_seed,
    )


def detection_summary(ds: DetectionDataset) -> dict[str, Any]:
    digest = hashlib.sha256("|".join(ds.classes).encode())
    for image in ds.images:
        digest.update(f"{image.key}:{image.split}:{image.boxes.tobytes().hex()}\n".encode())
    return {
        "fingerprint": digest.hexdigest()[:16],
        "source": str(ds.source),
        "layout": ds.layout,
        "num_classes": len(ds.classes),
        "num_images": len(ds.images),
        "counts": ds.counts(),
        "report": ds.to_dict(),
    }


def _loader(
    images: list[DetectionImage],
    cfg: RunConfig,
    *,
    train: bool,
    dataset_class: type[DetectionTorchDataset] = DetectionTorchDataset,
) -> torch.utils.data.DataLoader[Any]:
    size = cfg.data.img_size
    dataset = dataset_class(
        images, transform=train_transform(size) if train else eval_transform(size)
    )
    generator = torch.Generator().manual_seed(cfg.train.seed)
    return torch.utils.data.DataLoader(
        dataset,
        batch_size=cfg.train.batch_size,
        shuffle=train,
        drop_last=train and len(dataset) > cfg.train.batch_size,
        collate_fn=collate_detection,
        num_workers=cfg.data.num_workers if cfg.data.num_workers is not None else 0,
        generator=generator if train else None,
    )


def learning_curves(
    history: list[dict[str, float]], run_dir: Path, *, monitor: MetricSpec | None = None
) -> None:
    """``learning_curves.png`` of the epochs so far (loss, mAP, learning rate), the best epoch
    by ``monitor`` marked (default: the task's usual monitor found in the rows); never raises."""
    if not history:
        return
    try:
        from imgrec.evaluation.plots import plot_learning_curves

        chosen = None if monitor is None else (monitor.name, monitor.direction)
        plot_learning_curves(history, run_dir / "learning_curves.png", monitor=chosen)
    except Exception as exc:  # a plot must never lose the metrics
        sys.stderr.write(f"warning: learning curves skipped ({type(exc).__name__}: {exc})\n")


class DetectRunner:
    """The :class:`~imgrec.engine.task_runner.TaskRunner` of object detection.

    Instance segmentation (:mod:`imgrec.engine.instance_runner`) is this with masks: a subclass
    replaces the class attributes (dataset, module, model factory, evaluation, card metrics)
    and :meth:`read_data`.
    """

    task_name: Literal["detect", "instance"] = "detect"
    dataset_class: type[DetectionTorchDataset] = DetectionTorchDataset
    module_class: type[DetectionModule] = DetectionModule
    card_metrics: tuple[str, ...] = ("map", "map50", "map75")
    evaluate_images: Callable[..., dict[str, Any]] = staticmethod(evaluate_detector)
    create_model: Callable[..., Any] = staticmethod(create_detector)

    def model_name(self, cfg: RunConfig) -> str:
        """The configured model; the classification default means the task's default."""
        if cfg.model.name == _CLASSIFY_DEFAULT:
            return get_task(self.task_name).default_model
        return cfg.model.name

    def build_model(self, name: str, cfg: RunConfig, settings: Settings, classes: int) -> Any:
        """The network ``name`` for ``classes`` classes, as configured."""
        return self.create_model(
            name,
            num_classes=classes,
            img_size=cfg.data.img_size,
            weights=cfg.model.weights,
            offline=settings.offline,
            pretrained=cfg.model.pretrained,
            **cfg.model.options,
        )

    def read_data(
        self, cfg: RunConfig, settings: Settings, progress: Callable[[str], Any] | None
    ) -> DetectionDataset:
        data = read_detection_data(cfg, settings)
        if not data.by_split("train"):
            raise DatasetError(f"{data.source}: no training images with usable annotations.")
        return data

    def describe_data(self, data: DetectionDataset) -> str:
        return render_report_text(data)

    def dataset_summary(self, data: DetectionDataset) -> dict[str, Any]:
        return detection_summary(data)

    def write_inputs(self, data: DetectionDataset, run_dir: Path) -> None:
        write_json(run_dir / "data_report.json", data.to_dict())

    def plan(self, cfg: RunConfig, settings: Settings, data: DetectionDataset) -> TrainingPlan:
        name = self.model_name(cfg)
        model = self.build_model(name, cfg, settings, len(data.classes))
        train_images = data.by_split("train")
        train_loader = _loader(train_images, cfg, train=True, dataset_class=self.dataset_class)
        val_images = data.by_split("val")
        starts_pretrained = bool(cfg.model.weights or cfg.model.pretrained)
        module = self.module_class(
            model,
            train_config=cfg.train,
            steps_per_epoch=len(train_loader),
            backbone_lr_scale=cfg.model.backbone_lr_scale if starts_pretrained else 1.0,
        )
        task = get_task(self.task_name)
        val_loader = (
            _loader(val_images, cfg, train=False, dataset_class=self.dataset_class)
            if val_images
            else None
        )
        return TrainingPlan(
            model=model,
            module=module,
            train_loader=train_loader,
            val_loader=val_loader,
            monitor=task.metric(cfg.train.monitor) if cfg.train.monitor else task.monitor,
            train_images=len(train_images),
            extras={"architecture": name, "img_size": cfg.data.img_size},
        )

    def eval_split(self, data: DetectionDataset) -> tuple[str, int]:
        return first_split(data)

    def evaluate(
        self,
        plan: TrainingPlan,
        data: DetectionDataset,
        *,
        split: str,
        run_dir: Path,
        device: str,
        history: list[dict[str, float]],
    ) -> dict[str, Any]:
        learning_curves(history, run_dir, monitor=plan.monitor)
        return self.evaluate_images(
            plan.model,
            data.by_split(split),  # type: ignore[arg-type]
            data.classes,
            category_ids=data.category_ids,
            out_dir=run_dir,
            device=device,
            img_size=plan.extras["img_size"],
        )

    def card(
        self,
        cfg: RunConfig,
        plan: TrainingPlan,
        data: DetectionDataset,
        report: dict[str, Any],
        *,
        epochs: int,
    ) -> ModelCard:
        size = cfg.data.img_size
        return ModelCard(
            task=self.task_name,
            architecture=plan.extras["architecture"],
            options=dict(getattr(plan.model, "options", cfg.model.options)),
            classes=list(data.classes),
            preprocessing=Preprocessing(
                size=(size, size), mean=(0.0, 0.0, 0.0), std=(1.0, 1.0, 1.0)
            ),
            metrics={k: report[k] for k in self.card_metrics if k in report}
            | {"split": report["split"]},
            dataset={
                "fingerprint": detection_summary(data)["fingerprint"],
                "layout": data.layout,
                "source": str(data.source),
                "counts": data.counts(),
                "category_ids": list(data.category_ids),
            },
            training={"epochs": epochs, "config": cfg.model_dump(mode="json")["train"]},
        )
