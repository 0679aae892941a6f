"""Removing a run's directory, and nothing but a run's directory (``imgrec runs delete``).

A folder counts as a run directory when imgrec's own files are in it: ``run.json`` (written as
a run starts) or ``card.json`` (written when it ends). A path recorded for a run that now holds
something else (a dataset, a home folder, a symlink to one) is refused, never deleted.
"""

from __future__ import annotations

import shutil
from pathlib import Path

from imgrec.engine.rundir import RUN_FILE
from imgrec.errors import RunError
from imgrec.models.card import CARD_FILE

__all__ = ["RUN_MARKERS", "check_run_dir", "remove_run_dir"]

RUN_MARKERS = (RUN_FILE, CARD_FILE)


def check_run_dir(run_dir: Path) -> bool:
    """True when ``run_dir`` is a run directory imgrec made, False when nothing is there.

    Raises:
        RunError: something else is at ``run_dir`` (a symlink, a file, a folder without
            ``run.json`` or ``card.json``).
    """
    path = Path(run_dir)
    if path.is_symlink():
        raise RunError(f"{path}: a symbolic link, not a run directory; imgrec removes neither.")
    if not path.exists():
        return False
    if not path.is_dir():
        raise RunError(f"{path}: a file, not a run directory; imgrec does not remove it.")
    if not any((path / marker).is_file() for marker in RUN_MARKERS):
        raise RunError(
            f"{path}: not a run directory imgrec made (no {' or '.join(RUN_MARKERS)} in it); "
            "imgrec does not remove it. Delete only the record with --keep-files, or move the "
            "folder away first."
        )
    return True


def remove_run_dir(run_dir: Path) -> bool:
    """Delete the run directory ``run_dir`` with everything in it, once :func:`check_run_dir`
    says it is one; False when it was gone already.

    Raises:
        RunError: it is not a run directory, or a file in it cannot be removed.
    """
    if not check_run_dir(run_dir):
        return False
    try:
        shutil.rmtree(run_dir)
    except OSError as exc:
        raise RunError(
            f"{run_dir}: could not remove the run directory ({exc.strerror or exc}: "
            f"{exc.filename or run_dir}); its record is kept, so the command can be repeated."
        ) from exc
    return True
