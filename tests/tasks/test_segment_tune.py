"""``imgrec tune`` on segmentation and instance sets: trials optimise the task's own metric
(val mIoU, val mask mAP), and each trial is a recorded run whose epochs carry it."""

from __future__ import annotations

from pathlib import Path

import pytest

from imgrec import api
from imgrec.store import Store


def _semantic(out: Path) -> Path:
    from imgrec.data.segmentation import write_shapes_segmentation

    return write_shapes_segmentation(out, n=12, img_size=32, seed=5)


def _instances(out: Path) -> Path:
    from imgrec.data.detection import write_shapes_instances

    return write_shapes_instances(out, n=12, img_size=32, seed=5)


@pytest.mark.parametrize(
    ("task", "make", "objective", "primary", "options"),
    [
        ("segment", _semantic, "val_miou", "miou", {"width": 8, "depth": 2}),
        ("instance", _instances, "val_mask_map", "mask_map", {"width": 8}),
    ],
)
def test_a_search_optimises_the_tasks_metric(
    tmp_path: Path, task: str, make, objective: str, primary: str, options: dict
) -> None:
    data = make(tmp_path / "data")
    db = f"sqlite:///{tmp_path / 'runs.db'}"
    api.tune(
        data,
        task=task,
        space={"lr": {"low": 1e-3, "high": 5e-3, "log": True}, "epochs": 1},
        trials=2,
        pruner="none",
        name=f"{task}-search",
        out=tmp_path / "experiments",
        db=db,
        show_progress=False,
        img_size=32,
        batch_size=4,
        **{"model.options": options},
    )
    store = Store(db)
    try:
        [exp] = [e for e in store.list_experiments() if e.name == f"{task}-search"]
        assert exp.task == task and exp.objectives == [[objective, "maximize"]]
        runs = store.list_runs(experiment_id=exp.id)
        assert len(runs) == 2 and {r.status for r in runs} == {"completed"}
        for run in runs:
            assert run.task == task and run.primary_metric == primary
            assert store.epochs(run.id)[0].value(objective) is not None
    finally:
        store.close()
