"""Heat maps for a semantic segmenter's classes: which pixels made it paint class ``k``
(pytorch-grad-cam).

>>> predictor = SegmentationPredictor.from_run_dir("runs/smallunet-20261203-120000")
>>> [e] = explain_segments(predictor, ["street.jpg"], method="gradcam")
>>> e.classes[0].name, e.classes[0].share, e.classes[0].heatmap.shape   # ('road', 0.41, (H, W))

- **Target**: pytorch-grad-cam's ``SemanticSegmentationTarget(k, mask)``, the sum of class
  ``k``'s logits over the pixels the model predicts as ``k`` (over the whole image when it
  predicts none of them, e.g. a class asked for with ``target_class``).
- **Classes**: by default the predicted classes other than the background (the class named
  ``background``, see :func:`~imgrec.evaluation.segmentation_plots.background_index`), largest
  pixel share first, at most ``top``; or the one ``target_class``.
- **Layer**: the features the class logits are computed from (:func:`default_segment_layer`):
  smallunet's last decoder block, smp's ``net.decoder`` (unet, fpn, deeplabv3plus), torchvision's
  last ReLU of the head (fcn, deeplabv3) or LR-ASPP's ``net.classifier.cbr``.
- **Methods**: gradcam, gradcam++, scorecam, eigencam, layercam. Eigen-CAM (with the sign
  correction :mod:`imgrec.explain.detections` uses) is not class-specific: all classes of an
  image share one map.

The image is prepared as :class:`~imgrec.engine.segment_predictor.SegmentationPredictor` does it
(resized to the card's square input, normalised with the segmenter's mean/std); the maps are
computed at that size and resized back, so they are float32 ``(H, W)`` at the input image's own
size, in [0, 1].
"""

from __future__ import annotations

import contextlib
import difflib
import io
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from imgrec.engine.inputs import ImageInput, input_name, open_input
from imgrec.engine.segment_eval import class_map_at_size
from imgrec.engine.segment_predictor import SegmentationPredictor
from imgrec.errors import ConfigError, ModelError
from imgrec.evaluation.segmentation_plots import background_index
from imgrec.explain.detections import _signed_eigencam
from imgrec.explain.heatmaps import CAM_METHODS, check_method
from imgrec.explain.layers import find_layer, spatial_transform
from imgrec.explain.localisation import peak_of
from imgrec.models.segmenters import normalise

__all__ = [
    "SEGMENT_METHODS",
    "ExplainedClass",
    "SegmentExplanation",
    "default_segment_layer",
    "explain_segments",
]

SEGMENT_METHODS = CAM_METHODS  # gradcam, gradcam++, scorecam, eigencam, layercam


@dataclass
class ExplainedClass:
    """One class of one image and its heat map.

    Attributes:
        share: The fraction of the image's pixels the model predicts as this class.
        target: ``"predicted pixels"`` (the class's logits summed where it is predicted) or
            ``"whole image"`` (it is predicted nowhere).
    """

    name: str
    class_index: int
    share: float
    heatmap: np.ndarray
    target: str = "predicted pixels"
    png: str | None = None
    npy: str | None = None

    def to_dict(self) -> dict[str, Any]:
        peak_y, peak_x = peak_of(self.heatmap)
        return {
            "class": self.name,
            "class_index": self.class_index,
            "share": round(self.share, 6),
            "target": self.target,
            "peak": {"x": int(peak_x), "y": int(peak_y)},
            "png": self.png,
            "npy": self.npy,
        }


@dataclass
class SegmentExplanation:
    """The explained classes of one image (``pixels``: its uint8 ``(H, W, 3)``; ``shares``: every
    predicted class's pixel share, largest first)."""

    source: str
    method: str
    layer: str
    pixels: np.ndarray
    classes: list[ExplainedClass] = field(default_factory=list)
    shares: dict[str, float] = field(default_factory=dict)
    seconds: float = 0.0

    def to_dict(self) -> dict[str, Any]:
        return {
            "source": self.source,
            "method": self.method,
            "layer": self.layer,
            "width": int(self.pixels.shape[1]),
            "height": int(self.pixels.shape[0]),
            "shares": {k: round(v, 6) for k, v in self.shares.items()},
            "classes": [c.to_dict() for c in self.classes],
            "seconds": round(self.seconds, 4),
        }


def check_segment_method(method: str) -> str:
    """The canonical name of ``method`` (case and dashes ignored) if it explains segmenters.

    Raises:
        ConfigError: any other method; the message lists the valid ones.
    """
    return check_method(
        method, SEGMENT_METHODS, cannot="a segmentation run", valid="Segmentation runs support"
    )


def default_segment_layer(model: nn.Module) -> str:
    """The dotted name of the layer whose output the class logits are computed from.

    Raises:
        ModelError: a segmenter family this does not know; name a layer with ``--layer``.
    """
    family = getattr(model, "architecture", type(model).__name__)
    net: Any = getattr(model, "net", None)
    if family == "smallunet":
        return f"net.decoder.{len(net.decoder) - 1}"
    if family in ("unet", "fpn", "deeplabv3plus"):
        return "net.decoder"
    if family == "lraspp":
        return "net.classifier.cbr"
    if family in ("fcn", "deeplabv3"):
        relus = [i for i, m in enumerate(net.classifier) if isinstance(m, nn.ReLU)]
        return f"net.classifier.{relus[-1]}"
    raise ModelError(
        f"no default layer for CAM methods on a {family} segmenter; pass one with --layer "
        "(`imgrec inspect RUN_DIR summary` lists the layer names)."
    )


def _prepare(pixels: np.ndarray, size: int, model: nn.Module, device: torch.device) -> torch.Tensor:
    """uint8 ``(H, W, 3)`` -> ``(1, 3, size, size)``, as ``segment_arrays`` feeds the model."""
    x = torch.from_numpy(np.array(pixels, copy=True)).permute(2, 0, 1)[None].float()
    x = F.interpolate(x, size=(size, size), mode="bilinear", align_corners=False, antialias=True)
    return normalise(x.div(255).to(device), model)


def _reshape(model: nn.Module, module: nn.Module, size: int) -> Callable[..., Any] | None:
    """The layer's output as ``(B, C, h, w)`` over the image only: smp networks see the input
    padded to a multiple of their stride, so the padding's cells are cropped off."""
    spatial = spatial_transform(model, module, (size, size))
    pad_to = int(getattr(model, "pad_to", 1))
    if -size % pad_to == 0:
        return spatial
    keep = size / (size + -size % pad_to)

    def crop(t: torch.Tensor) -> torch.Tensor:
        t = spatial(t) if spatial is not None else t
        rows, cols = max(1, round(t.shape[-2] * keep)), max(1, round(t.shape[-1] * keep))
        return t[..., :rows, :cols]

    return crop


def _cam(
    model: nn.Module,
    module: nn.Module,
    reshape: Callable[..., Any] | None,
    x: torch.Tensor,
    targets: Sequence[Any],
    method: str,
) -> np.ndarray:
    """float32 ``(len(targets), size, size)`` maps for one ``(1, 3, size, size)`` input."""
    import pytorch_grad_cam as pgc

    classes = {
        "gradcam": pgc.GradCAM,
        "gradcam++": pgc.GradCAMPlusPlus,
        "scorecam": pgc.ScoreCAM,
        "layercam": pgc.LayerCAM,
    }
    if method == "eigencam":  # signed as for detectors: plain Eigen-CAM lit the background
        cam: Any = _signed_eigencam(model, [module], reshape)
    else:
        cam = classes[method](model=model, target_layers=[module], reshape_transform=reshape)
    cam.batch_size = 32  # Score-CAM: masked copies of the image per forward pass
    shared = method == "eigencam"  # one class-agnostic map for every class
    batch = x if shared else x.repeat(len(targets), 1, 1, 1)
    try:
        # Score-CAM draws a tqdm bar on stderr for every image; explanations stay quiet.
        with contextlib.redirect_stderr(io.StringIO()), torch.enable_grad():
            maps = cam(input_tensor=batch, targets=list(targets[:1] if shared else targets))
    finally:
        cam.activations_and_grads.release()
    maps = np.nan_to_num(np.asarray(maps, dtype=np.float32))
    return np.repeat(maps, len(targets), axis=0) if shared else maps


def _resolve(name: str, classes: Sequence[str]) -> int:
    if name in classes:
        return list(classes).index(name)
    folded = [c.lower() for c in classes]
    if name.lower() in folded:
        return folded.index(name.lower())
    near = difflib.get_close_matches(name, classes, n=1)
    hint = f" Did you mean '{near[0]}'?" if near else ""
    raise ConfigError(
        f"unknown class '{name}' for --class.{hint} This run's classes: {', '.join(classes)}."
    )


def explain_segments(
    predictor: SegmentationPredictor,
    images: Sequence[ImageInput],
    *,
    method: str = "gradcam",
    target_class: str | None = None,
    layer: str | None = None,
    top: int = 3,
) -> list[SegmentExplanation]:
    """Explain the classes each image is segmented into (see the module docstring).

    Args:
        predictor: A loaded segmenter (:meth:`SegmentationPredictor.from_run_dir`).
        images: Paths, PIL images or uint8 arrays.
        method: One of :data:`SEGMENT_METHODS`.
        target_class: Explain only this class (whether predicted or not).
        layer: Dotted module name; ``None``: :func:`default_segment_layer`.
        top: At most this many predicted classes per image (without ``target_class``).

    Raises:
        ConfigError: unknown method or class, or ``top`` below 1.
        ModelError: unknown layer (the message lists the closest names), or one without a map.
        DatasetError: an image cannot be read.
    """
    from pytorch_grad_cam.utils.model_targets import SemanticSegmentationTarget

    method = check_segment_method(method)
    if top < 1:
        raise ConfigError(f"--top must be at least 1 (classes per image); got {top}.")
    classes = list(predictor.classes)
    asked = None if target_class is None else _resolve(target_class, classes)
    model = predictor.model
    name, module = find_layer(model, layer or default_segment_layer(model))
    size = predictor.card.preprocessing.size[0]
    model.eval()
    reshape = _reshape(model, module, size)
    background = background_index(classes)
    out: list[SegmentExplanation] = []
    for image in images:
        pixels = np.asarray(open_input(image))
        height, width = pixels.shape[:2]
        result = SegmentExplanation(
            source=input_name(image), method=method, layer=name, pixels=pixels
        )
        started = time.perf_counter()
        x = _prepare(pixels, size, model, predictor.device)
        with torch.no_grad():
            logits = model(x)[0]  # (K, size, size)
        grid = logits.argmax(0).cpu().numpy()  # what the target sums over
        at_size = class_map_at_size(logits, height, width)
        counts = np.bincount(at_size.ravel(), minlength=len(classes))
        shares = counts / max(int(counts.sum()), 1)
        ranked = [int(i) for i in np.argsort(-counts, kind="stable") if counts[i] > 0]
        result.shares = {classes[i]: float(shares[i]) for i in ranked}
        chosen = [asked] if asked is not None else [i for i in ranked if i != background][:top]
        if chosen:
            masks = [(grid == k).astype(np.float32) for k in chosen]
            whole = [not m.any() for m in masks]
            targets = [
                SemanticSegmentationTarget(k, np.ones_like(m) if w else m)
                for k, m, w in zip(chosen, masks, whole, strict=True)
            ]
            maps = _cam(model, module, reshape, x, targets, method)
            full = F.interpolate(
                torch.from_numpy(maps)[:, None],
                size=(height, width),
                mode="bilinear",
                align_corners=False,
            )[:, 0].clamp(0.0, 1.0)
            result.classes = [
                ExplainedClass(
                    name=classes[k],
                    class_index=k,
                    share=float(shares[k]),
                    heatmap=m.numpy().astype(np.float32),
                    target="whole image" if w else "predicted pixels",
                )
                for k, m, w in zip(chosen, full, whole, strict=True)
            ]
        result.seconds = time.perf_counter() - started
        out.append(result)
    return out
