"""The task seam: registry, declared metrics, task inference and mismatch errors."""

from __future__ import annotations

import json
from pathlib import Path
from typing import ClassVar

import pytest

from imgrec.errors import ConfigError
from imgrec.tasks.registry import (
    MetricSpec,
    TaskSpec,
    get_task,
    infer_task,
    list_tasks,
    register_task,
    resolve_task,
)


def _coco_folder(root: Path) -> Path:
    (root / "images").mkdir(parents=True)
    (root / "annotations.json").write_text(
        json.dumps({"images": [], "annotations": [], "categories": [{"id": 1, "name": "a"}]})
    )
    return root


def _class_folders(root: Path) -> Path:
    for name in ("cat", "dog"):
        (root / name).mkdir(parents=True)
    return root


def test_builtin_tasks_are_registered_with_their_metrics() -> None:
    assert {"classify", "detect"} <= set(list_tasks())
    assert get_task("classify").monitor == MetricSpec("val_accuracy", "max", True, "Val accuracy")
    assert get_task("detect").monitor.name == "val_map"
    assert get_task("detect").metric("val_map50").direction == "max"
    assert get_task("classify").metric("val_loss").direction == "min"


def test_unknown_task_names_the_nearest() -> None:
    with pytest.raises(ConfigError, match="Did you mean 'detect'"):
        get_task("detecton")


def test_a_metric_the_task_does_not_log_is_refused() -> None:
    with pytest.raises(ConfigError, match=r"does not log 'val_accuracy'.*val_map"):
        get_task("detect").metric("val_accuracy")


def test_duplicate_names_and_tasks_without_epoch_metrics_are_refused() -> None:
    class Again(TaskSpec):
        name: ClassVar[str] = "classify"
        metrics: ClassVar[tuple[MetricSpec, ...]] = (MetricSpec("m", "max", True, "M"),)

    with pytest.raises(ConfigError, match="already registered"):
        register_task(Again)

    class NoEpoch(TaskSpec):
        name: ClassVar[str] = "no-epoch-metrics"
        metrics: ClassVar[tuple[MetricSpec, ...]] = (MetricSpec("m", "max", False, "M"),)

    with pytest.raises(ConfigError, match="per-epoch"):
        register_task(NoEpoch)


def test_the_task_is_inferred_from_the_layout(tmp_path: Path) -> None:
    assert infer_task(_coco_folder(tmp_path / "coco")) == ("detect", "coco")
    assert infer_task(_class_folders(tmp_path / "cls")) == ("classify", "imagefolder")
    assert resolve_task(None, tmp_path / "coco") == "detect"
    assert resolve_task(None, tmp_path / "cls") == "classify"
    assert resolve_task(None, None) == "classify"
    assert resolve_task("detect", tmp_path / "coco") == "detect"


def test_a_task_that_disagrees_with_the_layout_is_a_clear_error(tmp_path: Path) -> None:
    coco = _coco_folder(tmp_path / "coco")
    with pytest.raises(
        ConfigError, match=r"coco detect dataset, but --task classify.*--task detect"
    ):
        resolve_task("classify", coco)
    with pytest.raises(ConfigError, match="unknown task"):
        resolve_task("segmnt", coco)
