"""``imgrec runs ...`` and ``imgrec worker`` from the command line, on a prepared database."""

from __future__ import annotations

import csv
import io
import json

import pytest
from typer.testing import CliRunner

from imgrec.api import open_store
from imgrec.cli import app


@pytest.fixture
def two_runs() -> tuple[int, int]:
    store = open_store()
    ids = []
    for lr, accuracy in ((0.01, 0.8), (0.001, 0.9)):
        run_id = store.create_run(
            name=f"lr-{lr}",
            model="simple_cnn",
            config={"train": {"lr": lr, "epochs": 3}, "data": {"img_size": 32}},
        )
        store.start_run(run_id, run_dir=f"/runs/lr-{lr}", name=f"lr-{lr}", dataset_id=None)
        for epoch in (1, 2, 3):
            store.record_epoch(run_id, {"epoch": epoch, "val_accuracy": accuracy * epoch / 3})
        store.finish_run(run_id, status="completed", summary={"accuracy": accuracy})
        ids.append(run_id)
    return ids[0], ids[1]


def _invoke(*args: str) -> str:
    result = CliRunner().invoke(app, list(args))
    assert result.exit_code == 0, result.output
    return result.output


def test_list_show_compare_and_export(two_runs: tuple[int, int], tmp_path) -> None:
    first, second = two_runs
    table = _invoke("runs", "list")
    assert "lr-0.01" in table and "lr-0.001" in table and "completed" in table
    listed = json.loads(_invoke("runs", "list", "--format", "json"))
    assert [row["id"] for row in listed] == [second, first]
    shown = json.loads(_invoke("runs", "show", "lr-0.01", "--format", "json"))
    assert shown["run"]["scores"]["accuracy"] == 0.8 and len(shown["epochs"]) == 3
    compared = json.loads(_invoke("runs", "compare", str(first), str(second), "-f", "json"))
    keys = [row["key"] for row in compared]
    assert "train.lr" in keys and "train.epochs" not in keys  # only what differs
    assert {"accuracy", "status"} <= set(keys)
    lr_row = next(row for row in compared if row["key"] == "train.lr")
    assert (lr_row[f"run {first}"], lr_row[f"run {second}"]) == (0.01, 0.001)
    out = tmp_path / "runs.csv"
    _invoke("runs", "export", "--out", str(out))
    rows = list(csv.DictReader(io.StringIO(out.read_text())))
    assert [r["train.lr"] for r in rows] == ["0.001", "0.01"]
    exported = json.loads(_invoke("runs", "export", "--format", "json"))
    assert len(exported[0]["epochs"]) == 3


def test_unknown_runs_and_formats_are_clear_errors(two_runs: tuple[int, int]) -> None:
    result = CliRunner().invoke(app, ["runs", "show", "nope"])
    assert result.exit_code == 2 and "no run 'nope'" in result.output
    result = CliRunner().invoke(app, ["runs", "list", "--format", "xml"])
    assert result.exit_code == 2 and "--format must be table, csv or json" in result.output
    result = CliRunner().invoke(app, ["runs", "list", "--status", "finished"])
    assert result.exit_code == 2 and "unknown run status 'finished'" in result.output
    result = CliRunner().invoke(app, ["runs", "list", "--db", "mysql://x@y/z"])
    assert result.exit_code == 2 and "only SQLite and PostgreSQL" in result.output


def test_an_empty_database_lists_nothing_and_a_worker_with_no_work_stops() -> None:
    assert "nothing recorded yet" in _invoke("runs", "list")
    result = CliRunner().invoke(app, ["worker"])
    assert result.exit_code == 0 and "ran 0 trial(s)" in result.output
