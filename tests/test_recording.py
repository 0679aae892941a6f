"""Every training run records itself in the run database: states, epochs, metrics, failures."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest

import imgrec
from imgrec.api import open_store
from imgrec.errors import StoreError
from imgrec.recorder import StoreRecorder
from tests.services import kill_once_training

TINY: dict[str, Any] = {
    "epochs": 2,
    "img_size": 16,
    "batch_size": 16,
    "show_progress": False,
    "model.options.width": 8,
}


def test_train_records_the_run_its_epochs_metrics_and_files(
    shapes_dir: Path, tmp_path: Path
) -> None:
    result = imgrec.train(shapes_dir, out=str(tmp_path), **TINY)
    store = open_store()
    run = store.get_run(result.run_id)
    assert run.status == "completed" and run.error is None
    assert run.run_dir == str(result.run_dir.resolve())
    assert run.accuracy == pytest.approx(result.metrics["accuracy"])
    assert run.train_time_s == pytest.approx(result.metrics["training"]["wall_time_s"])
    assert run.latency_ms and run.latency_ms > 0 and run.throughput and run.throughput > 0
    assert run.config["train"]["epochs"] == 2 and run.model == "simple_cnn"
    epochs = store.epochs(run.id)
    history = (result.run_dir / "history.csv").read_text().splitlines()
    assert [e.epoch for e in epochs] == [1, 2] == list(range(1, len(history)))
    assert all(e.val_accuracy is not None and e.lr is not None for e in epochs)
    kinds = {a.kind for a in store.artifacts(run.id)}
    assert {"model.safetensors", "card.json", "metrics.json", "checkpoints/last.ckpt"} <= kinds
    assert store.list_datasets()[0].num_classes == 4


def test_a_run_that_fails_is_recorded_as_failed_with_the_error(tmp_path: Path) -> None:
    for label in ("cat", "dog"):  # two class folders (the early check passes), no real image
        (tmp_path / "broken" / label).mkdir(parents=True)
        (tmp_path / "broken" / label / "a.png").write_bytes(b"not a png")
    with pytest.raises(imgrec.errors.DatasetError):
        imgrec.train(tmp_path / "broken", **TINY)
    (run,) = open_store().list_runs()
    assert run.status == "failed"
    assert "DatasetError" in (run.error or "") and "no usable images" in (run.error or "")


def test_a_diverged_run_fails_with_advice_instead_of_nan_metrics(
    shapes_dir: Path, tmp_path: Path
) -> None:
    with pytest.raises(imgrec.errors.RunError, match=r"training diverged.*Lower the learning rate"):
        imgrec.train(shapes_dir, out=str(tmp_path), lr=1e6, **TINY)
    (run,) = open_store().list_runs()
    assert run.status == "failed" and "diverged" in (run.error or "")


def test_resume_continues_the_same_recorded_run(shapes_dir: Path, tmp_path: Path) -> None:
    first = imgrec.train(shapes_dir, out=str(tmp_path), **(TINY | {"epochs": 1}))
    again = imgrec.train(resume=first.run_dir, epochs=2, show_progress=False)
    assert again.run_id == first.run_id
    store = open_store()
    assert [e.epoch for e in store.epochs(first.run_id)] == [1, 2]
    assert store.get_run(first.run_id).status == "completed"
    assert len(store.list_runs()) == 1


def test_record_false_writes_no_database(shapes_dir: Path, tmp_path: Path, monkeypatch) -> None:
    home = tmp_path / "home"
    monkeypatch.setenv("IMGREC_HOME", str(home))
    result = imgrec.train(shapes_dir, out=str(tmp_path), record=False, **TINY)
    assert result.run_id is None and not (home / "imgrec.db").exists()


def test_an_unreachable_database_stops_training_before_it_starts(
    shapes_dir: Path, monkeypatch
) -> None:
    monkeypatch.setenv("IMGREC_DB_URL", "postgresql://u@127.0.0.1:1/x?connect_timeout=2")
    with pytest.raises(StoreError, match=r"127\.0\.0\.1:1"):
        imgrec.train(shapes_dir, **TINY)


def test_a_database_hiccup_mid_run_warns_once_and_training_goes_on(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    store = open_store()
    run_id = store.create_run(name="r", model="m", config={})

    def broken(*_: Any, **__: Any) -> None:
        raise StoreError("database is locked")

    store.record_epoch = broken  # type: ignore[method-assign]
    recorder = StoreRecorder(store, run_id, heartbeat_s=60)
    recorder.epoch({"epoch": 1.0})
    recorder.epoch({"epoch": 2.0})
    recorder.finished(status="completed", metrics=None, error=None, run_dir=None)
    assert capsys.readouterr().err.count("could not record an epoch") == 1
    assert store.get_run(run_id).status == "completed"


@pytest.mark.slow
def test_a_killed_training_process_leaves_a_failed_run_not_a_running_one(
    shapes_dir: Path, tmp_path: Path
) -> None:
    env = os.environ | {"IMGREC_HEARTBEAT_S": "0.3", "IMGREC_HEARTBEAT_GRACE_S": "3"}
    code = (
        f"import imgrec; imgrec.train({str(shapes_dir)!r}, epochs=200, img_size=16, "
        f"batch_size=8, out={str(tmp_path)!r}, show_progress=False)"
    )
    process = subprocess.Popen([sys.executable, "-c", code], env=env)
    store = open_store()
    killed = kill_once_training(process, store, checkpointed=True)
    assert store.get_run(killed.id).status == "running"  # nobody has looked yet
    time.sleep(3.5)
    cli = subprocess.run(
        [sys.executable, "-m", "imgrec", "runs", "list", "--format", "json"],
        env=env,
        capture_output=True,
        text=True,
        check=True,
    )
    assert '"status": "failed"' in cli.stdout
    run = store.get_run(killed.id)
    assert run.status == "failed" and "stopped sending heartbeats" in (run.error or "")
    assert (Path(run.run_dir or "") / "checkpoints" / "last.ckpt").is_file()
