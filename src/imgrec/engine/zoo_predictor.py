"""Pretrained zoo detectors (``zoo:nanodet-coco``) behind the same surface as a trained one.

>>> model = ZooPredictor.load("zoo:nanodet-coco")
>>> model.predict(["street.jpg"], conf=0.3)[0].detections[0].label
'person'
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from imgrec.engine.detect_predictor import Detection, DetectionPrediction
from imgrec.engine.inputs import ImageInput, input_name, open_input
from imgrec.errors import DatasetError
from imgrec.models.zoo_detect import ZooDetector, list_zoo_detectors

__all__ = ["ZooPredictor", "is_zoo_name", "list_zoo_detectors"]


def is_zoo_name(name: str | Path) -> bool:
    """``True`` for ``zoo:<model>`` (a shipped pretrained model, not a run directory)."""
    return str(name).startswith("zoo:")


class ZooPredictor:
    """A shipped ONNX detector that answers like :class:`DetectionPredictor` (no training)."""

    task = "detect"

    def __init__(self, detector: ZooDetector) -> None:
        self.detector = detector
        self.classes = detector.classes

    @classmethod
    def load(cls, name: str | Path) -> ZooPredictor:
        """``zoo:<model>``; an unknown name is a ConfigError listing the shipped ones."""
        return cls(ZooDetector.load(str(name)))

    def predict(
        self,
        images: Sequence[ImageInput],
        *,
        conf: float = 0.25,
        iou: float = 0.5,
        max_detections: int = 100,
        batch_size: int = 8,
    ) -> list[DetectionPrediction]:
        """Boxes per image above ``conf`` after class-wise NMS at ``iou``; unreadable inputs
        get a record with ``error`` set. ``batch_size`` is accepted for symmetry (the ONNX
        graph takes one image at a time)."""
        del batch_size
        results: list[DetectionPrediction] = []
        for item in images:
            out = DetectionPrediction(source=input_name(item))
            results.append(out)
            try:
                pil = open_input(item)
            except DatasetError as exc:
                out.error = str(exc)
                continue
            out.width, out.height = pil.size
            [(boxes, scores, labels)] = self.detector.detect(
                [pil], conf=conf, iou=iou, max_det=max_detections
            )
            out.detections = [
                Detection(
                    label=self.classes[int(label)],
                    class_index=int(label),
                    score=float(score),
                    box=(float(box[0]), float(box[1]), float(box[2]), float(box[3])),
                )
                for box, score, label in zip(boxes, scores, labels, strict=True)
            ]
        return results
