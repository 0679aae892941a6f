"""Segment images with a trained segmenter, and evaluate it on a split.

Inference resizes each image to the square ``img_size`` the model trained at, normalises it as
the model expects, and brings the class scores back to the image's own size: bilinearly up to
``max_side`` pixels on the longest side, then (for larger photos) the class indices by nearest
neighbour, so a 4000 x 3000 photo never holds ``K`` full-size score maps in memory. Scores are
computed at the image's own resolution against its own mask (no resized ground truth).
"""

from __future__ import annotations

import sys
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F

from imgrec.data.images import load_rgb
from imgrec.data.segmentation import SegmentationDataset, SegmentationImage, load_mask
from imgrec.evaluation.segmentation import SegmentationEvaluator
from imgrec.models.segmenters import normalise

__all__ = ["class_map_at_size", "evaluate_segmenter", "normalise", "segment_arrays"]

MAX_SIDE = 1024  # class scores are upsampled to at most this; beyond, indices by nearest


def class_map_at_size(logits: torch.Tensor, height: int, width: int) -> np.ndarray:
    """Class indices ``(height, width)`` from ``(K, h, w)`` scores (see the module)."""
    scale = min(1.0, MAX_SIDE / max(height, width))
    h, w = max(1, round(height * scale)), max(1, round(width * scale))
    up = F.interpolate(logits[None].float(), size=(h, w), mode="bilinear", align_corners=False)
    labels = up[0].argmax(0).to(torch.uint8 if logits.shape[0] <= 256 else torch.int64)
    if (h, w) != (height, width):
        labels = F.interpolate(labels[None, None].float(), size=(height, width), mode="nearest")
        labels = labels[0, 0].to(torch.int64)
    return labels.cpu().numpy()


@torch.inference_mode()
def segment_arrays(
    model: torch.nn.Module,
    images: Sequence[np.ndarray],
    *,
    img_size: int,
    device: str = "cpu",
    batch: int = 8,
    probabilities: bool = False,
) -> list[np.ndarray]:
    """Class-index masks ``(H, W)`` (or, with ``probabilities``, the softmax at ``img_size``
    as ``(K, img_size, img_size)``) for uint8 RGB ``(H, W, 3)`` images."""
    model.eval().to(device)
    out: list[np.ndarray] = []
    for start in range(0, len(images), batch):
        chunk = images[start : start + batch]
        x = torch.stack(
            [
                F.interpolate(
                    torch.from_numpy(np.array(a, copy=True)).permute(2, 0, 1)[None].float(),
                    size=(img_size, img_size),
                    mode="bilinear",
                    align_corners=False,
                    antialias=True,
                )[0]
                for a in chunk
            ]
        ).div(255)
        logits = model(normalise(x.to(device), model))
        for a, scores in zip(chunk, logits, strict=True):
            if probabilities:
                out.append(scores.softmax(0).cpu().numpy())
            else:
                out.append(class_map_at_size(scores, a.shape[0], a.shape[1]))
    return out


def evaluate_segmenter(
    model: torch.nn.Module,
    images: Sequence[SegmentationImage],
    dataset: SegmentationDataset,
    *,
    out_dir: Path,
    device: str = "cpu",
    img_size: int = 128,
    history: Sequence[dict[str, float]] | None = None,
    prefix: str = "test",
    max_overlays: int = 16,
    classes: Sequence[str] | None = None,
) -> dict[str, Any]:
    """Scores of ``model`` on ``images`` (mIoU and the rest, see
    :mod:`imgrec.evaluation.segmentation`); writes the metrics files and plots into ``out_dir``.

    ``classes``: the model's classes when the dataset's differ (another dataset with some of
    the model's class names, in any order): its mask values are mapped to the model's by name.
    """
    names = list(classes) if classes is not None else list(dataset.classes)
    lut = _class_lut(dataset, names)
    evaluator = SegmentationEvaluator(len(names), names, ignore_index=dataset.ignore_index)
    seconds = 0.0
    for item in images:
        pixels = np.asarray(load_rgb(item.path))
        started = time.perf_counter()
        [pred] = segment_arrays(model, [pixels], img_size=img_size, device=device)
        seconds += time.perf_counter() - started
        truth = lut[load_mask(item, dataset)]
        evaluator.update(torch.from_numpy(pred.astype(np.int64))[None], torch.from_numpy(
            truth.astype(np.int64))[None])  # fmt: skip
    report = evaluator.compute()
    files = report.write(out_dir)
    metrics: dict[str, Any] = report.to_dict()
    try:
        files |= _plots(
            model, images, dataset, lut, report, out_dir, device, img_size, max_overlays
        )
        if history:
            from imgrec.evaluation.plots import plot_learning_curves

            files["learning_curves.png"] = plot_learning_curves(
                history, out_dir / "learning_curves.png"
            )
    except Exception as exc:  # a plot must never lose the metrics already computed
        sys.stderr.write(f"warning: segmentation plots skipped ({type(exc).__name__}: {exc})\n")
    metrics["inference"] = {
        "images": len(images),
        "seconds": round(seconds, 3),
        "images_per_second": round(len(images) / seconds, 2) if seconds > 0 else None,
        "device": device,
        "img_size": img_size,
    }
    metrics["artifacts"] = {name: Path(path).name for name, path in files.items()}
    metrics["prefix"] = prefix
    return metrics


def _class_lut(dataset: SegmentationDataset, names: list[str]) -> np.ndarray:
    """Mask value -> the model's class index (identity when the classes are the model's)."""
    lut = np.arange(256, dtype=np.int64)
    if names != list(dataset.classes):
        for i, name in enumerate(dataset.classes):
            lut[i] = names.index(name)
    return lut


def _plots(
    model: torch.nn.Module,
    images: Sequence[SegmentationImage],
    dataset: SegmentationDataset,
    lut: np.ndarray,
    report: Any,
    out_dir: Path,
    device: str,
    img_size: int,
    max_overlays: int,
) -> dict[str, Path]:
    from imgrec.evaluation.segmentation_plots import (
        SegmentationSample,
        default_palette,
        write_segmentation_plots,
    )

    palette = default_palette(report.num_classes)
    if dataset.palette:
        for index, colour in dataset.palette.items():
            if index < dataset.num_classes and lut[index] < report.num_classes:
                palette[lut[index]] = colour
    samples = []
    for i in report.worst_images(max_overlays):
        item = images[i]
        pixels = np.asarray(load_rgb(item.path))
        [pred] = segment_arrays(model, [pixels], img_size=img_size, device=device)
        samples.append(
            SegmentationSample(
                image=pixels,
                target=lut[load_mask(item, dataset)].astype(np.int64),
                prediction=pred.astype(np.int64),
                iou=report.per_image_iou[i],
                title=item.key,
            )
        )
    return write_segmentation_plots(report, out_dir, samples=samples, palette=palette)
