"""Explaining a trained run's predictions: images in every form, classes, bad inputs."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

import imgrec
from imgrec.api import explain
from imgrec.errors import ConfigError, DatasetError, ModelError


def _one_image(shapes_dir: Path) -> Path:
    return sorted(shapes_dir.glob("circle/*.png"))[0]


def test_explain_writes_overlays_and_maps(
    trained_run: Path, shapes_dir: Path, tmp_path: Path
) -> None:
    image = _one_image(shapes_dir)
    results = explain(trained_run, [image, shapes_dir / "square"], out=tmp_path)
    squares = len(list((shapes_dir / "square").glob("*.png")))
    assert len(results) == 1 + squares
    first = results[0]
    assert first.source == str(image) and first.method == "gradcam"
    assert first.heatmap.shape == (16, 16) and first.pixels.shape == (16, 16, 3)
    assert first.label == first.predicted  # no class asked for: the prediction is explained
    assert 0.0 <= first.probability <= 1.0
    assert np.array_equal(np.load(first.npy), first.heatmap)
    with Image.open(first.png) as png:  # image | overlay, enlarged from 16 px, over a caption
        assert png.size[1] >= 224 and png.size[0] > 1.5 * png.size[1]
    listed = json.loads((tmp_path / "explanations.json").read_text())
    assert listed[0]["label"] == first.label and listed[0]["layer"] == "stages.1.5"


def test_explain_a_chosen_class(trained_run: Path, shapes_dir: Path) -> None:
    [e] = explain(trained_run, [_one_image(shapes_dir)], target_class="star", method="occlusion")
    assert e.label == "star" and e.class_index == imgrec.load(trained_run).card.classes.index(
        "star"
    )
    assert e.layer is None


def test_unknown_class_lists_the_models_classes(trained_run: Path, shapes_dir: Path) -> None:
    with pytest.raises(ConfigError, match=r"no class 'stra'\. Did you mean 'star'.*circle"):
        explain(trained_run, [_one_image(shapes_dir)], target_class="stra")


def test_unknown_layer_and_layer_for_lime(trained_run: Path, shapes_dir: Path) -> None:
    with pytest.raises(ModelError, match=r"layer 'stages\.9' does not exist"):
        explain(trained_run, [_one_image(shapes_dir)], layer="stages.9")
    with pytest.raises(ConfigError, match="drop --layer"):
        explain(trained_run, [_one_image(shapes_dir)], method="lime", layer="stages.0")


def test_grayscale_and_alpha_images_are_converted(trained_run: Path, tmp_path: Path) -> None:
    gray = tmp_path / "gray.png"
    Image.fromarray(np.tile(np.arange(40, dtype=np.uint8) * 6, (40, 1)), "L").save(gray)
    rgba = np.zeros((20, 30, 4), dtype=np.uint8)
    rgba[..., 0], rgba[..., 3] = 200, 128
    results = explain(trained_run, [gray, rgba, np.zeros((24, 24), np.uint8)])
    assert [r.pixels.shape for r in results] == [(16, 16, 3)] * 3
    assert results[0].source == str(gray) and results[1].source == "<ndarray>"


def test_huge_and_unreadable_images_fail_clearly(
    trained_run: Path, shapes_dir: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(Image, "MAX_IMAGE_PIXELS", 500)  # a 32x32 file is now "huge"
    with pytest.raises(DatasetError, match=r"circle_00001\.png: too large in pixels"):
        explain(trained_run, [_one_image(shapes_dir)])
    with pytest.raises(DatasetError, match=r"<ndarray>: too large in pixels \(40x30"):
        explain(trained_run, [np.zeros((30, 40, 3), np.uint8)])
    monkeypatch.undo()
    broken = tmp_path / "broken.png"
    broken.write_bytes(b"not a png")
    with pytest.raises(DatasetError, match=r"broken\.png: not an image"):
        explain(trained_run, [broken])
    with pytest.raises(DatasetError, match=r"missing\.png: no such file"):
        explain(trained_run, [tmp_path / "missing.png"])
    with pytest.raises(DatasetError, match="array image must be"):
        explain(trained_run, [np.zeros((4, 4, 2), np.uint8)])
