"""Using a trained segmenter: rebuilt from its run directory by the card alone.

>>> model = SegmentationPredictor.from_run_dir("runs/smallunet-20261203-120000")
>>> [p] = model.predict(["street.jpg"])
>>> p.mask.shape, p.shares            # (H, W) class indices at the photo's size; class shares
>>> p.save("masks/")                  # street.png (index), street-colour.png, street-overlay.png

Any size or mode of image works: it is opened like every input (EXIF orientation, RGB), run at
the model's square input size, and its class map is brought back to the image's own size with
bounded memory (:func:`imgrec.engine.segment_eval.segment_arrays`).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch
from PIL import Image

from imgrec.engine.devices import resolve_accelerator
from imgrec.engine.inputs import ImageInput, input_name, open_input
from imgrec.engine.run_weights import load_run_model
from imgrec.engine.segment_eval import segment_arrays
from imgrec.errors import DatasetError
from imgrec.evaluation.segmentation_plots import (
    background_index,
    colourise,
    default_palette,
    overlay_mask,
)
from imgrec.models.card import ModelCard
from imgrec.models.segmenters import create_segmenter

__all__ = ["SegmentationPrediction", "SegmentationPredictor"]


@dataclass
class SegmentationPrediction:
    """The segmenter's answer for one image (``error`` set instead when it is unusable).

    Attributes:
        mask: ``(height, width)`` class indices (``uint8`` up to 256 classes).
        shares: Each predicted class's fraction of the image's pixels, largest first.
    """

    source: str
    classes: list[str]
    width: int = 0
    height: int = 0
    mask: np.ndarray | None = None
    shares: dict[str, float] = field(default_factory=dict)
    error: str | None = None
    palette: np.ndarray | None = None

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready: the class shares (the mask itself goes to PNG files, see :meth:`save`)."""
        return {
            "source": self.source,
            "width": self.width,
            "height": self.height,
            "shares": {k: round(v, 6) for k, v in self.shares.items()},
            "error": self.error,
        }

    def colour(self) -> Image.Image:
        """The mask in the class colours."""
        assert self.mask is not None, self.error
        return Image.fromarray(colourise(self.mask, self.palette))

    def overlay(self, image: ImageInput | None = None, *, alpha: float = 0.5) -> Image.Image:
        """``image`` (default: the file predicted, read again; pass it for in-memory inputs)
        with the mask's colours blended over it (a class named background left untinted)."""
        assert self.mask is not None, self.error
        pixels = np.asarray(open_input(self.source if image is None else image))
        kept = background_index(self.classes)
        blended = overlay_mask(pixels, self.mask, self.palette, alpha=alpha, untinted=kept)
        return Image.fromarray(blended)

    def save(
        self, folder: str | Path, stem: str | None = None, *, image: ImageInput | None = None
    ) -> dict[str, Path]:
        """``STEM.png`` (palette PNG whose values are class indices), ``STEM-colour.png`` and
        ``STEM-overlay.png`` (over ``image``, default the file predicted) in ``folder``; the
        input is never touched."""
        assert self.mask is not None, self.error
        out = Path(folder)
        out.mkdir(parents=True, exist_ok=True)
        stem = stem or (Path(self.source).stem if not self.source.startswith("<") else "image")
        index = Image.fromarray(self.mask.astype(np.uint8), mode="L").convert("P")
        palette = self.palette if self.palette is not None else default_palette(256)
        index.putpalette(np.resize(palette.astype(np.uint8), (256, 3)).flatten().tolist())
        paths = {
            "mask": out / f"{stem}.png",
            "colour": out / f"{stem}-colour.png",
            "overlay": out / f"{stem}-overlay.png",
        }
        index.save(paths["mask"])
        self.colour().save(paths["colour"])
        self.overlay(image).save(paths["overlay"])
        return paths


class SegmentationPredictor:
    """A segmenter with its card, ready to predict class masks."""

    task = "segment"

    def __init__(self, model: torch.nn.Module, card: ModelCard, *, device: str = "cpu") -> None:
        self.card = card
        self.classes = card.classes
        self.device = torch.device(device)
        self.model = model.to(self.device).eval()
        self.palette = default_palette(max(card.num_classes, 1))
        for index, colour in (card.dataset.get("palette") or {}).items():
            if int(index) < card.num_classes:
                self.palette[int(index)] = colour

    @classmethod
    def from_run_dir(cls, run_dir: str | Path, *, device: str = "auto") -> SegmentationPredictor:
        """Load ``card.json`` and ``model.safetensors`` of a segmentation run.

        Raises:
            ModelError: missing or invalid card or weights, or another task's card.
        """
        model, card = load_run_model(run_dir, task="segment", build=create_segmenter)
        return cls(model, card, device=resolve_accelerator(device))

    def predict(
        self, images: Sequence[ImageInput], *, batch_size: int = 8
    ) -> list[SegmentationPrediction]:
        """A class mask per image at its own size; unreadable inputs get ``error`` set."""
        results: list[SegmentationPrediction] = []
        size = self.card.preprocessing.size[0]
        for start in range(0, len(images), batch_size):
            pixels, slots = [], []
            for item in images[start : start + batch_size]:
                out = SegmentationPrediction(
                    source=input_name(item), classes=self.classes, palette=self.palette
                )
                results.append(out)
                try:
                    pil = open_input(item)
                except DatasetError as exc:
                    out.error = str(exc)
                    continue
                out.width, out.height = pil.width, pil.height
                pixels.append(np.asarray(pil))
                slots.append(out)
            if not pixels:
                continue
            masks = segment_arrays(self.model, pixels, img_size=size, device=str(self.device))
            for out, mask in zip(slots, masks, strict=True):
                out.mask = mask
                counts = np.bincount(mask.ravel(), minlength=len(self.classes))
                total = max(int(counts.sum()), 1)
                out.shares = {
                    self.classes[i]: float(counts[i]) / total
                    for i in np.argsort(-counts)
                    if counts[i] > 0
                }
        return results
