"""The contract every task plug-in meets (a later task adds its dataset maker to MAKERS).

Each registered task must: declare a per-epoch monitor metric with a direction; name a runner the
engine can import; recognise the dataset its own generator writes; and not claim another task's
dataset (except ``classify``, the fallback for any folder of folders, and the readings a task
declares in SHARED: a COCO set with masks is also a detection set, and a semantic one).
"""

from __future__ import annotations

import importlib
from collections.abc import Callable
from pathlib import Path

import pytest

from imgrec.tasks.registry import get_task, infer_task, list_tasks, resolve_task


def _classify(out: Path) -> Path:
    from imgrec.data.synth import write_shapes_dataset

    return write_shapes_dataset(out, task="classify", per_class=2, img_size=16)


def _detect(out: Path) -> Path:
    from imgrec.data.detection import write_shapes_detection

    return write_shapes_detection(out, n=6, img_size=32)


def _segment(out: Path) -> Path:
    from imgrec.data.segmentation import write_shapes_segmentation

    return write_shapes_segmentation(out, n=6, img_size=32)


def _instance(out: Path) -> Path:
    from imgrec.data.detection import write_shapes_instances

    return write_shapes_instances(out, n=6, img_size=32)


MAKERS: dict[str, Callable[[Path], Path]] = {
    "classify": _classify,
    "detect": _detect,
    "segment": _segment,
    "instance": _instance,
}
# task -> (the task inferred for its dataset, the other tasks that can read it when asked)
SHARED: dict[str, tuple[str, set[str]]] = {"instance": ("detect", {"detect", "segment"})}


def test_every_registered_task_has_a_dataset_maker_here() -> None:
    assert set(list_tasks()) == set(MAKERS)


@pytest.mark.parametrize("name", sorted(MAKERS))
def test_task_declares_its_metrics_and_runner(name: str) -> None:
    task = get_task(name)
    assert task.name == name and task.formats
    assert task.monitor.per_epoch and task.monitor.direction in ("max", "min")
    assert len({m.name for m in task.metrics}) == len(task.metrics)
    assert any(m.name == task.summary_metric for m in task.metrics)
    module, _, function = task.runner.partition(":")
    assert callable(getattr(importlib.import_module(module), function))


@pytest.mark.parametrize("name", sorted(MAKERS))
def test_task_recognises_its_own_dataset_and_only_it(name: str, tmp_path: Path) -> None:
    folder = MAKERS[name](tmp_path / name)
    inferred, readers = SHARED.get(name, (name, set()))
    found = infer_task(folder)
    assert found is not None and found[0] == inferred
    assert get_task(name).recognises(folder) in get_task(name).formats
    assert resolve_task(name, folder) == name
    for other in sorted(set(MAKERS) - {name, "classify"} - readers):
        assert get_task(other).recognises(folder) is None
    for other in sorted(readers):
        assert resolve_task(other, folder) == other
