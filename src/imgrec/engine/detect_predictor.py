"""Using a trained detector: rebuilt from its run directory by the card alone.

>>> model = DetectionPredictor.from_run_dir("runs/tinydet-20261202-101500")
>>> model.predict(["street.jpg"], conf=0.25, iou=0.5)[0].detections[0].label
'car'
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch
from PIL import Image, ImageDraw
from safetensors import SafetensorError
from safetensors.torch import load_file

from imgrec.data.images import load_rgb, to_rgb
from imgrec.engine.devices import resolve_accelerator
from imgrec.errors import DatasetError, ModelError
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


def read_input(image: Any) -> Image.Image:
    """An RGB PIL image from a path, a PIL image or an array; DatasetError when unreadable."""
    if isinstance(image, str | Path):
        return load_rgb(image)
    if isinstance(image, Image.Image):
        return to_rgb(image)
    if isinstance(image, np.ndarray) and image.ndim in (2, 3):
        return to_rgb(Image.fromarray(np.ascontiguousarray(image.astype(np.uint8)).squeeze()))
    raise DatasetError(f"cannot read an image from {type(image).__name__}")


class DetectionPredictor:
    """A detector with its card, ready to predict boxes."""

    task = "detect"

    def __init__(self, model: torch.nn.Module, card: ModelCard, *, device: str = "cpu") -> None:
        self.card = card
        self.classes = card.classes
        self.device = torch.device(device)
        self.model = model.to(self.device).eval()

    @classmethod
    def from_run_dir(cls, run_dir: str | Path, *, device: str = "auto") -> DetectionPredictor:
        """Load ``card.json`` and ``model.safetensors`` of a detection run.

        Raises:
            ModelError: missing or invalid card or weights.
        """
        directory = Path(run_dir)
        card = ModelCard.load(directory)
        weights = directory / card.weights_file
        if not weights.is_file():
            raise ModelError(
                f"{weights}: weights file missing. The run may not have finished; "
                f"`imgrec train --resume {directory}` completes it."
            )
        model = create_detector(
            card.architecture,
            num_classes=card.num_classes,
            img_size=card.preprocessing.size[0],
            **card.options,
        )
        try:
            model.load_state_dict(load_file(str(weights)), strict=True)
        except (SafetensorError, OSError, RuntimeError) as exc:
            raise ModelError(
                f"{weights}: weights do not fit the detector in {directory / 'card.json'} "
                f"({str(exc).splitlines()[0]})."
            ) from exc
        return cls(model, card, device=resolve_accelerator(device))

    @torch.inference_mode()
    def predict(
        self,
        images: Sequence[Any],
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
                name = str(item) if isinstance(item, str | Path) else f"<{type(item).__name__}>"
                out = DetectionPrediction(source=name)
                results.append(out)
                try:
                    pil = read_input(item)
                except DatasetError as exc:
                    out.error = str(exc)
                    continue
                out.width, out.height = pil.size
                array = np.asarray(pil)
                tensors.append(torch.from_numpy(array.copy()).permute(2, 0, 1).float() / 255)
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


def draw_detections(image: Image.Image, prediction: DetectionPrediction) -> Image.Image:
    """A copy of ``image`` with each box, its label and score drawn on it."""
    out = to_rgb(image).copy()
    draw = ImageDraw.Draw(out)
    palette = [(230, 25, 75), (60, 180, 75), (0, 130, 200), (245, 130, 48), (145, 30, 180)]
    for det in prediction.detections:
        colour = palette[det.class_index % len(palette)]
        draw.rectangle(det.box, outline=colour, width=max(1, round(min(out.size) / 150)))
        draw.text((det.box[0] + 2, det.box[1] + 1), f"{det.label} {det.score:.2f}", fill=colour)
    return out
