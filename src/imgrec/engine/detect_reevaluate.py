"""Re-evaluate a trained detector or instance segmenter: on its own dataset's split, or on
another COCO/YOLO/VOC set (instance segmentation: COCO with masks)."""

from __future__ import annotations

import dataclasses
from datetime import datetime
from pathlib import Path
from typing import Any

import numpy as np

from imgrec.config import Settings
from imgrec.data.detection import DetectionImage
from imgrec.data.manifest import SPLITS
from imgrec.engine.detect_eval import evaluate_detector
from imgrec.engine.detect_predictor import DetectionPredictor
from imgrec.engine.detect_runner import read_detection_data
from imgrec.engine.rundir import saved_run_config
from imgrec.errors import DatasetError
from imgrec.evaluation.writers import write_json
from imgrec.models.card import ModelCard

__all__ = ["reevaluate_detector"]


def reevaluate_detector(
    run_dir: Path,
    *,
    data: Path | None,
    split: str = "test",
    out: Path | None,
    settings: Settings,
    device: str = "cpu",
) -> dict[str, Any]:
    """COCO metrics of the detector in ``run_dir``; written to ``out`` and returned.

    Another dataset's class names must all be classes the model knows (matched by name, so a
    dataset whose category ids differ still evaluates correctly).
    """
    instance = ModelCard.load(run_dir).task == "instance"
    predictor: Any
    if instance:
        from imgrec.engine.instance_predictor import InstancePredictor
        from imgrec.engine.instance_runner import read_instance_data

        predictor = InstancePredictor.from_run_dir(run_dir, device=device)
    else:
        predictor = DetectionPredictor.from_run_dir(run_dir, device=device)
    card = predictor.card
    cfg = saved_run_config(run_dir, data=data)
    dataset = (read_instance_data if instance else read_detection_data)(cfg, settings)
    unknown = sorted(set(dataset.classes) - set(card.classes))
    if unknown:
        raise DatasetError(
            f"{dataset.source}: classes {unknown} are not known to the model in {run_dir} "
            f"(it knows {card.classes}); evaluate on a dataset with the model's class names."
        )
    position = [card.classes.index(name) for name in dataset.classes]
    if data is None and split not in SPLITS:
        raise DatasetError(f"unknown split '{split}'; use one of {', '.join(SPLITS)}.")
    own = [im for im in dataset.images if im.split == split]
    chosen = dataset.images if data is not None else own
    images: list[DetectionImage] = [
        dataclasses.replace(
            im, labels=np.asarray([position[int(v)] for v in im.labels], dtype=np.int64)
        )
        for im in chosen
    ]
    if not images:
        raise DatasetError(f"{dataset.source}: no images in the {split} split to evaluate.")
    name = "own-" + split if data is None else data.stem or "data"
    out_dir = out or run_dir / f"eval-{name}-{datetime.now():%Y%m%d-%H%M%S}"
    out_dir.mkdir(parents=True, exist_ok=True)
    category_ids = card.dataset.get("category_ids") or list(range(1, len(card.classes) + 1))
    evaluate = evaluate_detector
    if instance:
        from imgrec.engine.instance_eval import evaluate_instance_segmenter as evaluate
    metrics = evaluate(
        predictor.model,
        images,
        card.classes,
        category_ids=category_ids,
        out_dir=out_dir,
        device=str(predictor.device),
        img_size=card.preprocessing.size[0],
    )
    metrics["source"] = str(data) if data is not None else f"{run_dir.name}:{split}"
    metrics["out_dir"] = str(out_dir)
    write_json(out_dir / "metrics.json", metrics)
    return metrics
