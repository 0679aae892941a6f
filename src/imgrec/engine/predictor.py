"""Using a trained model: rebuilt from its run directory by the card alone.

>>> model = Predictor.from_run_dir("runs/simple_cnn-20261122-101500")
>>> model.predict(["cat.jpg", "dog.png"], top_k=3)
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch

from imgrec.data.images import is_image_name, resize_rgb
from imgrec.engine.devices import resolve_accelerator
from imgrec.engine.evaluate import collect_logits
from imgrec.engine.inputs import ImageInput, input_name, open_input
from imgrec.engine.run_weights import load_run_model
from imgrec.errors import DatasetError
from imgrec.models.card import ModelCard
from imgrec.models.registry import create_model

__all__ = ["ImageInput", "Prediction", "Predictor", "expand_inputs"]


@dataclass
class Prediction:
    """The model's answer for one image (``error`` set instead when the image is unusable)."""

    source: str
    label: str | None = None
    score: float | None = None
    top_k: list[tuple[str, float]] = field(default_factory=list)
    error: str | None = None

    def to_dict(self) -> dict[str, Any]:
        return {
            "source": self.source,
            "label": self.label,
            "score": self.score,
            "top_k": [{"label": name, "score": score} for name, score in self.top_k],
            "error": self.error,
        }


def expand_inputs(paths: Iterable[str | Path]) -> list[Path]:
    """Files as given; folders expanded to their image files (recursively, sorted)."""
    out: list[Path] = []
    for item in paths:
        path = Path(item)
        if path.is_dir():
            out += sorted(p for p in path.rglob("*") if p.is_file() and is_image_name(p))
        else:
            out.append(path)
    return out


class Predictor:
    """A model plus its preprocessing, ready to predict."""

    def __init__(self, model: torch.nn.Module, card: ModelCard, *, device: str = "cpu") -> None:
        self.card = card
        self.device = torch.device(device)
        self.model = model.to(self.device).eval()

    @classmethod
    def from_run_dir(cls, run_dir: str | Path, *, device: str = "auto") -> Predictor:
        """Load ``card.json`` and ``model.safetensors`` from ``run_dir``.

        Raises:
            ModelError: missing or invalid card or weights, or a detection run's card
                (:func:`~imgrec.engine.run_weights.load_run_model`).
        """
        model, card = load_run_model(run_dir, task="classify", build=create_model)
        return cls(model, card, device=resolve_accelerator(device))

    def pixels(self, image: ImageInput) -> np.ndarray:
        """``image`` (anything :func:`~imgrec.engine.inputs.open_input` takes) resized and
        cropped as the model was trained, uint8 ``(H, W, 3)``; DatasetError when unusable."""
        pre = self.card.preprocessing
        return resize_rgb(
            open_input(image), pre.size, mode=pre.resize_mode, interpolation=pre.interpolation
        )

    @torch.inference_mode()
    def logits(self, pixels: np.ndarray) -> torch.Tensor:
        """Logits ``(B, K)`` for preprocessed uint8 images ``(B, H, W, 3)``."""
        return collect_logits(
            self.model, pixels, preprocessing=self.card.preprocessing, device=self.device
        )

    def predict(
        self, images: Sequence[ImageInput], *, top_k: int = 5, batch_size: int = 64
    ) -> list[Prediction]:
        """Predict labels; unreadable inputs get a :class:`Prediction` with ``error`` set."""
        k = max(1, min(top_k, self.card.num_classes))
        results: list[Prediction] = []
        for start in range(0, len(images), batch_size):
            chunk = images[start : start + batch_size]
            pixels: list[np.ndarray] = []
            slots: list[Prediction] = []
            for item in chunk:
                prediction = Prediction(source=input_name(item))
                try:
                    pixels.append(self.pixels(item))
                    slots.append(prediction)
                except DatasetError as exc:
                    prediction.error = str(exc)
                results.append(prediction)
            if not pixels:
                continue
            probs = self.logits(np.stack(pixels)).softmax(dim=1)
            scores, indices = probs.topk(k, dim=1)
            for prediction, row_scores, row_indices in zip(slots, scores, indices, strict=True):
                ranked = [
                    (self.card.classes[int(i)], float(s))
                    for s, i in zip(row_scores, row_indices, strict=True)
                ]
                prediction.label, prediction.score = ranked[0]
                prediction.top_k = ranked
        return results
