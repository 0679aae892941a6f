"""Pretrained zoo models (``zoo:nanodet-coco``, ``zoo:selfie``) behind the same surface as
trained ones.

>>> model = ZooPredictor.load("zoo:nanodet-coco")
>>> model.predict(["street.jpg"], conf=0.3)[0].detections[0].label
'person'
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from imgrec.engine.detect_predictor import Detection, DetectionPrediction
from imgrec.engine.inputs import ImageInput, input_name, open_input
from imgrec.engine.segment_predictor import SegmentationPrediction
from imgrec.errors import ConfigError, DatasetError
from imgrec.models.zoo_detect import ZooDetector, list_zoo_detectors

__all__ = [
    "ZooPredictor",
    "ZooSegmentationPredictor",
    "is_zoo_name",
    "list_zoo_detectors",
    "load_zoo",
]


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


class ZooSegmentationPredictor:
    """A shipped ONNX person segmenter (``zoo:selfie``) that answers like
    :class:`~imgrec.engine.segment_predictor.SegmentationPredictor` (no training)."""

    task = "segment"

    def __init__(self, segmenter: Any) -> None:
        self.segmenter = segmenter
        self.classes: list[str] = list(segmenter.classes)

    @classmethod
    def load(cls, name: str | Path) -> ZooSegmentationPredictor:
        from imgrec.models.zoo_segment import ZooSegmenter

        return cls(ZooSegmenter.load(str(name)))

    def predict(
        self, images: Sequence[ImageInput], *, batch_size: int = 8
    ) -> list[SegmentationPrediction]:
        """A background/person mask per image at its own size; unreadable inputs get
        ``error`` set. ``batch_size`` is accepted for symmetry (one image at a time)."""
        del batch_size
        results: list[SegmentationPrediction] = []
        for item in images:
            out = SegmentationPrediction(source=input_name(item), classes=self.classes)
            results.append(out)
            try:
                pil = open_input(item)
            except DatasetError as exc:
                out.error = str(exc)
                continue
            out.width, out.height = pil.size
            [mask] = self.segmenter.masks([pil])
            out.mask = mask.astype(np.uint8)
            share = float(out.mask.mean())
            shares = {self.classes[0]: 1.0 - share, self.classes[1]: share}
            out.shares = dict(sorted(shares.items(), key=lambda kv: -kv[1]))
        return results


def load_zoo(name: str | Path) -> ZooPredictor | ZooSegmentationPredictor:
    """The zoo model ``name``: a detector or a segmenter; unknown names list both kinds."""
    from imgrec.models.zoo_segment import list_zoo_segmenters

    if str(name) in list_zoo_segmenters():
        return ZooSegmentationPredictor.load(name)
    if str(name) not in list_zoo_detectors():
        raise ConfigError(
            f"unknown zoo model '{name}'; shipped: "
            f"{', '.join(list_zoo_detectors() + list_zoo_segmenters())}."
        )
    return ZooPredictor.load(name)
