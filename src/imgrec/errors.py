"""Domain errors.

Every error imgrec raises on purpose derives from :class:`ImgrecError`. A message says what was
wrong, where (file, line or key) and what to do about it. Library errors (Pillow, zipfile, torch,
pydantic) are translated into these at the boundary so callers handle one family.
"""

from __future__ import annotations

from pathlib import Path

__all__ = [
    "ConfigError",
    "DatasetError",
    "ImgrecError",
    "ModelError",
    "NotFoundError",
    "RunError",
    "RunInterrupted",
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


class RunInterrupted(KeyboardInterrupt):
    """A training run stopped by Ctrl-C (SIGINT) or SIGTERM, after it was recorded
    ``interrupted``.

    A :class:`KeyboardInterrupt`, not an :class:`ImgrecError`: code that catches ``Exception``
    must let it through, as it lets Ctrl-C through. The message says where the run stopped and
    how to continue it; the command line prints it and exits with :attr:`exit_code`.

    Attributes:
        message: One line: where it stopped and the command that resumes it.
        run_dir: The run directory, or None when no run directory existed yet.
        signal: ``"SIGINT"`` or ``"SIGTERM"``.
        exit_code: 130 for SIGINT, 143 for SIGTERM (128 + the signal's number).
    """

    def __init__(self, message: str, *, run_dir: Path | None, signal: str) -> None:
        super().__init__(message)
        self.message = message
        self.run_dir = run_dir
        self.signal = signal
        self.exit_code = 143 if signal == "SIGTERM" else 130

    def __str__(self) -> str:
        return self.message


class StoreError(ImgrecError):
    """The run database cannot be opened, migrated, read or written."""


class NotFoundError(StoreError):
    """No run or experiment with that id or name in the run database."""
