"""One detection run: COCO/YOLO/VOC data, a detector, fit, COCO evaluation, run directory.

The shared parts (run directory, status, observer, resume, divergence) are the classification
runner's; what differs is the data (boxes per image, images of any size), the model surface
(lists of images in, loss dicts or detections out) and the evaluation (pycocotools).
"""

from __future__ import annotations

import hashlib
import os
import sys
from pathlib import Path
from typing import Any

import torch

from imgrec.config import RunConfig, Settings
from imgrec.data.detection import DetectionDataset, DetectionImage, read_detection
from imgrec.data.manifest import Split
from imgrec.engine.detect_eval import evaluate_detector
from imgrec.engine.fit import BEST_WEIGHTS, CHECKPOINT, FitResult, fit
from imgrec.engine.observer import RunObserver
from imgrec.engine.rundir import CONFIG_FILE, now_iso, read_run_status, update_run_status
from imgrec.engine.runner import (
    _describe,
    _on_epoch,
    _refuse_diverged,
    _run_dir_for_this_process,
    _status_of,
    shared_run_dir,
    training_summary,
)
from imgrec.errors import DatasetError, RunError
from imgrec.evaluation.writers import write_history_csv, write_json
from imgrec.models.card import ModelCard, Preprocessing
from imgrec.models.detectors import create_detector
from imgrec.models.weights import save_weights
from imgrec.tasks.detect.training import (
    DetectionModule,
    DetectionTorchDataset,
    collate_detection,
    eval_transform,
    train_transform,
)
from imgrec.tasks.registry import get_task

__all__ = ["DEFAULT_DETECTOR", "read_detection_data", "run_detection"]

DEFAULT_DETECTOR = "tinydet"
_CLASSIFY_DEFAULT = "simple_cnn"


def read_detection_data(cfg: RunConfig, settings: Settings) -> DetectionDataset:
    """The dataset of ``cfg.data.path`` read by the detection readers, with its splits."""
    assert cfg.data.path is not None
    source = Path(cfg.data.path).expanduser().resolve()
    stamp = f"{source}:{source.stat().st_mtime_ns if source.exists() else 0}"
    work = settings.datasets_dir / f"detect-{hashlib.sha256(stamp.encode()).hexdigest()[:12]}"
    work.mkdir(parents=True, exist_ok=True)
    return read_detection(
        source,
        work_dir=work,
        val_fraction=cfg.data.val_fraction,
        test_fraction=cfg.data.test_fraction,
        split_seed=cfg.data.split_seed,
    )


def _dataset_summary(ds: DetectionDataset) -> dict[str, Any]:
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


def run_detection(
    cfg: RunConfig,
    *,
    settings: Settings,
    run_dir: Path | None = None,
    show_progress: bool = True,
    observer: RunObserver | None = None,
) -> tuple[Path, dict[str, Any]]:
    """Train and evaluate a detector (``task: detect``); see ``run_training``."""
    import lightning.pytorch as pl

    from imgrec.engine.runner import is_rank_zero

    watcher = observer if observer is not None and is_rank_zero() else RunObserver()
    if cfg.train.threads:
        torch.set_num_threads(cfg.train.threads)
    pl.seed_everything(cfg.train.seed, verbose=False)
    try:
        data = read_detection_data(cfg, settings)
        if not data.by_split("train"):
            raise DatasetError(f"{data.source}: no training images with usable annotations.")
    except BaseException as exc:
        watcher.finished(status=_status_of(exc), metrics=None, error=_describe(exc), run_dir=None)
        raise
    if show_progress:
        from imgrec.data.detection import render_report_text

        sys.stderr.write(render_report_text(data) + "\n")
    run_dir = _run_dir_for_this_process(cfg, settings, run_dir)
    resume = (run_dir / CHECKPOINT).is_file()
    done = int(read_run_status(run_dir).get("last_epoch") or 0) if resume else 0
    if cfg.train.epochs < done:
        refused = RunError(
            f"{run_dir} has already trained {done} epochs; to continue it, ask for more "
            f"(--epochs {done + 5}, say), not {cfg.train.epochs}."
        )
        watcher.finished(status="failed", metrics=None, error=str(refused), run_dir=run_dir)
        raise refused
    (run_dir / CONFIG_FILE).write_text(cfg.to_yaml())
    update_run_status(run_dir, status="running", started=now_iso(), error=None, pid=os.getpid())
    dataset = _dataset_summary(data)
    write_json(run_dir / "data_report.json", dataset["report"])
    try:
        with shared_run_dir(run_dir):
            watcher.started(run_dir=run_dir, config=cfg.model_dump(mode="json"), dataset=dataset)
            metrics = _train_and_evaluate(
                cfg, settings, data, run_dir, resume, show_progress, watcher
            )
    except BaseException as exc:
        status, error = _status_of(exc), _describe(exc)
        update_run_status(run_dir, status=status, finished=now_iso(), error=error)
        watcher.finished(status=status, metrics=None, error=error, run_dir=run_dir)
        raise
    update_run_status(run_dir, status="completed", finished=now_iso(), accuracy=metrics["map"])
    watcher.finished(status="completed", metrics=metrics, error=None, run_dir=run_dir)
    return run_dir, metrics


def detector_name(cfg: RunConfig) -> str:
    """The configured detector; the classification default model means 'the default detector'."""
    return DEFAULT_DETECTOR if cfg.model.name == _CLASSIFY_DEFAULT else cfg.model.name


def _loader(
    images: list[DetectionImage], cfg: RunConfig, *, train: bool
) -> torch.utils.data.DataLoader[Any]:
    size = cfg.data.img_size
    dataset = DetectionTorchDataset(
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


def _train_and_evaluate(
    cfg: RunConfig,
    settings: Settings,
    data: DetectionDataset,
    run_dir: Path,
    resume: bool,
    show_progress: bool,
    observer: RunObserver,
) -> dict[str, Any]:
    name = detector_name(cfg)
    model = create_detector(
        name,
        num_classes=len(data.classes),
        img_size=cfg.data.img_size,
        weights=cfg.model.weights,
        offline=settings.offline,
        pretrained=cfg.model.pretrained,
        **cfg.model.options,
    )
    train_loader = _loader(data.by_split("train"), cfg, train=True)
    val_images = data.by_split("val")
    val_loader = _loader(val_images, cfg, train=False) if val_images else None
    starts_pretrained = bool(cfg.model.weights or cfg.model.pretrained)
    module = DetectionModule(
        model,
        train_config=cfg.train,
        steps_per_epoch=len(train_loader),
        backbone_lr_scale=cfg.model.backbone_lr_scale if starts_pretrained else 1.0,
    )
    task = get_task("detect")
    monitor = task.metric(cfg.train.monitor) if cfg.train.monitor else task.monitor
    result: FitResult = fit(
        module,
        train_loader,
        val_loader,
        config=cfg.train,
        run_dir=run_dir,
        resume=resume,
        freeze_epochs=cfg.model.freeze_epochs,
        on_epoch=lambda row: _on_epoch(run_dir, row, observer),
        show_progress=show_progress,
        monitor=monitor,
    )
    best = run_dir / BEST_WEIGHTS
    _refuse_diverged(result.history, has_best=best.is_file())
    if best.is_file():
        from safetensors.torch import load_file

        model.load_state_dict(load_file(str(best)))
    write_history_csv(result.history, run_dir / "history.csv")
    order: tuple[Split, ...] = ("test", "val", "train")
    split: Split = next((s for s in order if data.by_split(s)), "train")
    device = "cuda" if result.accelerator == "cuda" else "cpu"
    if show_progress:
        sys.stderr.write(f"evaluating on the {split} split ({len(data.by_split(split))} images)\n")
    metrics = evaluate_detector(
        model.float(),
        data.by_split(split),
        data.classes,
        category_ids=data.category_ids,
        out_dir=run_dir,
        device=device,
        img_size=cfg.data.img_size,
    )
    metrics["split"] = split
    metrics["training"] = training_summary(
        result, monitor=monitor.name, train_images=len(data.by_split("train"))
    )
    save_weights(model.to("cpu"), run_dir / "model.safetensors")
    size = cfg.data.img_size
    ModelCard(
        task="detect",
        architecture=name,
        options=dict(getattr(model, "options", cfg.model.options)),
        classes=list(data.classes),
        preprocessing=Preprocessing(size=(size, size), mean=(0.0, 0.0, 0.0), std=(1.0, 1.0, 1.0)),
        metrics={k: metrics[k] for k in ("map", "map50", "map75") if k in metrics}
        | {"split": split},
        dataset={
            "fingerprint": _dataset_summary(data)["fingerprint"],
            "layout": data.layout,
            "source": str(data.source),
            "counts": data.counts(),
            "category_ids": list(data.category_ids),
        },
        training={
            "epochs": result.epochs_completed,
            "config": cfg.model_dump(mode="json")["train"],
        },
    ).save(run_dir)
    write_json(run_dir / "metrics.json", metrics)
    return metrics
