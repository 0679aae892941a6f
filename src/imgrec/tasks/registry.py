"""The task seam: what a task declares (metrics, formats, layout) and the registry of tasks.

The engine, store, search, server and CLI ask a task object; they never name a task. A task is
registered once under its name (``register_task``) and found by it (``get_task``); an unknown
name names the nearest registered one. Each task declares its metrics as data
(:class:`MetricSpec`): the first per-epoch metric is the default monitor and search objective.
"""

from __future__ import annotations

import difflib
import importlib
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, ClassVar, Literal

from imgrec.errors import ConfigError

__all__ = [
    "MetricSpec",
    "TaskSpec",
    "get_task",
    "infer_task",
    "list_tasks",
    "register_task",
    "resolve_task",
]


@dataclass(frozen=True)
class MetricSpec:
    """One metric a task reports.

    Attributes:
        name: Key in epoch rows and results (``"val_accuracy"``, ``"val_map"``, ``"map50"``).
        direction: ``"max"`` when larger is better, ``"min"`` otherwise.
        per_epoch: Logged every validation epoch: a candidate for monitoring, pruning, curves.
        label: Human label for tables and charts (``"Val mAP"``).
    """

    name: str
    direction: Literal["max", "min"]
    per_epoch: bool
    label: str


class TaskSpec:
    """Base of every task plug-in: subclasses set the class attributes and implement ``train``.

    Attributes:
        name: The task's name on the command line and in configs (``"classify"``).
        formats: Names of the dataset layouts the task reads.
        metrics: Declared metrics; the first per-epoch one is the default monitor/objective.
        summary_metric: Key of the final result that ranks runs (``"accuracy"``, ``"map"``).
        runner: ``"module:Class"`` of the engine's part of a run for this task (a
            :class:`imgrec.engine.task_runner.TaskRunner`); the engine imports it by name, so
            tasks sit below the engine and never import it.
        default_model: The model a run of this task gets when none is named.
        data_needs: What its datasets must hold beyond the layout, for error messages
            (``" with polygon or RLE masks in its annotations"``).
    """

    name: ClassVar[str]
    formats: ClassVar[tuple[str, ...]]
    metrics: ClassVar[tuple[MetricSpec, ...]]
    summary_metric: ClassVar[str]
    runner: ClassVar[str]
    default_model: ClassVar[str] = "simple_cnn"
    model_check: ClassVar[str] = ""  # "module:function" checking a model without building it
    data_needs: ClassVar[str] = ""

    @property
    def monitor(self) -> MetricSpec:
        """The default metric to monitor (early stopping, best weights, pruning)."""
        return next(m for m in self.metrics if m.per_epoch)

    def metric(self, name: str) -> MetricSpec:
        """The declared metric ``name``; a name the task does not log is a ConfigError."""
        for spec in self.metrics:
            if spec.name == name:
                return spec
        names = [m.name for m in self.metrics if m.per_epoch]
        raise ConfigError(
            f"task '{self.name}' does not log '{name}'; monitor one of: {', '.join(names)}."
        )

    def recognises(self, folder: Path) -> str | None:
        """The layout name when ``folder`` (an extracted dataset) is one of this task's."""
        raise NotImplementedError

    def check_model(
        self,
        name: str,
        *,
        weights: str | None,
        pretrained: bool,
        offline: bool,
        options: Mapping[str, Any],
    ) -> None:
        """Raise :class:`~imgrec.errors.ModelError` for what building model ``name`` would
        refuse, found before any data is read and without building it: an unknown name or
        option (the nearest named), ``pretrained`` where no offline weights exist, a weights
        file that cannot be opened. The base calls the task's ``model_check`` function
        (``offline`` aside: its models never download weights), or checks nothing."""
        if self.model_check:
            module, function = self.model_check.split(":")
            check = getattr(importlib.import_module(module), function)
            check(name, weights=weights, pretrained=pretrained, options=options)

    def check_listing(self, folder: Path) -> None:
        """Raise :class:`~imgrec.errors.DatasetError` when the names of the files and folders
        in ``folder`` alone show the dataset cannot be trained on (no image is opened). The
        base checks nothing; the full check comes when the data is read."""


_TASKS: dict[str, TaskSpec] = {}
_BUILTIN = {
    "classify": "imgrec.tasks.classify",
    "detect": "imgrec.tasks.detect",
    "instance": "imgrec.tasks.instance",
    "segment": "imgrec.tasks.segment",
}


def register_task(cls: type[TaskSpec]) -> type[TaskSpec]:
    """Register a task class (a decorator); a name can be registered only once."""
    if cls.name in _TASKS:
        raise ConfigError(f"task name '{cls.name}' is already registered; pick another name.")
    if not any(m.per_epoch for m in cls.metrics):
        raise ConfigError(f"task '{cls.name}' must declare at least one per-epoch metric.")
    _TASKS[cls.name] = cls()
    return cls


def _load_builtins() -> None:
    for name, module in _BUILTIN.items():
        if name not in _TASKS:
            importlib.import_module(module)  # its @register_task fills _TASKS


def list_tasks() -> list[str]:
    """Names of every registered task, built-in ones included, sorted."""
    _load_builtins()
    return sorted(_TASKS)


def get_task(name: str) -> TaskSpec:
    """The task registered as ``name``; unknown names raise a ConfigError naming the nearest."""
    _load_builtins()
    if name not in _TASKS:
        near = difflib.get_close_matches(name, list(_TASKS), n=1, cutoff=0.4)
        hint = f" Did you mean '{near[0]}'?" if near else ""
        raise ConfigError(f"unknown task '{name}'.{hint} Tasks: {', '.join(sorted(_TASKS))}.")
    return _TASKS[name]


def infer_task(folder: Path) -> tuple[str, str] | None:
    """``(task, layout)`` of the first task that recognises ``folder``; detection layouts win
    over class folders, since a COCO/YOLO/VOC tree also looks like folders of images."""
    _load_builtins()
    order = sorted(_TASKS.values(), key=lambda t: t.name == "classify")
    for task in order:
        layout = task.recognises(folder)
        if layout is not None:
            return task.name, layout
    return None


def resolve_task(requested: str | None, folder: Path | None, *, source: object = None) -> str:
    """The task to use: ``requested`` checked against the layout of ``folder``, or inferred.

    Raises:
        ConfigError: an unknown task, or a dataset whose layout belongs to another task.
    """
    if requested is not None:
        get_task(requested)
    if folder is None or not folder.is_dir():
        return requested or "classify"
    # A VOC tree can hold boxes and masks: a task that recognises the folder reads its part
    # (classify is left out: it takes any folder with sub-folders).
    if requested not in (None, "classify") and get_task(requested).recognises(folder):
        return requested
    found = infer_task(folder)
    if requested is None:
        return found[0] if found else "classify"
    if found is not None and found[0] != requested and found[0] != "classify":
        where = source if source is not None else folder
        raise ConfigError(
            f"{where} is a {found[1]} {found[0]} dataset, but --task {requested} was asked for: "
            f"pass --task {found[0]}, or give a dataset that --task {requested} reads "
            f"({', '.join(get_task(requested).formats)}{get_task(requested).data_needs})."
        )
    return requested
