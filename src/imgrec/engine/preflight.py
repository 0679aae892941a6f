"""What a training run checks before it reads its data or leaves a trace.

A wrong path, a misspelt model name, a missing weights file or a folder with one class should
cost a second, not the half minute of reading every image first, and leave no run directory and
no database row to clean up. :func:`check_before_training` checks what can be told cheaply:

1. ``data.path`` exists and is a folder, a zip (looked into through the same cached extraction
   the read uses) or a file a reader of the task takes (a CSV);
2. the task's look at the folder's listing (an image folder with fewer than two class folders;
   no image is opened);
3. ``train.monitor`` is a metric the task logs;
4. the model: its name for the task (the nearest one named), its options, ``--weights FILE``
   (it exists and can be opened; it is not loaded), ``--pretrained`` where no offline weights
   exist; nothing is built or downloaded;
5. an explicitly requested device (``cuda``, ``mps``) is there.

Everything else (each image, the splits, shapes of the weights' tensors) is checked when the
data is read and the model built, as before.
"""

from __future__ import annotations

import zipfile
from pathlib import Path

from imgrec.config import RunConfig, Settings
from imgrec.errors import DatasetError
from imgrec.tasks.registry import get_task

__all__ = ["check_before_training"]


def check_before_training(cfg: RunConfig, *, settings: Settings) -> None:
    """Raise the error the run would end with, for every mistake found without reading data.

    Raises:
        DatasetError: ``data.path`` is missing or not a dataset; its listing shows it cannot
            be trained on.
        ConfigError: ``train.monitor`` names a metric the task does not log.
        ModelError: the model's name, options, weights file or pretrained weights.
        SetupError: the requested device is not available.
    """
    task = get_task(cfg.task)
    if cfg.data.path is not None:
        folder = _dataset_folder(Path(cfg.data.path), task=cfg.task, settings=settings)
        if folder is not None:
            try:
                task.check_listing(folder)
            except OSError as exc:  # a folder that cannot be listed: permissions, I/O
                raise DatasetError(f"{folder}: cannot be read ({exc.strerror or exc}).") from exc
    if cfg.train.monitor:
        task.metric(cfg.train.monitor)
    task.check_model(
        cfg.model.name,
        weights=cfg.model.weights,
        pretrained=cfg.model.pretrained,
        offline=settings.offline,
        options=cfg.model.options,
    )
    if cfg.train.device not in ("auto", "cpu"):
        from imgrec.engine.devices import resolve_accelerator

        resolve_accelerator(cfg.train.device)


def _dataset_folder(source: Path, *, task: str, settings: Settings) -> Path | None:
    """The folder to look into for ``source``: itself, its zip's (cached) extraction, or None
    for a file a reader takes as it is (a CSV)."""
    from imgrec.data.formats import describe_formats, find_format

    path = source.expanduser()
    if not path.exists():
        raise DatasetError(
            f"{path}: no such file or folder; give a folder of images, a .zip or a CSV file "
            "(data.path)."
        )
    if path.is_dir():
        return path
    if path.suffix.lower() == ".zip" or zipfile.is_zipfile(path):
        from imgrec.data.zipcache import extract_cached

        return extract_cached(path.absolute(), settings.datasets_dir, peek=True)[0]
    if find_format(path, task=task) is not None:
        return None
    known = describe_formats(task)
    raise DatasetError(
        f"{path}: not a folder, a .zip or a file a {task} dataset reader takes; imgrec cannot "
        f"read it as a dataset. Give the dataset's folder or zip"
        + (f" (known formats: {known})." if known else ".")
    )
