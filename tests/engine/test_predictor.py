"""Loading a run directory by its card and predicting, including bad inputs."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from imgrec.engine.predictor import Predictor, expand_inputs
from imgrec.errors import ModelError

pytestmark = pytest.mark.slow


def test_predicts_paths_pil_and_arrays_consistently(trained_run: Path, shapes_dir: Path) -> None:
    predictor = Predictor.from_run_dir(trained_run, device="cpu")
    path = sorted((shapes_dir / "square").glob("*.png"))[0]
    pil = Image.open(path)
    array = np.asarray(pil.convert("RGB"))
    by_path, by_pil, by_array = predictor.predict([path, pil, array], top_k=3)
    assert by_path.label == by_pil.label == by_array.label
    assert by_path.score == pytest.approx(by_array.score, abs=1e-6)
    assert len(by_path.top_k) == 3
    assert by_path.top_k[0][1] >= by_path.top_k[1][1] >= by_path.top_k[2][1]
    assert by_path.label in predictor.card.classes


def test_grayscale_rgba_and_any_size_inputs_work(trained_run: Path, tmp_path: Path) -> None:
    predictor = Predictor.from_run_dir(trained_run, device="cpu")
    gray = tmp_path / "gray.png"
    Image.new("L", (50, 20), 128).save(gray)
    rgba = tmp_path / "rgba.png"
    Image.new("RGBA", (8, 300), (10, 200, 30, 100)).save(rgba)
    results = predictor.predict([gray, rgba, np.zeros((5, 7), dtype=np.uint8)])
    assert all(r.error is None and r.label is not None for r in results)


def test_unreadable_images_are_reported_not_fatal(trained_run: Path, tmp_path: Path) -> None:
    predictor = Predictor.from_run_dir(trained_run, device="cpu")
    broken = tmp_path / "broken.jpg"
    broken.write_text("not a jpeg")
    empty = tmp_path / "empty.png"
    empty.write_bytes(b"")
    good = tmp_path / "good.png"
    Image.new("RGB", (16, 16), (255, 0, 0)).save(good)
    results = predictor.predict([broken, good, empty, tmp_path / "missing.png"])
    assert results[0].error and "not an image" in results[0].error
    assert results[1].error is None and results[1].label
    assert results[2].error and "zero bytes" in results[2].error
    assert results[3].error and "missing.png" in results[3].error


def test_expand_inputs_lists_images_in_folders(shapes_dir: Path) -> None:
    found = expand_inputs([shapes_dir / "circle"])
    assert len(found) == 30 and all(p.suffix == ".png" for p in found)


def test_broken_run_directories_raise_model_errors(trained_run: Path, tmp_path: Path) -> None:
    with pytest.raises(ModelError, match="no model card"):
        Predictor.from_run_dir(tmp_path)
    copy = tmp_path / "run"
    shutil.copytree(trained_run, copy)
    (copy / "model.safetensors").unlink()
    with pytest.raises(ModelError, match="weights file missing"):
        Predictor.from_run_dir(copy)
    (copy / "model.safetensors").write_bytes(b"garbage")
    with pytest.raises(ModelError, match="not a readable safetensors"):
        Predictor.from_run_dir(copy)
    shutil.copy2(trained_run / "model.safetensors", copy / "model.safetensors")
    card = json.loads((copy / "card.json").read_text())
    card["classes"] = [*card["classes"], "extra"]
    (copy / "card.json").write_text(json.dumps(card))
    with pytest.raises(ModelError, match="do not fit the architecture"):
        Predictor.from_run_dir(copy)
    (copy / "card.json").write_text("{not json")
    with pytest.raises(ModelError, match="not a readable JSON"):
        Predictor.from_run_dir(copy)
