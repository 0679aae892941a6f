"""``imgrec runs delete``: records and run directories go, after a confirmation; nothing else."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from imgrec import api
from imgrec.api import open_store
from imgrec.cli import app
from imgrec.errors import NotFoundError, RunError


def _run(name: str, status: str, run_dir: Path | None, *, marker: str = "run.json") -> int:
    with open_store() as store:
        run_id = store.create_run(name=name, model="simple_cnn", config={})
        if run_dir is not None:
            run_dir.mkdir(parents=True, exist_ok=True)
            if marker:
                (run_dir / marker).write_text(json.dumps({"status": status}))
            (run_dir / "history.csv").write_text("epoch\n1\n")
            store.start_run(run_id, run_dir=run_dir, name=name, dataset_id=None)
            store.record_epoch(run_id, {"epoch": 1, "val_accuracy": 0.5})
        if status != "queued":
            store.finish_run(run_id, status=status, summary={"accuracy": 0.5})
    return run_id


def _ids() -> list[int]:
    with open_store() as store:
        return sorted(r.id for r in store.list_runs())


def _delete(*args: str, answer: str | None = None) -> tuple[int, str]:
    result = CliRunner().invoke(app, ["runs", "delete", *args], input=answer)
    return result.exit_code, result.output


def test_delete_by_id_and_by_name_removes_record_and_run_directory(tmp_path: Path) -> None:
    first = _run("first", "completed", tmp_path / "runs" / "first", marker="card.json")
    second = _run("second", "failed", tmp_path / "runs" / "second")
    kept = _run("kept", "completed", tmp_path / "runs" / "kept")
    code, out = _delete(str(first), "--yes")
    assert code == 0, out
    assert f"{first}  first  [completed]" in out and "deleted 1 run(s) and 1 run folder(s)" in out
    assert not (tmp_path / "runs" / "first").exists()
    code, out = _delete("second", answer="y\n")  # asks first
    assert code == 0 and "Delete these 1 run(s)?" in out, out
    assert not (tmp_path / "runs" / "second").exists()
    assert _ids() == [kept] and (tmp_path / "runs" / "kept" / "run.json").is_file()
    with open_store() as store, pytest.raises(NotFoundError):
        store.get_run(second)
    assert (tmp_path / "runs").is_dir()  # only the run directories went


def test_saying_no_deletes_nothing(tmp_path: Path) -> None:
    run_id = _run("r", "completed", tmp_path / "r")
    code, out = _delete("r", answer="n\n")
    assert code == 1 and "nothing deleted" in out
    assert _ids() == [run_id] and (tmp_path / "r" / "run.json").is_file()


def test_keep_files_deletes_the_record_only(tmp_path: Path) -> None:
    _run("r", "completed", tmp_path / "r")
    code, out = _delete("r", "--keep-files", "--yes")
    assert code == 0 and "folder kept" in out, out
    assert _ids() == [] and (tmp_path / "r" / "run.json").is_file()


def test_a_folder_imgrec_did_not_make_is_never_deleted(tmp_path: Path) -> None:
    photos = tmp_path / "photos"
    run_id = _run("odd", "completed", photos, marker="")  # no run.json, no card.json
    (photos / "holiday.jpg").write_bytes(b"\xff\xd8")
    code, out = _delete(str(run_id), "--yes")
    assert code == 2 and "not a run directory imgrec made" in out and "--keep-files" in out
    assert _ids() == [run_id] and (photos / "holiday.jpg").is_file()
    link = tmp_path / "link"
    link.symlink_to(tmp_path / "elsewhere", target_is_directory=True)
    (tmp_path / "elsewhere").mkdir()
    (tmp_path / "elsewhere" / "run.json").write_text("{}")
    linked = _run("linked", "failed", None)
    with open_store() as store:
        store.start_run(linked, run_dir=link, name="linked", dataset_id=None)
        store.finish_run(linked, status="failed")
    with pytest.raises(RunError, match="symbolic link"):
        api.delete_runs([linked])
    assert (tmp_path / "elsewhere" / "run.json").is_file()
    code, out = _delete(str(run_id), "--keep-files", "--yes")
    assert code == 0 and (photos / "holiday.jpg").is_file()


def test_unknown_runs_and_running_runs_are_refused(tmp_path: Path) -> None:
    run_id = _run("r", "completed", tmp_path / "r")
    code, out = _delete("999", str(run_id), "--yes")
    assert code == 2 and "no run '999'" in out
    running = _run("busy", "queued", None)
    code, out = _delete("busy", "--yes")
    assert code == 2 and "is queued: stop it first" in out
    code, out = _delete()
    assert code == 2 and "name the runs to delete" in out
    code, out = _delete("r", "--status", "failed")
    assert code == 2 and "not both" in out
    code, out = _delete("--status", "finished")
    assert code == 2 and "unknown run status 'finished'" in out
    assert _ids() == [run_id, running] and (tmp_path / "r").is_dir()


def test_status_failed_lists_and_deletes_every_failed_run(tmp_path: Path) -> None:
    for i in range(2):
        _run(f"bad-{i}", "failed", tmp_path / f"bad-{i}")
    _run("bad (not started)", "failed", None)  # failed before it had a run directory
    good = _run("good", "completed", tmp_path / "good")
    code, out = _delete("--status", "failed", answer="y\n")
    assert code == 0, out
    assert "3 run(s) to delete" in out and "bad-0" in out and "good" not in out.split("?")[0]
    assert "deleted 3 run(s) and 2 run folder(s)" in out
    assert _ids() == [good] and (tmp_path / "good").is_dir()
    assert not any((tmp_path / f"bad-{i}").exists() for i in range(2))
    code, out = _delete("--status", "failed", "--yes")
    assert code == 0 and "no failed runs to delete" in out


def test_a_failed_training_run_can_be_deleted(shapes_dir: Path, tmp_path: Path) -> None:
    """A real run directory (run.json, config.yaml, ...) left by a run that failed in training:
    weights that pass the early check (a whole file) but do not fit the model."""
    from imgrec.models import create_model, save_weights

    model = create_model("simple_cnn", num_classes=4, width=4)
    weights = save_weights(model, tmp_path / "w.safetensors")
    with pytest.raises(Exception, match="weights do not fit"):
        api.train(
            shapes_dir,
            epochs=1,
            img_size=16,
            weights=str(weights),
            out=str(tmp_path / "runs"),
            show_progress=False,
            **{"model.options.width": 8},
        )
    (run,) = api.delete_runs(status="failed", dry_run=True)
    assert run.files == "removed" and run.run_dir is not None and run.run_dir.is_dir()
    assert (run.run_dir / "run.json").is_file()
    assert [r.id for r in api.delete_runs([run.id])] == [run.id]
    assert not run.run_dir.exists() and _ids() == []
