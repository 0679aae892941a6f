"""imgrec.models: a registry of image classifiers with one surface, and their weights.

>>> from imgrec.models import create_model, list_models
>>> list_models("resnet*")
>>> model = create_model("resnet18", num_classes=10, img_size=64)

Names are imported lazily, so ``import imgrec.models`` does not import torch until a name that
needs it is used.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from imgrec._lazy import lazy_exports

__all__ = [
    "ImageClassifier",
    "ModelCard",
    "create_model",
    "list_models",
    "load_weights",
    "model_options",
    "register_model",
    "save_weights",
]

_LAZY = {
    "create_model": "imgrec.models.registry",
    "list_models": "imgrec.models.registry",
    "model_options": "imgrec.models.registry",
    "register_model": "imgrec.models.registry",
    "ImageClassifier": "imgrec.models.base",
    "ModelCard": "imgrec.models.card",
    "load_weights": "imgrec.models.weights",
    "save_weights": "imgrec.models.weights",
}

if TYPE_CHECKING:
    from imgrec.models.base import ImageClassifier
    from imgrec.models.card import ModelCard
    from imgrec.models.registry import create_model, list_models, model_options, register_model
    from imgrec.models.weights import load_weights, save_weights


__getattr__, __dir__ = lazy_exports("imgrec.models", _LAZY, globals())
