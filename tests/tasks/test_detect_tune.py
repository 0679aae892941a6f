"""``imgrec tune`` on a detection set: the task is inferred, trials optimise val mAP and each is a
recorded run whose epochs carry val_map."""

from __future__ import annotations

from pathlib import Path

import pytest

from imgrec import api
from imgrec.data.detection import write_shapes_detection
from imgrec.store import Store


@pytest.mark.slow
def test_a_detection_search_records_val_map_trials(tmp_path: Path) -> None:
    data = write_shapes_detection(tmp_path / "data", n=16, img_size=48, seed=5)
    db = f"sqlite:///{tmp_path / 'runs.db'}"
    result = api.tune(
        data,
        space={"lr": {"low": 1e-3, "high": 5e-3, "log": True}, "epochs": 1},
        trials=2,
        pruner="none",
        name="det-search",
        out=tmp_path / "experiments",
        db=db,
        show_progress=False,
        img_size=48,
        batch_size=4,
    )
    store = Store(db)
    try:
        [exp] = [e for e in store.list_experiments() if e.name == "det-search"]
        assert exp.task == "detect" and exp.objectives == [["val_map", "maximize"]]
        runs = store.list_runs(experiment_id=exp.id)
        assert len(runs) == 2 and {r.status for r in runs} == {"completed"}
        for run in runs:
            assert run.task == "detect" and run.primary_metric == "map"
            assert store.epochs(run.id)[0].value("val_map") is not None
        assert result.summary
    finally:
        store.close()
