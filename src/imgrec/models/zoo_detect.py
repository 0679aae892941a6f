"""Pretrained COCO detectors shipped with imgrec as ONNX files, run by onnxruntime.

No training and no download: ``zoo_files/`` holds each model (``<name>.onnx``) and a sidecar
(``<name>.json``: input size, normalisation, strides, class names, source and licence), made by
``scripts/convert_human_models.py``.

>>> from imgrec.models.zoo_detect import ZooDetector, list_zoo_detectors
>>> list_zoo_detectors()
['zoo:nanodet-coco']
>>> det = ZooDetector.load("zoo:nanodet-coco")
>>> [(boxes, scores, labels)] = det.detect([pil_image], conf=0.3)

Boxes are ``xyxy`` float32 in the original image's pixels, labels 0-based indices into
``det.classes`` (the 80 COCO names). NanoDet (GFL head) is decoded here: per stride, the class
scores (already sigmoid) and, per side, a softmax over ``reg_max + 1`` distance bins whose
expectation times the stride is the distance from the cell centre to that side; then per-class
NMS (``torchvision.ops.batched_nms``).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image

from imgrec.errors import ConfigError, ModelError, SetupError

__all__ = ["ZooDetector", "list_zoo_detectors"]

ZOO_DIR = Path(__file__).with_name("zoo_files")
_PREFIX = "zoo:"
_MAX_CANDIDATES = 3000  # (location, class) pairs kept for NMS, best first

Detections = tuple[np.ndarray, np.ndarray, np.ndarray]


def list_zoo_detectors() -> list[str]:
    """The names :meth:`ZooDetector.load` accepts, e.g. ``["zoo:nanodet-coco"]``."""
    return sorted(
        _PREFIX + p.stem
        for p in ZOO_DIR.glob("*.json")
        if p.with_suffix(".onnx").is_file()
        and json.loads(p.read_text()).get("task", "detect") == "detect"  # not zoo:selfie
    )


class ZooDetector:
    """One shipped ONNX detector; build it with :meth:`load`."""

    def __init__(self, name: str, spec: dict[str, Any], session: Any) -> None:
        self.name = name
        self.spec = spec
        self.classes: list[str] = list(spec["classes"])
        self._session = session
        self._input_name: str = spec["input_name"]
        self._in_h, self._in_w = (int(v) for v in spec["input_size"])
        self._mean = np.asarray(spec["mean"], dtype=np.float32)
        self._std = np.asarray(spec["std"], dtype=np.float32)
        self._bgr = spec["channel_order"].upper() == "BGR"
        self._strides = [int(s) for s in spec["strides"]]
        self._bins = np.arange(int(spec["reg_max"]) + 1, dtype=np.float32)
        self._outputs: list[str] = list(spec["score_outputs"]) + list(spec["box_outputs"])

    @classmethod
    def load(cls, name: str) -> ZooDetector:
        """Load ``zoo:<name>`` (the prefix is optional) from the shipped files."""
        available = list_zoo_detectors()
        key = name if name.startswith(_PREFIX) else _PREFIX + name
        if key not in available:
            raise ConfigError(
                f"unknown zoo detector {name!r}; available: {', '.join(available) or 'none'}"
            )
        stem = key[len(_PREFIX) :]
        spec = json.loads((ZOO_DIR / f"{stem}.json").read_text(encoding="utf-8"))
        if spec.get("decoder") != "nanodet-gfl":
            raise ModelError(f"zoo detector {key!r} has unsupported decoder {spec.get('decoder')}")
        try:
            import onnxruntime as ort
        except ImportError as exc:
            raise SetupError(
                "zoo detectors need onnxruntime: pip install 'onnxruntime>=1.18'"
            ) from exc
        options = ort.SessionOptions()
        options.log_severity_level = 3
        session = ort.InferenceSession(
            str(ZOO_DIR / spec["onnx"]), options, providers=["CPUExecutionProvider"]
        )
        return cls(key, spec, session)

    def __repr__(self) -> str:
        return f"ZooDetector({self.name!r}, {len(self.classes)} classes)"

    def _preprocess(self, image: Image.Image) -> tuple[np.ndarray, float, float, float, float]:
        """Centred letterbox to the input size; returns the NCHW tensor and the undo terms."""
        rgb = image.convert("RGB")
        w, h = rgb.size
        ratio = min(self._in_w / w, self._in_h / h)
        new_w, new_h = max(1, round(w * ratio)), max(1, round(h * ratio))
        dx, dy = (self._in_w - new_w) // 2, (self._in_h - new_h) // 2
        canvas = Image.new("RGB", (self._in_w, self._in_h), (0, 0, 0))
        canvas.paste(rgb.resize((new_w, new_h), Image.Resampling.BILINEAR), (dx, dy))
        x = np.asarray(canvas, dtype=np.float32)
        if self._bgr:
            x = x[..., ::-1]
        x = (x - self._mean) / self._std
        tensor = np.ascontiguousarray(x.transpose(2, 0, 1)[None], dtype=np.float32)
        return tensor, dx, dy, w / new_w, h / new_h

    def _decode(self, outs: list[np.ndarray]) -> tuple[np.ndarray, np.ndarray]:
        """All (location) boxes xyxy in input pixels and their (location, class) scores."""
        n = len(self._strides)
        boxes, scores = [], []
        for stride, score, dist in zip(self._strides, outs[:n], outs[n:], strict=True):
            cols = -(-self._in_w // stride)
            cells = score.shape[1]
            ys, xs = np.divmod(np.arange(cells), cols)
            cx, cy = (xs + 0.5) * stride, (ys + 0.5) * stride
            logits = dist[0].reshape(cells, 4, len(self._bins))
            prob = np.exp(logits - logits.max(axis=-1, keepdims=True))
            prob /= prob.sum(axis=-1, keepdims=True)
            d = (prob @ self._bins) * stride  # (cells, 4): left, top, right, bottom
            boxes.append(np.stack([cx - d[:, 0], cy - d[:, 1], cx + d[:, 2], cy + d[:, 3]], 1))
            scores.append(score[0])
        return np.concatenate(boxes).astype(np.float32), np.concatenate(scores)

    def detect(
        self,
        images: list[Image.Image],
        conf: float = 0.25,
        iou: float = 0.5,
        max_det: int = 100,
    ) -> list[Detections]:
        """Per image: ``(boxes (N, 4) xyxy float32 pixels, scores (N,), labels (N,) int64)``."""
        import torch
        from torchvision.ops import batched_nms

        results: list[Detections] = []
        for image in images:
            tensor, dx, dy, sx, sy = self._preprocess(image)
            outs = self._session.run(self._outputs, {self._input_name: tensor})
            boxes, scores = self._decode(outs)
            loc, cls = np.nonzero(scores > conf)
            cand = scores[loc, cls]
            order = np.argsort(-cand, kind="stable")[:_MAX_CANDIDATES]
            loc, cls, cand = loc[order], cls[order], cand[order]
            w, h = image.size
            offset = np.array([dx, dy, dx, dy], np.float32)
            scale = np.array([sx, sy, sx, sy], np.float32)
            b = np.clip((boxes[loc] - offset) * scale, 0, np.array([w, h, w, h], np.float32))
            ok = (b[:, 2] > b[:, 0]) & (b[:, 3] > b[:, 1])  # drop boxes wholly in the padding
            b, cls, cand = b[ok].astype(np.float32), cls[ok].astype(np.int64), cand[ok]
            scores_t = torch.from_numpy(cand.astype(np.float32))
            nms = batched_nms(torch.from_numpy(b), scores_t, torch.from_numpy(cls), iou)
            keep = nms[:max_det].numpy()
            results.append(
                (b[keep].reshape(-1, 4), cand[keep].astype(np.float32), cls[keep].astype(np.int64))
            )
        return results
