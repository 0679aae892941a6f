"""Domain errors.

Every error imgrec raises on purpose derives from :class:`ImgrecError`. A message says what was
wrong, where (file, line or key) and what to do about it. Library errors (Pillow, zipfile, torch,
pydantic) are translated into these at the boundary so callers handle one family.
"""

from __future__ import annotations

__all__ = [
    "ConfigError",
    "DatasetError",
    "ImgrecError",
    "ModelError",
    "NotFoundError",
    "RunError",
    "RunStoppedError",
    "SetupError",
    "StoreError",
    "UnsafeArchiveError",
]


class ImgrecError(Exception):
    """Base class of every error imgrec raises deliberately."""


class DatasetError(ImgrecError):
    """The dataset cannot be used as given (no images, one class, unreadable CSV, ...)."""


class UnsafeArchiveError(DatasetError):
    """A zip file was refused: an entry escapes the target, or a size/count/ratio cap was hit."""


class ConfigError(ImgrecError):
    """A configuration value or key is invalid."""


class ModelError(ImgrecError):
    """A model name, option, weights file or run directory is invalid."""


class RunError(ImgrecError):
    """A training run cannot start or resume (missing checkpoint, mismatched config, ...)."""


class SetupError(ImgrecError):
    """The Python/torch/CUDA environment cannot do what was asked."""


class RunStoppedError(ImgrecError):
    """Raised from inside training to end a run on purpose (e.g. a search prunes it).

    The run is recorded with :attr:`status` (``"pruned"``, ``"cancelled"``) instead of failed.
    """

    status = "stopped"


class StoreError(ImgrecError):
    """The run database cannot be opened, migrated, read or written."""


class NotFoundError(StoreError):
    """No run or experiment with that id or name in the run database."""
