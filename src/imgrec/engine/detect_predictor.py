"""Using a trained detector: rebuilt from its run directory by the card alone.

>>> model = DetectionPredictor.from_run_dir("runs/tinydet-20261202-101500")
>>> model.predict(["street.jpg"], conf=0.25, iou=0.5)[0].detections[0].label
'car'
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Self

import torch
from PIL import Image, ImageDraw

from imgrec.engine.devices import resolve_accelerator
from imgrec.engine.inputs import ImageInput, image_tensor, input_name, open_input
from imgrec.engine.run_weights import load_run_model
from imgrec.errors import DatasetError
from imgrec.models.card import ModelCard
from imgrec.models.detectors import create_detector

__all__ = [
    "Detection",
    "DetectionPrediction",
    "DetectionPredictor",
    "draw_detections",
    "read_input",
]


@dataclass(frozen=True)
class Detection:
    """One box: ``box`` is ``(x0, y0, x1, y1)`` in the input image's pixels."""

    label: str
    class_index: int
    score: float
    box: tuple[float, float, float, float]

    def to_dict(self) -> dict[str, Any]:
        return {
            "label": self.label,
            "class_index": self.class_index,
            "score": round(self.score, 6),
            "box": [round(v, 2) for v in self.box],
        }


@dataclass
class DetectionPrediction:
    """The detector's answer for one image (``error`` set instead when it is unusable)."""

    source: str
    width: int = 0
    height: int = 0
    detections: list[Detection] = field(default_factory=list)
    error: str | None = None

    def to_dict(self) -> dict[str, Any]:
        return {
            "source": self.source,
            "width": self.width,
            "height": self.height,
            "detections": [d.to_dict() for d in self.detections],
            "error": self.error,
        }


read_input = open_input  # the name callers used before the predictors shared open_input


class DetectionPredictor:
    """A detector with its card, ready to predict boxes."""

    task = "detect"
    build: Callable[..., torch.nn.Module] = staticmethod(create_detector)

    def __init__(self, model: torch.nn.Module, card: ModelCard, *, device: str = "cpu") -> None:
        self.card = card
        self.classes = card.classes
        self.device = torch.device(device)
        self.model = model.to(self.device).eval()

    @classmethod
    def from_run_dir(cls, run_dir: str | Path, *, device: str = "auto") -> Self:
        """Load ``card.json`` and ``model.safetensors`` of a run of the class's ``task``.

        Raises:
            ModelError: missing or invalid card or weights, or a classification run's card
                (:func:`~imgrec.engine.run_weights.load_run_model`).
        """
        model, card = load_run_model(run_dir, task=cls.task, build=cls.build)
        return cls(model, card, device=resolve_accelerator(device))

    @torch.inference_mode()
    def predict(
        self,
        images: Sequence[ImageInput],
        *,
        conf: float = 0.25,
        iou: float = 0.5,
        max_detections: int = 100,
        batch_size: int = 8,
    ) -> list[DetectionPrediction]:
        """Boxes per image above ``conf``, after class-wise NMS at ``iou``; unreadable inputs
        get a :class:`DetectionPrediction` with ``error`` set."""
        from torchvision.ops import batched_nms

        model: Any = self.model
        model.score_thresh, model.nms_thresh = conf, iou
        model.detections_per_img = max_detections
        results: list[DetectionPrediction] = []
        for start in range(0, len(images), batch_size):
            tensors, slots = [], []
            for item in images[start : start + batch_size]:
                out = DetectionPrediction(source=input_name(item))
                results.append(out)
                try:
                    pil = open_input(item)
                except DatasetError as exc:
                    out.error = str(exc)
                    continue
                out.width, out.height = pil.size
                tensors.append(image_tensor(pil))
                slots.append(out)
            if not tensors:
                continue
            for out, det in zip(slots, model([t.to(self.device) for t in tensors]), strict=True):
                keep = det["scores"] >= conf
                boxes, scores, labels = det["boxes"][keep], det["scores"][keep], det["labels"][keep]
                kept = batched_nms(boxes.float(), scores.float(), labels, iou)[:max_detections]
                out.detections = [
                    Detection(
                        label=self.card.classes[int(labels[i])],
                        class_index=int(labels[i]),
                        score=float(scores[i]),
                        box=(*(float(v) for v in boxes[i].tolist()),),  # type: ignore[arg-type]
                    )
                    for i in kept.tolist()
                ]
        return results


def draw_detections(image: ImageInput, prediction: DetectionPrediction) -> Image.Image:
    """A copy of ``image`` (opened by :func:`~imgrec.engine.inputs.open_input`, so EXIF-oriented
    as the detector saw it) with each box, its label and score drawn on it."""
    out = open_input(image).copy()
    draw = ImageDraw.Draw(out)
    palette = [(230, 25, 75), (60, 180, 75), (0, 130, 200), (245, 130, 48), (145, 30, 180)]
    for det in prediction.detections:
        colour = palette[det.class_index % len(palette)]
        draw.rectangle(det.box, outline=colour, width=max(1, round(min(out.size) / 150)))
        draw.text((det.box[0] + 2, det.box[1] + 1), f"{det.label} {det.score:.2f}", fill=colour)
    return out
