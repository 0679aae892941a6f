"""The hooks a training run reports through (the run database and search pruning plug in here).

The runner calls them on rank 0 only. An observer may end a run on purpose by raising
:class:`~imgrec.errors.RunStoppedError` from :meth:`RunObserver.epoch` (a search prunes a trial that
way); the run is then recorded with that error's ``status`` instead of ``failed``.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

__all__ = ["RunObserver"]


class RunObserver:
    """Does nothing; subclasses override what they need."""

    def started(
        self, *, run_dir: Path, config: Mapping[str, Any], dataset: Mapping[str, Any]
    ) -> None:
        """The run directory exists, the data is ready, training starts.

        ``dataset`` has ``fingerprint, source, layout, num_classes, num_images, counts, report``.
        """

    def epoch(self, row: Mapping[str, float]) -> None:
        """One epoch finished: ``epoch, train_loss, val_loss, val_accuracy, lr, epoch_time_s``."""

    def finished(
        self,
        *,
        status: str,
        metrics: Mapping[str, Any] | None,
        error: str | None,
        run_dir: Path | None,
    ) -> None:
        """The run ended: ``completed`` (with metrics), ``failed``, ``interrupted``, ``pruned``."""
