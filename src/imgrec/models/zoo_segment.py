"""Pretrained person segmenters shipped with imgrec as ONNX files, run by onnxruntime.

No training and no download: ``zoo_files/`` holds each model (``<name>.onnx``) and a sidecar
(``<name>.json`` with ``"task": "segment"``: input size, layout, channel order, mean/std, which
output channel is the person and how it is decoded, threshold, classes, source and licence),
made by ``scripts/convert_human_models.py``.

>>> from imgrec.models.zoo_segment import ZooSegmenter, list_zoo_segmenters
>>> list_zoo_segmenters()
['zoo:selfie']
>>> seg = ZooSegmenter.load("zoo:selfie")
>>> [prob] = seg.segment([pil_image])  # (H, W) float32 person probability in [0, 1]
>>> [mask] = seg.masks([pil_image])  # (H, W) bool, prob > seg.threshold

Each image is converted to RGB, stretched bilinearly to the model's input size (the aspect
ratio is not kept, as MediaPipe and vladmandic/human do), normalised as ``(pixel - mean) /
std``, and the person probability (``"decoder": "probability"``: the output as is;
``"softmax"``: a softmax over the channels) is resized bilinearly back to the image's own size.
``seg.classes`` is ``["background", "person"]``.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image

from imgrec.errors import ConfigError, ModelError, SetupError

__all__ = ["ZooSegmenter", "list_zoo_segmenters"]

ZOO_DIR = Path(__file__).with_name("zoo_files")
_PREFIX = "zoo:"
_TASK = "segment"
_DECODERS = ("probability", "softmax")
_REQUIRED = (
    "onnx", "input_name", "output_name", "input_size", "layout", "channel_order", "mean", "std",
    "decoder", "person_channel", "threshold", "classes",
)  # fmt: skip


def _read_sidecar(path: Path) -> dict[str, Any] | None:
    """The sidecar's content if it describes a segmenter, else ``None`` (e.g. a detector)."""
    try:
        spec = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise ModelError(f"zoo sidecar {path} cannot be read: {exc}") from exc
    return spec if isinstance(spec, dict) and spec.get("task") == _TASK else None


def list_zoo_segmenters(*, zoo_dir: Path | None = None) -> list[str]:
    """The names :meth:`ZooSegmenter.load` accepts, e.g. ``["zoo:selfie"]``."""
    folder = ZOO_DIR if zoo_dir is None else zoo_dir
    names = []
    for path in folder.glob("*.json"):
        try:
            spec = _read_sidecar(path)
        except ModelError:  # a broken sidecar is reported when that name is loaded
            continue
        if spec is not None and (folder / str(spec.get("onnx", ""))).is_file():
            names.append(_PREFIX + path.stem)
    return sorted(names)


class ZooSegmenter:
    """One shipped ONNX person segmenter; build it with :meth:`load`."""

    def __init__(self, name: str, spec: dict[str, Any], session: Any) -> None:
        self.name = name
        self.spec = spec
        self.classes: list[str] = list(spec["classes"])
        self.threshold = float(spec["threshold"])
        self._session = session
        self._input_name: str = spec["input_name"]
        self._output_name: str = spec["output_name"]
        self._in_h, self._in_w = (int(v) for v in spec["input_size"])
        self._mean = np.asarray(spec["mean"], dtype=np.float32)
        self._std = np.asarray(spec["std"], dtype=np.float32)
        self._bgr = spec["channel_order"].upper() == "BGR"
        self._nchw = spec["layout"].upper() == "NCHW"
        self._softmax = spec["decoder"] == "softmax"
        self._channel = int(spec["person_channel"])

    @classmethod
    def load(cls, name: str, *, zoo_dir: Path | None = None) -> ZooSegmenter:
        """Load ``zoo:<name>`` (the prefix is optional) from the shipped files.

        Raises:
            ConfigError: no segmenter of that name is shipped (the message lists those that are).
            ModelError: its sidecar is incomplete or its ONNX file is missing or unreadable.
            SetupError: onnxruntime is not installed.
        """
        folder = ZOO_DIR if zoo_dir is None else zoo_dir
        key = name if name.startswith(_PREFIX) else _PREFIX + name
        stem = key[len(_PREFIX) :]
        sidecar = folder / f"{stem}.json"
        spec = _read_sidecar(sidecar) if stem and sidecar.is_file() else None
        if spec is None:
            available = list_zoo_segmenters(zoo_dir=folder)
            raise ConfigError(
                f"unknown zoo segmenter {name!r}; available: {', '.join(available) or 'none'}"
            )
        missing = [k for k in _REQUIRED if k not in spec]
        if missing:
            raise ModelError(f"zoo sidecar {sidecar} lacks {', '.join(missing)}")
        if spec["decoder"] not in _DECODERS:
            raise ModelError(
                f"zoo segmenter {key!r} has unsupported decoder {spec['decoder']!r} "
                f"(supported: {', '.join(_DECODERS)})"
            )
        onnx_path = folder / spec["onnx"]
        if not onnx_path.is_file():
            raise ModelError(
                f"zoo segmenter {key!r}: model file {onnx_path} is missing; reinstall imgrec "
                "or regenerate it with scripts/convert_human_models.py"
            )
        try:
            import onnxruntime as ort
        except ImportError as exc:
            raise SetupError(
                "zoo segmenters need onnxruntime: pip install 'onnxruntime>=1.18'"
            ) from exc
        options = ort.SessionOptions()
        options.log_severity_level = 3
        try:
            session = ort.InferenceSession(
                str(onnx_path), options, providers=["CPUExecutionProvider"]
            )
        except Exception as exc:  # onnxruntime raises its own (Fail, InvalidProtobuf, ...)
            raise ModelError(
                f"zoo segmenter {key!r}: {onnx_path} is not a loadable ONNX model ({exc}); "
                "reinstall imgrec or regenerate it with scripts/convert_human_models.py"
            ) from exc
        return cls(key, spec, session)

    def __repr__(self) -> str:
        return f"ZooSegmenter({self.name!r}, input {self._in_h}x{self._in_w})"

    def _preprocess(self, image: Image.Image) -> np.ndarray:
        """RGB, stretched to the input size, normalised: ``(1, H, W, 3)`` or ``(1, 3, H, W)``."""
        rgb = image.convert("RGB").resize((self._in_w, self._in_h), Image.Resampling.BILINEAR)
        x = np.asarray(rgb, dtype=np.float32)
        if self._bgr:
            x = x[..., ::-1]
        x = (x - self._mean) / self._std
        if self._nchw:
            x = x.transpose(2, 0, 1)
        return np.ascontiguousarray(x[None], dtype=np.float32)

    def _person_probability(self, out: np.ndarray) -> np.ndarray:
        """``(input H, input W)`` person probability from the model's first output."""
        if out.ndim != 4 or out.shape[0] != 1:
            raise ModelError(f"zoo segmenter {self.name!r} returned shape {out.shape}, not 4-D")
        maps = out[0] if self._nchw else np.moveaxis(out[0], -1, 0)  # (C, H, W)
        if self._softmax:
            maps = np.exp(maps - maps.max(axis=0, keepdims=True))
            maps = maps / maps.sum(axis=0, keepdims=True)
        return np.asarray(maps[self._channel], dtype=np.float32)

    def segment(self, images: list[Image.Image]) -> list[np.ndarray]:
        """Per image, the person probability ``(H, W)`` float32 in [0, 1] at its own size."""
        results: list[np.ndarray] = []
        for image in images:
            (out,) = self._session.run(
                [self._output_name], {self._input_name: self._preprocess(image)}
            )
            prob = Image.fromarray(self._person_probability(np.asarray(out)))
            prob = prob.resize(image.size, Image.Resampling.BILINEAR)
            results.append(np.clip(np.asarray(prob, dtype=np.float32), 0.0, 1.0))
        return results

    def masks(self, images: list[Image.Image], threshold: float | None = None) -> list[np.ndarray]:
        """Per image, the ``(H, W)`` bool person mask: probability above ``threshold``
        (default: the sidecar's, :attr:`threshold`)."""
        cut = self.threshold if threshold is None else threshold
        return [prob > cut for prob in self.segment(images)]
