"""The public Python API: exports, laziness, config handling, resume rules, evaluation."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

import imgrec
from imgrec.errors import ConfigError, DatasetError, RunError


def test_all_matches_what_is_exported() -> None:
    for name in imgrec.__all__:
        assert getattr(imgrec, name) is not None, name
    with pytest.raises(AttributeError):
        imgrec.not_a_thing  # noqa: B018


def test_importing_imgrec_and_its_cli_does_not_import_torch() -> None:
    code = "import sys, imgrec, imgrec.cli; print('torch' in sys.modules)"
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert done.stdout.strip() == "False"


def test_train_without_data_or_with_bad_keys_fails_early(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="no dataset"):
        imgrec.train()
    with pytest.raises(ConfigError, match="Did you mean 'epochs'"):
        imgrec.train(tmp_path, epoch=3)
    with pytest.raises(DatasetError, match=r"does not exist|not found|no such"):
        imgrec.train(tmp_path / "missing", epochs=1)


def test_resume_refuses_config_changes(trained_run: Path) -> None:
    with pytest.raises(ConfigError, match="cannot change lr"):
        imgrec.train(resume=trained_run, lr=0.5)
    with pytest.raises(RunError, match="not a run directory"):
        imgrec.train(resume=trained_run.parent)


@pytest.mark.slow
def test_trained_run_is_complete_and_reevaluates(trained_run: Path, shapes_dir: Path) -> None:
    card = json.loads((trained_run / "card.json").read_text())
    assert card["architecture"] == "simple_cnn"
    assert card["classes"] == ["circle", "square", "star", "triangle"]
    assert card["preprocessing"]["size"] == [16, 16]
    assert card["dataset"]["fingerprint"]
    assert {"torch", "python"} <= set(card["versions"])
    metrics = json.loads((trained_run / "metrics.json").read_text())
    own = imgrec.evaluate(trained_run, show_progress=False)
    assert own["num_samples"] == metrics["num_samples"]
    assert own["accuracy"] == pytest.approx(metrics["accuracy"])
    other = imgrec.evaluate(trained_run, data=shapes_dir, show_progress=False)
    assert other["num_samples"] == 120
    assert Path(other["out_dir"], "confusion_matrix.png").is_file()


@pytest.mark.slow
def test_evaluate_refuses_unknown_classes(trained_run: Path, tmp_path: Path) -> None:
    from PIL import Image

    for name in ("circle", "hexagon"):
        (tmp_path / name).mkdir()
        for i in range(3):
            Image.new("RGB", (16, 16), (i * 50, 0, 0)).save(tmp_path / name / f"{i}.png")
    with pytest.raises(DatasetError, match="hexagon"):
        imgrec.evaluate(trained_run, data=tmp_path, show_progress=False)


@pytest.mark.slow
def test_demo_runs_the_whole_path(tmp_path: Path) -> None:
    from imgrec.demo import run_demo

    lines: list[str] = []

    class Sink:
        def write(self, text: str) -> None:
            lines.append(text)

    run_dir = run_demo(tmp_path / "demo", epochs=1, per_class=12, stream=Sink())  # type: ignore[arg-type]
    text = "".join(lines)
    assert "test accuracy" in text and str(run_dir) in text
    assert (run_dir / "model.safetensors").is_file()


def test_imgrec_device_applies_when_a_command_says_auto(
    trained_run: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import torch

    from imgrec.errors import SetupError

    monkeypatch.setenv("IMGREC_DEVICE", "cpu")
    assert imgrec.load(trained_run).device == torch.device("cpu")
    if not torch.cuda.is_available():
        monkeypatch.setenv("IMGREC_DEVICE", "cuda")
        with pytest.raises(SetupError, match="cuda"):
            imgrec.load(trained_run)
        assert imgrec.load(trained_run, device="cpu").device == torch.device("cpu")
