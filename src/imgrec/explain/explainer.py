"""Explaining a trained model's predictions on image files, PIL images or arrays.

>>> predictor = Predictor.from_run_dir("runs/simple_cnn-20261122-101500")
>>> [e] = explain_images(predictor, ["cat.png"], method="gradcam")
>>> e.label, e.probability, e.heatmap.shape       # ('cat', 0.93, (64, 64))

:func:`explain_images` stops at the first image it cannot read; :func:`explain_each` (what
``imgrec explain`` uses) puts an :class:`UnexplainedImage` in its place and goes on, as
``imgrec predict`` does.
"""

from __future__ import annotations

import difflib
import time
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch

from imgrec.engine.inputs import input_name
from imgrec.engine.predictor import ImageInput, Predictor
from imgrec.errors import ConfigError, DatasetError, ModelError
from imgrec.explain.heatmaps import LAYER_METHODS, check_method, compute_heatmaps, to_input
from imgrec.explain.layers import find_layer
from imgrec.explain.localisation import peak_of
from imgrec.models.base import ImageClassifier

__all__ = [
    "Explanation",
    "UnexplainedImage",
    "classifier",
    "explain_each",
    "explain_images",
    "load_pixels",
    "resolve_class",
]


@dataclass
class Explanation:
    """One heatmap for one image.

    Attributes:
        source: The file path, or ``<ndarray>`` / ``<Image>`` for in-memory images.
        method: The canonical method name (``"gradcam"``, ``"lime"``, ...).
        label: The class explained (the prediction unless a class was asked for).
        class_index: Its index in the model's classes.
        probability: The model's probability for ``label``.
        predicted: The model's top-1 class.
        predicted_probability: Its probability.
        heatmap: float32 ``(H, W)`` in [0, 1] at the model's input size.
        pixels: uint8 ``(H, W, 3)``: the image as the model saw it (resized, RGB).
        layer: The layer the method looked at (``None`` for LIME and occlusion).
        seconds: Time the heatmap took.
        png: The overlay written by :func:`imgrec.explain.overlay.save_explanation`, if any.
        npy: The raw map written beside it, if any.
    """

    source: str
    method: str
    label: str
    class_index: int
    probability: float
    predicted: str
    predicted_probability: float
    heatmap: np.ndarray
    pixels: np.ndarray
    layer: str | None
    seconds: float
    png: str | None = None
    npy: str | None = None

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready summary (without the arrays)."""
        peak_y, peak_x = peak_of(self.heatmap)
        return {
            "source": self.source,
            "method": self.method,
            "label": self.label,
            "class_index": self.class_index,
            "probability": round(self.probability, 6),
            "predicted": self.predicted,
            "predicted_probability": round(self.predicted_probability, 6),
            "layer": self.layer,
            "size": list(self.heatmap.shape),
            "peak": {"x": int(peak_x), "y": int(peak_y)},
            "seconds": round(self.seconds, 4),
            "png": self.png,
            "npy": self.npy,
        }


@dataclass(frozen=True)
class UnexplainedImage:
    """An image that could not be explained, in the place of its :class:`Explanation`.

    Attributes:
        source: The file path, or ``<ndarray>`` / ``<Image>`` for in-memory images.
        error: Why: the message of the :class:`~imgrec.errors.DatasetError`, which starts with
            the file (``"a.png: too large in pixels (...)"``).
    """

    source: str
    error: str

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready, as an error row of ``imgrec predict --json``."""
        return {"source": self.source, "error": self.error}


def classifier(predictor: Predictor) -> ImageClassifier:
    """The predictor's network with its imgrec surface (every registry model has it).

    Raises:
        ModelError: the network is not an :class:`ImageClassifier`.
    """
    model = predictor.model
    if not isinstance(model, ImageClassifier):
        raise ModelError(
            f"{type(model).__name__} is not an imgrec ImageClassifier; build it with "
            "imgrec.create_model to explain it."
        )
    return model


def resolve_class(classes: Sequence[str], label: str) -> int:
    """Index of ``label`` among the model's ``classes``.

    Raises:
        ConfigError: the model has no such class; the message lists its classes.
    """
    if label in classes:
        return list(classes).index(label)
    near = difflib.get_close_matches(label, list(classes), n=1)
    hint = f" Did you mean '{near[0]}'?" if near else ""
    shown = ", ".join(classes[:30]) + (
        f", ... ({len(classes)} in all)" if len(classes) > 30 else ""
    )
    raise ConfigError(f"the model has no class '{label}'.{hint} Its classes: {shown}.")


def load_pixels(predictor: Predictor, image: ImageInput) -> tuple[str, np.ndarray]:
    """``(source name, uint8 (H, W, 3) at the model's input size)`` for one image.

    Opened by :func:`imgrec.engine.inputs.open_input`, as every predictor opens images:
    grayscale, palette, 16-bit and transparent images become RGB, and in-memory images get the
    pixel limit of files, so a huge array fails with a clear message instead of exhausting memory.

    Raises:
        DatasetError: unreadable, not an image, or larger than the pixel limit.
    """
    return input_name(image), predictor.pixels(image)


def explain_images(
    predictor: Predictor,
    images: Sequence[ImageInput],
    *,
    method: str = "gradcam",
    target_class: str | None = None,
    layer: str | None = None,
    options: Mapping[str, Any] | None = None,
) -> list[Explanation]:
    """Explain the prediction for each image (or the class ``target_class``).

    Args:
        predictor: A loaded model (:meth:`Predictor.from_run_dir`).
        images: Paths, PIL images or uint8 arrays ``(H, W)``, ``(H, W, 3)`` or ``(H, W, 4)``.
        method: One of :data:`imgrec.explain.heatmaps.METHODS`.
        target_class: Explain this class instead of each image's predicted class.
        layer: Layer for the CAM methods (default: the model's ``default_cam_layer``).
        options: Method options (see :func:`compute_heatmaps`).

    Raises:
        ConfigError: unknown method or class, or a layer given to LIME/occlusion.
        ModelError: unknown layer, or a layer without a spatial map.
        DatasetError: an image cannot be read or is too large (:func:`explain_each` goes on).
    """
    found = _explain(predictor, images, method, target_class, layer, options, strict=True)
    return [e for e in found if isinstance(e, Explanation)]


def explain_each(
    predictor: Predictor,
    images: Sequence[ImageInput],
    *,
    method: str = "gradcam",
    target_class: str | None = None,
    layer: str | None = None,
    options: Mapping[str, Any] | None = None,
) -> list[Explanation | UnexplainedImage]:
    """As :func:`explain_images`, but an image that cannot be read (missing, not an image,
    truncated, too large in pixels) gives an :class:`UnexplainedImage` in its place and the
    others are still explained.

    Raises:
        ConfigError: unknown method or class, or a layer given to LIME/occlusion.
        ModelError: unknown layer, or a layer without a spatial map.
    """
    return list(_explain(predictor, images, method, target_class, layer, options, strict=False))


def _explain(
    predictor: Predictor,
    images: Sequence[ImageInput],
    method: str,
    target_class: str | None,
    layer: str | None,
    options: Mapping[str, Any] | None,
    *,
    strict: bool,
) -> Iterator[Explanation | UnexplainedImage]:
    method = check_method(method)
    model, card = classifier(predictor), predictor.card
    if layer is not None and method not in LAYER_METHODS:
        raise ConfigError(f"method '{method}' looks at the whole image, not a layer; drop --layer.")
    layer_name = None
    if method in LAYER_METHODS and method != "cam":
        layer_name, _ = find_layer(model, layer)  # fail on a bad name before any work
    wanted = resolve_class(card.classes, target_class) if target_class is not None else None
    for image in images:
        try:
            source, pixels = load_pixels(predictor, image)
        except DatasetError as exc:
            if strict:
                raise
            yield UnexplainedImage(source=input_name(image), error=str(exc))
            continue
        with torch.no_grad():
            logits = model(to_input(pixels[None], card.preprocessing, predictor.device))
        probs = logits.float().softmax(dim=1)[0].cpu().numpy()
        top = int(np.argmax(probs))
        index = top if wanted is None else wanted
        started = time.perf_counter()
        heatmap = compute_heatmaps(
            model,
            pixels[None],
            [index],
            preprocessing=card.preprocessing,
            method=method,
            layer=layer,
            options=options,
        )[0]
        yield Explanation(
            source=source,
            method=method,
            label=card.classes[index],
            class_index=index,
            probability=float(probs[index]),
            predicted=card.classes[top],
            predicted_probability=float(probs[top]),
            heatmap=heatmap,
            pixels=pixels,
            layer=layer_name,
            seconds=time.perf_counter() - started,
        )
