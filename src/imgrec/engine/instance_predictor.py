"""Using a trained instance segmenter: boxes, labels, scores and a mask per object.

>>> model = InstancePredictor.from_run_dir("runs/tinymask-20261204-101500")
>>> [p] = model.predict(["street.jpg"], conf=0.5)
>>> p.detections[0].label, p.detections[0].rle            # COCO RLE at the photo's size
>>> p.save("out/")     # street.png (instance ids), street-classes.png, street-overlay.png

Any size or mode of image works; masks are kept as RLE, so a 4000 x 3000 photo holds one
full-size mask at a time (:mod:`imgrec.engine.instance_inference`).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image

from imgrec.data.detection.masks import decode_segmentation, mask_to_polygons
from imgrec.engine.detect_predictor import Detection, DetectionPrediction, DetectionPredictor
from imgrec.engine.inputs import ImageInput, input_name, open_input
from imgrec.engine.instance_inference import segment_instances
from imgrec.errors import DatasetError
from imgrec.evaluation.segmentation_plots import colourise, default_palette, overlay_mask
from imgrec.models.instance_segmenters import create_instance_segmenter

__all__ = ["InstanceDetection", "InstancePrediction", "InstancePredictor"]


@dataclass(frozen=True)
class InstanceDetection(Detection):
    """One object: its box, label, score and mask (COCO RLE at the input image's size)."""

    rle: dict[str, Any] = field(default_factory=dict)

    def mask(self) -> np.ndarray:
        """The object's ``(H, W)`` bool mask."""
        height, width = self.rle["size"]
        return decode_segmentation(self.rle, height, width)

    def polygons(self) -> list[list[float]]:
        """The mask's outer outlines as COCO polygons ``[x0, y0, x1, y1, ...]``."""
        return mask_to_polygons(self.mask())

    def to_dict(self) -> dict[str, Any]:
        return super().to_dict() | {"rle": self.rle, "polygons": self.polygons()}


@dataclass
class InstancePrediction(DetectionPrediction):
    """The instance segmenter's answer for one image (``error`` set instead when unusable)."""

    num_classes: int = 0

    def instance_map(self) -> np.ndarray:
        """``(H, W)`` uint16: 0 background, ``i + 1`` where detection ``i`` is; a more
        confident object covers a less confident one where they overlap."""
        out = np.zeros((self.height, self.width), dtype=np.uint16)
        for i in reversed(range(len(self.detections))):  # most confident painted last
            det = self.detections[i]
            if isinstance(det, InstanceDetection):
                out[det.mask()] = i + 1
        return out

    def class_map(self) -> np.ndarray:
        """``(H, W)`` uint8 class map: 0 background, ``class_index + 1`` on each object."""
        ids = self.instance_map()
        lookup = np.array([0] + [d.class_index + 1 for d in self.detections], dtype=np.uint8)
        return lookup[ids]

    def overlay(self, image: ImageInput | None = None, *, alpha: float = 0.5) -> Image.Image:
        """``image`` (default: the file predicted) with each object's mask blended in its
        class colour (the rest of the image untouched) and its box drawn."""
        from imgrec.engine.detect_predictor import draw_detections

        pixels = np.asarray(open_input(self.source if image is None else image))
        palette = default_palette(max(self.num_classes, 1) + 1)
        classes = self.class_map()
        blended = overlay_mask(pixels, classes, palette, alpha=alpha, untinted=0)  # objects only
        return draw_detections(Image.fromarray(blended), self)

    def save(
        self, folder: str | Path, stem: str | None = None, *, image: ImageInput | None = None
    ) -> dict[str, Path]:
        """``STEM.png`` (16-bit instance ids), ``STEM-classes.png`` (class colours, 0 black) and
        ``STEM-overlay.png`` in ``folder``; the input is never touched."""
        out = Path(folder)
        out.mkdir(parents=True, exist_ok=True)
        stem = stem or (Path(self.source).stem if not self.source.startswith("<") else "image")
        paths = {
            "instances": out / f"{stem}.png",
            "classes": out / f"{stem}-classes.png",
            "overlay": out / f"{stem}-overlay.png",
        }
        Image.fromarray(self.instance_map()).save(paths["instances"])
        palette = default_palette(max(self.num_classes, 1) + 1)
        Image.fromarray(colourise(self.class_map(), palette)).save(paths["classes"])
        self.overlay(image).save(paths["overlay"])
        return paths


class InstancePredictor(DetectionPredictor):
    """An instance segmenter with its card, ready to predict objects with masks."""

    task = "instance"
    build = staticmethod(create_instance_segmenter)

    def predict(  # type: ignore[override]
        self,
        images: Sequence[ImageInput],
        *,
        conf: float = 0.25,
        iou: float = 0.5,
        max_detections: int = 100,
        batch_size: int = 4,
    ) -> list[InstancePrediction]:
        """Objects per image scoring ``conf`` or more after class-wise NMS at ``iou``, each with
        its mask; unreadable inputs get an :class:`InstancePrediction` with ``error`` set."""
        model: Any = self.model
        model.score_thresh, model.nms_thresh = conf, iou
        model.detections_per_img = max_detections
        size = self.card.preprocessing.size[0]
        results: list[InstancePrediction] = []
        for start in range(0, len(images), batch_size):
            pixels, slots = [], []
            for item in images[start : start + batch_size]:
                out = InstancePrediction(source=input_name(item), num_classes=len(self.classes))
                results.append(out)
                try:
                    pil = open_input(item)
                except DatasetError as exc:
                    out.error = str(exc)
                    continue
                out.width, out.height = pil.size
                pixels.append(np.asarray(pil))
                slots.append(out)
            found = segment_instances(self.model, pixels, img_size=size, device=self.device)
            for out, inst in zip(slots, found, strict=True):
                order = np.argsort(-inst.scores, kind="stable")
                out.detections = [
                    InstanceDetection(
                        label=self.classes[int(inst.labels[i])],
                        class_index=int(inst.labels[i]),
                        score=float(inst.scores[i]),
                        box=(*(float(v) for v in inst.boxes[i]),),  # type: ignore[arg-type]
                        rle=inst.rles[i],
                    )
                    for i in order
                ]
        return results
