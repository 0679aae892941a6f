"""imgrec: an out-of-the-box image recognition workbench.

>>> import imgrec
>>> result = imgrec.train("my_images/", model="resnet18", epochs=10, img_size=64)
>>> model = imgrec.load(result.run_dir)
>>> model.predict(["photo.jpg"], top_k=3)

Names are imported lazily, so ``import imgrec`` does not import torch.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from imgrec._lazy import lazy_exports

__version__ = "0.1.0"

__all__ = [
    "ModelCard",
    "RunConfig",
    "TrainResult",
    "TuneResult",
    "__version__",
    "check_data",
    "create_model",
    "evaluate",
    "inspect",
    "list_models",
    "load",
    "predict",
    "synth_data",
    "train",
    "tune",
]

_LAZY = {
    "train": "imgrec.api",
    "evaluate": "imgrec.api",
    "inspect": "imgrec.api",
    "predict": "imgrec.api",
    "load": "imgrec.api",
    "check_data": "imgrec.api",
    "synth_data": "imgrec.api",
    "TrainResult": "imgrec.api",
    "tune": "imgrec.api",
    "TuneResult": "imgrec.api",
    "RunConfig": "imgrec.config",
    "ModelCard": "imgrec.models.card",
    "create_model": "imgrec.models.registry",
    "list_models": "imgrec.models.registry",
}

if TYPE_CHECKING:
    from imgrec.api import (
        TrainResult,
        TuneResult,
        check_data,
        evaluate,
        inspect,
        load,
        predict,
        synth_data,
        train,
        tune,
    )
    from imgrec.config import RunConfig
    from imgrec.models.card import ModelCard
    from imgrec.models.registry import create_model, list_models


__getattr__, __dir__ = lazy_exports("imgrec", _LAZY, globals())
