"""The command line end to end, as a user runs it (subprocesses, real files)."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

IMGREC = str(Path(sys.executable).with_name("imgrec"))


def _imgrec(
    *args: str, env_home: Path, check: bool = True, timeout: float = 300
) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "IMGREC_HOME": str(env_home), "PYTHONUNBUFFERED": "1"}
    done = subprocess.run(
        [IMGREC, *args], capture_output=True, text=True, env=env, timeout=timeout, check=False
    )
    if check and done.returncode != 0:
        raise AssertionError(
            f"imgrec {' '.join(args)} exited {done.returncode}:\n{done.stderr[-3000:]}"
        )
    return done


@pytest.mark.slow
def test_train_predict_eval_check_end_to_end(shapes_dir: Path, tmp_path: Path) -> None:
    home = tmp_path / "home"
    cfg = tmp_path / "cfg.yaml"
    cfg.write_text("train:\n  epochs: 2\n  batch_size: 16\nmodel:\n  options:\n    width: 8\n")
    done = _imgrec(
        "train",
        str(shapes_dir),
        "--config",
        str(cfg),
        "--img-size",
        "16",
        "--out",
        str(tmp_path / "runs"),
        "--name",
        "e2e",
        env_home=home,
    )
    run_dir = Path(done.stdout.strip().splitlines()[-1])
    assert run_dir == tmp_path / "runs" / "e2e"
    for name in (
        "model.safetensors",
        "card.json",
        "metrics.json",
        "per_class.csv",
        "config.yaml",
        "confusion_matrix.png",
        "learning_curves.png",
        "worst_mistakes.png",
        "history.csv",
    ):
        assert (run_dir / name).is_file(), name
    assert not list(run_dir.rglob("*.pt")) and not list(run_dir.rglob("*.pkl"))
    assert "epoch 2/2" in done.stderr and "ETA" in done.stderr
    assert "recorded as run 1 (`imgrec runs show 1`)" in done.stdout
    listed = _imgrec("runs", "list", "--format", "json", env_home=home)
    assert json.loads(listed.stdout)[0]["name"] == "e2e"
    metrics = json.loads((run_dir / "metrics.json").read_text())
    assert metrics["training"]["epochs_completed"] == 2
    assert metrics["inference"]["latency_batch1"]["p50_ms"] > 0
    status = json.loads((run_dir / "run.json").read_text())
    assert status["status"] == "completed"

    images = sorted((shapes_dir / "circle").glob("*.png"))[:3]
    predicted = _imgrec(
        "predict", str(run_dir), *map(str, images), "--json", "--top-k", "2", env_home=home
    )
    rows = json.loads(predicted.stdout)
    assert [r["source"] for r in rows] == [str(p) for p in images]
    assert all(len(r["top_k"]) == 2 and r["error"] is None for r in rows)
    folder = _imgrec("predict", str(run_dir), str(shapes_dir / "star"), "--csv", env_home=home)
    assert len(folder.stdout.strip().splitlines()) == 1 + 30

    evaluated = _imgrec("eval", str(run_dir), "--json", env_home=home)
    assert json.loads(evaluated.stdout)["num_samples"] == metrics["num_samples"]
    other = _imgrec("eval", str(run_dir), "--data", str(shapes_dir), "--json", env_home=home)
    assert json.loads(other.stdout)["num_samples"] == 120

    check = _imgrec("data", "check", str(shapes_dir), "--json", env_home=home)
    assert json.loads(check.stdout)["usable"] is True


@pytest.mark.slow
def test_resume_after_sigkill_finishes_the_run(shapes_dir: Path, tmp_path: Path) -> None:
    home = tmp_path / "home"
    env = {**os.environ, "IMGREC_HOME": str(home), "PYTHONUNBUFFERED": "1"}
    run_dir = tmp_path / "runs" / "killed"
    command = [
        IMGREC,
        "train",
        str(shapes_dir),
        "--epochs",
        "30",
        "--img-size",
        "16",
        "--batch-size",
        "8",
        "--out",
        str(tmp_path / "runs"),
        "--name",
        "killed",
    ]
    process = subprocess.Popen(
        command, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
    )
    checkpoint = run_dir / "checkpoints" / "last.ckpt"
    deadline = time.monotonic() + 240
    try:
        while not checkpoint.exists():
            assert process.poll() is None, "training ended before its first checkpoint"
            assert time.monotonic() < deadline, "no checkpoint within 240 s"
            time.sleep(0.2)
    finally:
        process.send_signal(signal.SIGKILL)
        process.wait()
    status = json.loads((run_dir / "run.json").read_text())
    assert status["status"] == "running"  # SIGKILL leaves no chance to write anything
    assert not (run_dir / "model.safetensors").exists()

    trained = int(status.get("last_epoch") or 0)
    if trained > 1:  # asking for fewer epochs than already trained is a clear error
        refused = _imgrec(
            "train", "--resume", str(run_dir), "--epochs", "1", env_home=home, check=False
        )
        assert refused.returncode == 2 and f"already trained {trained} epochs" in refused.stderr
    done = _imgrec("train", "--resume", str(run_dir), "--epochs", "12", env_home=home)
    assert Path(done.stdout.strip().splitlines()[-1]) == run_dir
    metrics = json.loads((run_dir / "metrics.json").read_text())
    assert metrics["training"]["epochs_completed"] == 12
    history = (run_dir / "history.csv").read_text().strip().splitlines()
    assert len(history) == 1 + 12  # header + one row per epoch, across both processes
    assert json.loads((run_dir / "run.json").read_text())["status"] == "completed"


def test_bad_input_gives_a_clear_error_and_exit_2(tmp_path: Path) -> None:
    home = tmp_path / "home"
    missing = _imgrec("train", str(tmp_path / "nope"), env_home=home, check=False)
    assert missing.returncode == 2
    assert "error:" in missing.stderr and "nope" in missing.stderr
    assert "Traceback" not in missing.stderr
    typo = _imgrec("train", str(tmp_path), "--set", "train.epoch=3", env_home=home, check=False)
    assert typo.returncode == 2 and "Did you mean 'train.epochs'" in typo.stderr
    not_a_run = _imgrec("predict", str(tmp_path), str(tmp_path), env_home=home, check=False)
    assert not_a_run.returncode == 2 and "card.json" in not_a_run.stderr


def test_data_check_exit_codes(tmp_path: Path) -> None:
    from PIL import Image

    one_class = tmp_path / "one" / "cats"
    one_class.mkdir(parents=True)
    for i in range(4):
        Image.new("RGB", (8, 8), (i * 40, 0, 0)).save(one_class / f"{i}.png")
    done = _imgrec("data", "check", str(tmp_path / "one"), env_home=tmp_path / "h", check=False)
    assert done.returncode == 1
    assert "class" in done.stdout.lower()


def test_help_and_models_and_config_keys(tmp_path: Path) -> None:
    home = tmp_path / "home"
    assert "train" in _imgrec("--help", env_home=home).stdout
    listing = _imgrec("models", env_home=home).stdout
    for name in ("simple_cnn", "mlp", "resnet18", "vit_tiny"):
        assert name in listing
    keys = _imgrec("config", "keys", env_home=home).stdout
    assert "train.epochs" in keys and "data.img_size" in keys
