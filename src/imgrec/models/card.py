"""ModelCard: the metadata that travels with every model (timm's ``PretrainedCfg``, grown up).

A run directory holds ``model.safetensors`` and ``card.json``; the card alone says how to rebuild
the network (architecture + options), how to preprocess an image for it (input size, resize
mode, normalisation) and what its outputs mean (class names), plus where it came from (dataset
fingerprint, library versions) and how good it is (metrics).
"""

from __future__ import annotations

import json
import platform
from datetime import UTC, datetime
from importlib import metadata
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from imgrec._files import atomic_write_text
from imgrec.errors import ModelError

__all__ = ["CARD_FILE", "WEIGHTS_FILE", "ModelCard", "Preprocessing", "library_versions"]

CARD_FILE = "card.json"
WEIGHTS_FILE = "model.safetensors"
IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)


class Preprocessing(BaseModel):
    """How an image becomes the network's input tensor.

    The image is decoded, EXIF-rotated and converted to RGB, resized to ``size`` (``(H, W)``) by
    ``resize_mode`` ("squash": stretch to size; "crop": shorter side to size then centre crop),
    scaled to [0, 1] and normalised with ``mean``/``std``.
    """

    model_config = ConfigDict(extra="forbid")

    size: tuple[int, int]
    resize_mode: Literal["squash", "crop"] = "squash"
    interpolation: Literal["bilinear", "bicubic", "nearest"] = "bilinear"
    mean: tuple[float, float, float] = IMAGENET_MEAN
    std: tuple[float, float, float] = IMAGENET_STD


class ModelCard(BaseModel):
    """Everything needed to use a trained model without the code or config that trained it."""

    model_config = ConfigDict(extra="ignore", protected_namespaces=())

    format_version: int = 1
    task: Literal["classify", "detect", "segment", "instance"] = "classify"
    architecture: str
    options: dict[str, Any] = Field(default_factory=dict)
    classes: list[str]
    preprocessing: Preprocessing
    metrics: dict[str, Any] = Field(default_factory=dict)
    dataset: dict[str, Any] = Field(default_factory=dict)
    training: dict[str, Any] = Field(default_factory=dict)
    versions: dict[str, str] = Field(default_factory=lambda: library_versions())
    created: str = Field(default_factory=lambda: datetime.now(UTC).isoformat(timespec="seconds"))
    weights_file: str = WEIGHTS_FILE

    @property
    def num_classes(self) -> int:
        return len(self.classes)

    @property
    def input_size(self) -> tuple[int, int, int]:
        """``(C, H, W)`` of the network's input."""
        return (3, *self.preprocessing.size)

    def save(self, directory: str | Path) -> Path:
        """Write ``card.json`` into ``directory`` (atomically) and return its path."""
        text = json.dumps(self.model_dump(mode="json"), indent=2) + "\n"
        return atomic_write_text(Path(directory) / CARD_FILE, text)

    @classmethod
    def load(cls, directory_or_file: str | Path) -> ModelCard:
        """Read a card from a run directory or a ``card.json`` path.

        Raises:
            ModelError: the file is missing, not JSON, or not a valid card.
        """
        path = Path(directory_or_file)
        if path.is_dir():
            path = path / CARD_FILE
        if not path.is_file():
            raise ModelError(
                f"{path}: no model card here. A run directory made by `imgrec train` holds "
                f"{CARD_FILE} and {WEIGHTS_FILE}; pass that directory."
            )
        try:
            data = json.loads(path.read_text())
        except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
            raise ModelError(f"{path}: not a readable JSON model card ({exc}).") from exc
        try:
            return cls.model_validate(data)
        except ValidationError as exc:
            first = exc.errors()[0]
            where = ".".join(str(p) for p in first["loc"]) or "(top level)"
            raise ModelError(
                f"{path}: invalid model card at key '{where}': {first['msg']}."
            ) from exc


def library_versions() -> dict[str, str]:
    """Versions of Python and of the libraries a model depends on (missing ones are skipped)."""
    versions = {"python": platform.python_version()}
    for name in ("imgrec", "torch", "torchvision", "lightning", "timm", "numpy", "pillow"):
        try:
            versions[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            continue
    return versions
