"""Re-evaluate a trained segmenter: on its own dataset's split, or on another segmentation set."""

from __future__ import annotations

from datetime import datetime
from pathlib import Path
from typing import Any

from imgrec.config import Settings
from imgrec.data.manifest import SPLITS
from imgrec.engine.rundir import saved_run_config
from imgrec.engine.segment_eval import evaluate_segmenter
from imgrec.engine.segment_predictor import SegmentationPredictor
from imgrec.engine.segment_runner import read_segmentation_data
from imgrec.errors import DatasetError
from imgrec.evaluation.writers import write_json

__all__ = ["reevaluate_segmenter"]


def reevaluate_segmenter(
    run_dir: Path,
    *,
    data: Path | None,
    split: str = "test",
    out: Path | None,
    settings: Settings,
    device: str = "cpu",
) -> dict[str, Any]:
    """mIoU and the rest for the segmenter in ``run_dir``; written to ``out`` and returned.

    Another dataset's class names must all be classes the model knows; its mask values are
    mapped to the model's classes by name (any order).
    """
    predictor = SegmentationPredictor.from_run_dir(run_dir, device=device)
    card = predictor.card
    cfg = saved_run_config(run_dir, data=data)
    dataset = read_segmentation_data(cfg, settings)
    unknown = sorted(set(dataset.classes) - set(card.classes))
    if unknown:
        raise DatasetError(
            f"{dataset.source}: classes {unknown} are not known to the model in {run_dir} "
            f"(it knows {card.classes}); evaluate on a dataset with the model's class names."
        )
    if data is None and split not in SPLITS:
        raise DatasetError(f"unknown split '{split}'; use one of {', '.join(SPLITS)}.")
    images = dataset.images if data is not None else dataset.by_split(split)  # type: ignore[arg-type]
    if not images:
        raise DatasetError(f"{dataset.source}: no images in the {split} split to evaluate.")
    name = "own-" + split if data is None else data.stem or "data"
    out_dir = out or run_dir / f"eval-{name}-{datetime.now():%Y%m%d-%H%M%S}"
    out_dir.mkdir(parents=True, exist_ok=True)
    metrics = evaluate_segmenter(
        predictor.model,
        images,
        dataset,
        out_dir=out_dir,
        device=str(predictor.device),
        img_size=card.preprocessing.size[0],
        classes=card.classes,
    )
    metrics["source"] = str(data) if data is not None else f"{run_dir.name}:{split}"
    metrics["out_dir"] = str(out_dir)
    write_json(out_dir / "metrics.json", metrics)
    return metrics
