"""Heat maps for a detector's boxes: which pixels made it find detection ``k`` (pytorch-grad-cam).

>>> predictor = DetectionPredictor.from_run_dir("runs/tinydet-20261202-101500")
>>> [e] = explain_detections(predictor, ["street.jpg"], method="eigencam")
>>> e.detections[0].detection.label, e.detections[0].heatmap.shape   # ('car', (H, W))

The target layer is the detector's **FPN output** (for SSDlite, the feature maps its heads read):
the tensors ``net.backbone`` returns, one per pyramid level. Each level is first cropped to the
image (torchvision pads the resized batch to a multiple of 32), so maps line up with the picture.

- ``eigencam`` (every family, the default): pytorch-grad-cam's detector recipe, Eigen-CAM on
  ``net.backbone`` with the levels' ``abs`` resized to one grid and stacked (its
  ``fasterrcnn_reshape_transform``), but on the finest level of at most 64 x 64 cells rather
  than the coarsest (a 64 px input would give 1 x 1), and with the library's sign correction.
  Gradient-free and not class-specific: all boxes of an image share one map.
- ``gradcam`` (every family): Grad-CAM of a box-score target (IoU with the box + score of the
  best same-class output box, the library's ``FasterRCNNBoxScoreTarget`` matched within the
  class). It reads only the ``boxes``/``labels``/``scores`` every torchvision detector returns.
  One pass per level (pytorch-grad-cam pairs several layers' gradients by backward order, so
  one layer per pass), merged as the library merges layers. On an FPN only the level that
  produced the box gets a gradient; a map of zeros means Grad-CAM found no positive evidence.

Maps are float32 ``(H, W)`` at the input image's own size, in [0, 1].

Instance segmenters (``tinymask``, ``maskrcnn``: an
:class:`~imgrec.engine.instance_predictor.InstancePredictor`) are explained the same way, per
box: a Mask R-CNN is a Faster R-CNN with a mask head, and both targets read only its boxes.
"""

from __future__ import annotations

import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from imgrec.engine.detect_predictor import Detection, DetectionPredictor, read_input
from imgrec.errors import ConfigError, ModelError
from imgrec.explain.heatmaps import check_method
from imgrec.explain.localisation import peak_of

__all__ = ["DETECTION_METHODS", "DetectionExplanation", "ExplainedBox", "explain_detections"]

_FAMILIES = ("tinydet", "fcos", "retinanet", "fasterrcnn", "ssdlite")
_INSTANCE_FAMILIES = ("tinymask", "maskrcnn")  # Mask R-CNN: a Faster R-CNN with a mask head
DETECTION_METHODS: Mapping[str, tuple[str, ...]] = dict.fromkeys(
    (*_FAMILIES, *_INSTANCE_FAMILIES), ("eigencam", "gradcam")
)
_MAX_CELLS = 64 * 64  # Eigen-CAM's grid: its SVD holds a (cells x cells) matrix


@dataclass
class ExplainedBox:
    """One detection and its heat map; ``rank`` 1 is the image's highest-scoring box."""

    rank: int
    detection: Detection
    heatmap: np.ndarray
    png: str | None = None
    npy: str | None = None

    def to_dict(self) -> dict[str, Any]:
        peak_y, peak_x = peak_of(self.heatmap)
        return {
            "rank": self.rank,
            **self.detection.to_dict(),
            "peak": {"x": int(peak_x), "y": int(peak_y)},
            "png": self.png,
            "npy": self.npy,
        }


@dataclass
class DetectionExplanation:
    """The explained detections of one image (``pixels``: its uint8 ``(H, W, 3)``)."""

    source: str
    method: str
    layer: str
    pixels: np.ndarray
    detections: list[ExplainedBox] = field(default_factory=list)
    seconds: float = 0.0

    def to_dict(self) -> dict[str, Any]:
        return {
            "source": self.source,
            "method": self.method,
            "layer": self.layer,
            "width": int(self.pixels.shape[1]),
            "height": int(self.pixels.shape[0]),
            "detections": [d.to_dict() for d in self.detections],
            "seconds": round(self.seconds, 4),
        }


_QUERY_DETECTORS = ("detr", "conditional_detr")


def check_detection_method(method: str, family: str) -> str:
    """The canonical name of ``method`` if ``family`` supports it.

    Raises:
        ConfigError: a method this family cannot explain with; the message lists those it can.
    """
    if family in _QUERY_DETECTORS:
        raise ConfigError(
            f"a {family} detector cannot be explained with a CAM: its boxes come from transformer "
            "decoder queries, not from feature-map cells a CAM could weigh. See its boxes with "
            "`imgrec predict RUN IMAGE --save-images DIR`, or explain a CNN detector run (tinydet, "
            "fcos, retinanet, fasterrcnn, ssdlite)."
        )
    supported = DETECTION_METHODS.get(family, ("eigencam",))
    return check_method(
        method,
        supported,
        cannot=f"a {family} detector",
        valid=f"Detection runs of {family} support",
    )


class _Levels:
    """The backbone's pyramid levels as target layers, cropped to the image's part of the batch."""

    def __init__(self, model: nn.Module, device: torch.device) -> None:
        net: Any = model.net  # a Detector: a torchvision detector inside
        self.backbone: nn.Module = net.backbone
        self.valid = (1.0, 1.0)
        self._hook = net.transform.register_forward_hook(self._record)
        produced: list[tuple[str, nn.Module, torch.Tensor]] = []
        hooks = [
            m.register_forward_hook(lambda m, i, o, n=n: produced.append((n, m, o)))
            for n, m in self.backbone.named_modules()
            if n
        ]
        try:
            with torch.no_grad():
                levels = self.backbone(torch.zeros(1, 3, 128, 128, device=device))
        finally:
            for hook in hooks:
                hook.remove()
        # The outermost module whose output *is* a returned level (max-pooled levels have none).
        self.modules: list[tuple[str, nn.Module]] = []
        for level in levels.values():
            match = [(n, m) for n, m, o in produced if o is level]
            if match:
                self.modules.append(min(match, key=lambda nm: nm[0].count(".")))

    def _record(self, module: nn.Module, inputs: Any, output: Any) -> None:
        batch = output[0]  # (ImageList, targets)
        (h, w), (ph, pw) = batch.image_sizes[0], batch.tensors.shape[-2:]
        self.valid = (h / ph, w / pw)

    def crop(self, x: torch.Tensor) -> torch.Tensor:
        """``(B, C, h, w)`` -> the cells that cover the image, not the batch padding."""
        rows = max(1, round(x.shape[-2] * self.valid[0]))
        cols = max(1, round(x.shape[-1] * self.valid[1]))
        return x[..., :rows, :cols]

    def stack(self, levels: Mapping[str, torch.Tensor]) -> torch.Tensor:
        """All levels' ``abs`` on one grid, stacked: ``(B, sum C, h, w)``."""
        maps = [self.crop(v) for v in levels.values()]
        small = [m for m in maps if m.shape[-2] * m.shape[-1] <= _MAX_CELLS]
        grid = max(small, key=lambda m: m.shape[-1] * m.shape[-2]) if small else maps[-1]
        return torch.cat(
            [
                F.interpolate(m.abs(), size=grid.shape[-2:], mode="bilinear", align_corners=False)
                for m in maps
            ],
            dim=1,
        )

    def close(self) -> None:
        self._hook.remove()


class _BoxScore:
    """pytorch-grad-cam's ``FasterRCNNBoxScoreTarget`` for one box, matched within its class.

    The library's target takes the output box of highest IoU and scores 0 when that box has
    another label; FCOS, RetinaNet and Faster R-CNN often return one box per class at the same
    place, so it would miss. Here the best-overlapping box *of the same class* scores IoU + its
    score (0 below ``iou``), which is the library's score whenever the library finds the box.
    """

    def __init__(self, det: Detection, *, iou: float = 0.5) -> None:
        self.label, self.box, self.iou = det.class_index, torch.tensor([det.box]), iou
        self.matched = False

    def __call__(self, output: Mapping[str, torch.Tensor]) -> torch.Tensor:
        from torchvision.ops import box_iou

        same = output["labels"] == self.label
        boxes, scores = output["boxes"][same], output["scores"][same]
        if len(boxes):
            ious = box_iou(self.box.to(boxes), boxes)[0]
            best = int(ious.argmax())
            if float(ious[best].detach()) > self.iou:
                self.matched = True
                return ious[best] + scores[best]
        return output["scores"].sum() * 0.0


def _signed_eigencam(model: nn.Module, layers: list[nn.Module], reshape: Any) -> Any:
    """Eigen-CAM with pytorch-grad-cam's sign correction: the first component is turned so its
    larger extreme is positive (plain Eigen-CAM's SVD sign lit the background, not the shapes)."""
    from pytorch_grad_cam import EigenCAM
    from pytorch_grad_cam.utils.svd_on_activations import get_2d_projection_with_sign_correction

    class Signed(EigenCAM):
        def get_cam_image(self, *args: Any, **kwargs: Any) -> np.ndarray:
            activations = args[3] if len(args) > 3 else kwargs["activations"]
            return np.asarray(get_2d_projection_with_sign_correction(activations))

    return Signed(model, layers, reshape_transform=reshape)


def _cam_maps(
    model: nn.Module, levels: _Levels, image: torch.Tensor, boxes: Sequence[Detection], method: str
) -> np.ndarray:
    """float32 ``(len(boxes), H, W)`` maps for ``boxes`` of one ``(3, H, W)`` image."""
    from pytorch_grad_cam import GradCAM

    targets = [_BoxScore(d) for d in boxes]
    if method == "eigencam":
        cam: Any = _signed_eigencam(model, [levels.backbone], levels.stack)
        try:
            with torch.no_grad():
                one = cam(image[None], targets=targets[:1])
        finally:
            cam.activations_and_grads.release()
        return _unit(np.repeat(one, len(boxes), axis=0))
    batch = image[None].repeat(len(boxes), 1, 1, 1)  # one copy per box: one pass per level
    per_level = []
    for name, module in levels.modules:
        cam = GradCAM(model, [module], reshape_transform=levels.crop)
        try:
            with torch.enable_grad():
                per_level.append(np.nan_to_num(cam(batch, targets=targets)))
        except (RuntimeError, TypeError) as exc:  # no gradient reached this level at all
            raise ModelError(f"Grad-CAM found no gradient at {name} ({exc}).") from exc
        finally:
            cam.activations_and_grads.release()
    missed = [d for d, t in zip(boxes, targets, strict=True) if not t.matched]
    if missed:
        raise ModelError(
            f"Grad-CAM: the detector did not find {missed[0].label} at {missed[0].box} again "
            "when explaining it; try --method eigencam."
        )
    return _unit(np.mean([np.maximum(m, 0) for m in per_level], axis=0))


def _unit(maps: np.ndarray) -> np.ndarray:
    """Each ``(H, W)`` of ``(B, H, W)`` min-max scaled to [0, 1]; a flat map becomes 0."""
    maps = np.nan_to_num(np.asarray(maps, dtype=np.float32))
    low = maps.min(axis=(1, 2), keepdims=True)
    span = maps.max(axis=(1, 2), keepdims=True) - low
    return np.where(span > 0, (maps - low) / np.where(span > 0, span, 1.0), 0.0).astype(np.float32)


def explain_detections(
    predictor: DetectionPredictor,
    images: Sequence[Any],
    *,
    method: str = "eigencam",
    detection: int | None = None,
    conf: float = 0.25,
    top: int = 5,
) -> list[DetectionExplanation]:
    """Explain the detections of each image: its ``top`` best boxes above ``conf``, or only the
    ``detection``-th (1-based, by score).

    Args:
        predictor: A loaded detector (:meth:`DetectionPredictor.from_run_dir`) or instance
            segmenter (an ``InstancePredictor``).
        images: Paths, PIL images or uint8 arrays.
        method: ``eigencam`` or ``gradcam`` (see :data:`DETECTION_METHODS`).

    Raises:
        ConfigError: a method the family does not support, or ``detection`` out of range.
        DatasetError: an image cannot be read.
    """
    family = predictor.card.architecture
    method = check_detection_method(method, family)
    if detection is not None and detection < 1:
        raise ConfigError(f"--detection counts from 1 (the best box); got {detection}.")
    if top < 1:
        raise ConfigError(f"--top must be at least 1 (boxes per image); got {top}.")
    model = predictor.model
    levels = _Levels(model, predictor.device)
    layer = "net.backbone" if method == "eigencam" else ", ".join(n for n, _ in levels.modules)
    out: list[DetectionExplanation] = []
    try:
        for image in images:
            source = str(image) if isinstance(image, str | Path) else f"<{type(image).__name__}>"
            pil = read_input(image)
            [found] = predictor.predict([pil], conf=conf, max_detections=max(top, detection or 0))
            ranked = list(enumerate(found.detections, start=1))
            if detection is not None:
                if detection > len(ranked):
                    raise ConfigError(_out_of_range(source, detection, len(ranked), conf))
                ranked = [ranked[detection - 1]]
            else:
                ranked = ranked[:top]
            pixels = np.asarray(pil)
            result = DetectionExplanation(source=source, method=method, layer=layer, pixels=pixels)
            started = time.perf_counter()
            if ranked:
                image_t = torch.from_numpy(pixels.copy()).permute(2, 0, 1).float() / 255
                maps = _cam_maps(
                    model, levels, image_t.to(predictor.device), [d for _, d in ranked], method
                )
                result.detections = [
                    ExplainedBox(rank=r, detection=d, heatmap=m)
                    for (r, d), m in zip(ranked, maps, strict=True)
                ]
            result.seconds = time.perf_counter() - started
            out.append(result)
    finally:
        levels.close()
        model.eval()
    return out


def _out_of_range(source: str, asked: int, found: int, conf: float) -> str:
    pick = f"pick 1-{found} or lower --conf" if found else "lower --conf"
    return (
        f"{source}: --detection {asked} is out of range: the detector finds {found} box(es) "
        f"above --conf {conf}; {pick}."
    )
