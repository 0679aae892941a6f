"""Evaluate a trained detector on a split: COCO metrics by pycocotools, plots, saved files.

Images go to the detector at their own size; the detector resizes them itself and returns boxes
in the original image's pixels, which is what the ground truth (and pycocotools) use.
"""

from __future__ import annotations

import sys
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch
from PIL import ImageOps

from imgrec.data.detection import DetectionImage
from imgrec.data.images import open_quietly
from imgrec.evaluation.detection import (
    GroundTruthImage,
    ImagePredictions,
    detection_confusion_matrix,
    evaluate_detections,
)

__all__ = ["decode_image", "detect_images", "evaluate_detector", "inference_summary"]


def decode_image(path: Path) -> np.ndarray:
    """``(H, W, 3)`` uint8 RGB of an image file, EXIF-rotated (as the readers measured it)."""
    with open_quietly(path) as img:
        return np.asarray(ImageOps.exif_transpose(img).convert("RGB"))


@torch.inference_mode()
def detect_images(
    model: torch.nn.Module, images: Sequence[np.ndarray], *, device: str = "cpu", batch: int = 8
) -> list[dict[str, np.ndarray]]:
    """Detections ``{boxes (N, 4) xyxy, scores (N,), labels (N,)}`` for uint8 RGB images."""
    model.eval().to(device)
    out: list[dict[str, np.ndarray]] = []
    for start in range(0, len(images), batch):
        chunk = [
            torch.from_numpy(np.array(a, copy=True)).permute(2, 0, 1).float().div(255).to(device)
            for a in images[start : start + batch]
        ]
        for det in model(chunk):
            out.append({k: det[k].detach().cpu().numpy() for k in ("boxes", "scores", "labels")})
    return out


def evaluate_detector(
    model: torch.nn.Module,
    images: Sequence[DetectionImage],
    classes: Sequence[str],
    *,
    category_ids: Sequence[int],
    out_dir: Path,
    device: str = "cpu",
    img_size: int = 512,
    prefix: str = "test",
) -> dict[str, Any]:
    """COCO metrics of ``model`` on ``images``; writes ground truth, predictions and plots."""
    from imgrec.evaluation.detection_plots import (
        plot_detection_confusion,
        plot_detection_grid,
        plot_pr_curves,
    )

    pixels = [decode_image(im.path) for im in images]
    started = time.perf_counter()
    dets = detect_images(model, pixels, device=device)
    seconds = time.perf_counter() - started
    truth = [
        GroundTruthImage(
            image_id=im.image_id,
            file_name=im.key,
            width=im.width,
            height=im.height,
            boxes=im.boxes,
            labels=im.labels,
            iscrowd=im.iscrowd,
        )
        for im in images
    ]
    preds = [
        ImagePredictions(
            image_id=im.image_id, boxes=d["boxes"], scores=d["scores"], labels=d["labels"]
        )
        for im, d in zip(images, dets, strict=True)
    ]
    report = evaluate_detections(
        truth, preds, list(classes), out_dir=out_dir, category_ids=list(category_ids), prefix=prefix
    )
    metrics: dict[str, Any] = report.to_dict()
    metrics["classes"] = list(classes)
    try:
        matrix = detection_confusion_matrix(truth, preds, len(classes))
        plot_detection_confusion(matrix, list(classes), out_dir / "detection_confusion.png")
        metrics["confusion_matrix"] = matrix.tolist()
        curves = getattr(report, "pr_curves", None)
        if curves is not None:
            plot_pr_curves(curves, list(classes), out_dir / "pr_curves.png")
        order = np.argsort([_image_score(t, p) for t, p in zip(truth, preds, strict=True)])
        samples = [
            (
                pixels[i],
                truth[i].boxes,
                truth[i].labels,
                preds[i].boxes,
                preds[i].scores,
                preds[i].labels,
                images[i].key,
            )
            for i in order[:16]
        ]
        plot_detection_grid(samples, list(classes), out_dir / "detections_worst.png")
    except Exception as exc:  # a plot must never lose the metrics already computed
        sys.stderr.write(f"warning: detection plots skipped ({type(exc).__name__}: {exc})\n")
    metrics["inference"] = inference_summary(len(images), seconds, device=device, img_size=img_size)
    return metrics


def inference_summary(images: int, seconds: float, *, device: str, img_size: int) -> dict[str, Any]:
    """The ``inference`` entry of an evaluation report: how long the model took on the split."""
    return {
        "images": images,
        "seconds": round(seconds, 3),
        "images_per_second": round(images / seconds, 2) if seconds > 0 else None,
        "device": device,
        "img_size": img_size,
    }


def _image_score(truth: GroundTruthImage, pred: ImagePredictions, *, conf: float = 0.25) -> float:
    """How well one image went (for the worst-first grid): recall at IoU 0.5 of confident boxes."""
    from torchvision.ops import box_iou

    gt = torch.as_tensor(np.asarray(truth.boxes, dtype=np.float32)).reshape(-1, 4)
    keep = np.asarray(pred.scores) >= conf
    boxes = torch.as_tensor(np.asarray(pred.boxes, dtype=np.float32)[keep]).reshape(-1, 4)
    if len(gt) == 0:
        return 1.0 if len(boxes) == 0 else 0.5
    if len(boxes) == 0:
        return 0.0
    iou = box_iou(gt, boxes)
    same = torch.as_tensor(np.asarray(truth.labels)[:, None] == np.asarray(pred.labels)[keep][None])
    return float(((iou >= 0.5) & same).any(dim=1).float().mean())
