"""Detection through the command line: synth, check, train, recompute with pycocotools, resume."""

from __future__ import annotations

import contextlib
import io
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

IMGREC = str(Path(sys.executable).with_name("imgrec"))


def _imgrec(*args: str, home: Path, check: bool = True) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "IMGREC_HOME": str(home), "IMGREC_OFFLINE": "1"}
    done = subprocess.run(
        [IMGREC, *args], capture_output=True, text=True, env=env, timeout=600, check=False
    )
    if check and done.returncode != 0:
        raise AssertionError(f"imgrec {' '.join(args)} exited {done.returncode}:\n{done.stderr}")
    return done


def _pycocotools_stats(run_dir: Path) -> list[float]:
    from pycocotools.coco import COCO
    from pycocotools.cocoeval import COCOeval

    with contextlib.redirect_stdout(io.StringIO()):
        truth = COCO(str(run_dir / "test_ground_truth.json"))
        results = json.loads((run_dir / "test_predictions.json").read_text())
        if not results:
            return [0.0] * 12
        evaluator = COCOeval(truth, truth.loadRes(results), iouType="bbox")
        evaluator.evaluate()
        evaluator.accumulate()
        evaluator.summarize()
    return [float(v) for v in evaluator.stats]


@pytest.mark.slow
def test_detection_train_check_resume_end_to_end(tmp_path: Path) -> None:
    home = tmp_path / "home"
    data = tmp_path / "shapes-det"
    _imgrec("data", "synth", str(data), "--task", "detect", "--per-class", "6", "--img-size", "64",
            home=home)  # fmt: skip
    assert (data / "annotations").is_dir() or any(data.glob("*.json"))

    checked = _imgrec("data", "check", str(data), "--json", home=home)
    report = json.loads(checked.stdout)
    assert report["task"] == "detect" and report["usable"]

    refused = _imgrec("train", str(data), "--task", "classify", home=home, check=False)
    assert refused.returncode != 0 and "--task detect" in refused.stderr

    args = ("--img-size", "64", "--batch-size", "4", "--out", str(tmp_path / "runs"))
    done = _imgrec("train", str(data), "--epochs", "1", "--name", "det", *args, home=home)
    run_dir = Path(done.stdout.strip().splitlines()[-1])
    assert "mAP" in done.stdout
    for name in ("model.safetensors", "card.json", "metrics.json", "history.csv",
                 "test_ground_truth.json", "test_predictions.json"):  # fmt: skip
        assert (run_dir / name).is_file(), name
    metrics = json.loads((run_dir / "metrics.json").read_text())
    card = json.loads((run_dir / "card.json").read_text())
    assert card["task"] == "detect" and card["architecture"] == "tinydet"
    stats = _pycocotools_stats(run_dir)
    assert metrics["map"] == pytest.approx(stats[0], abs=1e-4)
    assert metrics["map50"] == pytest.approx(stats[1], abs=1e-4)

    resumed = _imgrec("train", "--resume", str(run_dir), "--epochs", "2", home=home)
    assert Path(resumed.stdout.strip().splitlines()[-1]) == run_dir
    history = (run_dir / "history.csv").read_text().strip().splitlines()
    assert len(history) == 3  # header + epochs 1 and 2

    image = next((data / "images").rglob("*.png"))
    broken = tmp_path / "broken.png"
    broken.write_bytes(b"not a png")
    drawn = tmp_path / "drawn"
    predicted = _imgrec("predict", str(run_dir), str(image), str(broken), "--json", "--conf",
                        "0.0", "--save-images", str(drawn), home=home)  # fmt: skip
    answers = json.loads(predicted.stdout)
    assert answers[0]["error"] is None and answers[0]["width"] == 64
    for det in answers[0]["detections"]:
        assert det["label"] in card["classes"] and 0 <= det["class_index"] < len(card["classes"])
        x0, y0, x1, y1 = det["box"]
        assert 0 <= x0 <= x1 <= 64 and 0 <= y0 <= y1 <= 64
    assert answers[1]["error"] and "broken.png" in answers[1]["error"]
    assert (drawn / f"{image.stem}.png").is_file()
    assert broken.read_bytes() == b"not a png"

    evaluated = _imgrec("eval", str(run_dir), "--json", home=home)
    again = json.loads(evaluated.stdout)
    assert again["map"] == pytest.approx(json.loads((run_dir / "metrics.json").read_text())["map"])
