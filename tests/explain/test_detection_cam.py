"""Explaining detections: Eigen-CAM and Grad-CAM heat maps for a detector's boxes.

One real run (tinydet, one epoch on 64 px shapes, as `imgrec train --task detect` makes it: the
``detection_run`` fixture in conftest.py) and, for the other families, untrained detectors saved
the way a run saves them (card + weights).
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image
from typer.testing import CliRunner

from imgrec import api
from imgrec.cli import app
from imgrec.errors import ConfigError
from imgrec.explain.detections import DetectionExplanation
from imgrec.models.card import ModelCard, Preprocessing
from imgrec.models.detectors import create_detector
from imgrec.models.weights import save_weights

SIZE = 64


def _saved_detector(family: str, folder: Path) -> Path:
    """An untrained ``family`` detector written as a run directory (card.json + weights)."""
    torch.manual_seed(0)
    model = create_detector(family, num_classes=2, img_size=SIZE)
    folder.mkdir(parents=True)
    ModelCard(
        task="detect",
        architecture=family,
        options=model.options,
        classes=["circle", "square"],
        preprocessing=Preprocessing(size=(SIZE, SIZE), mean=(0, 0, 0), std=(1, 1, 1)),
    ).save(folder)
    save_weights(model, folder / ModelCard.model_fields["weights_file"].default)
    return folder


def _check_map(heatmap: np.ndarray, image: Path) -> None:
    width, height = Image.open(image).size
    assert heatmap.shape == (height, width) and heatmap.dtype == np.float32
    assert heatmap.min() >= 0.0 and heatmap.max() <= 1.0
    assert heatmap.std() > 0.01  # not constant


def test_eigencam_explains_each_top_detection_with_files(
    detection_run: Path, shapes_image: Path, tmp_path: Path
) -> None:
    results = api.explain(detection_run, [shapes_image], conf=0.0, top=3, out=tmp_path)
    [image] = results
    assert isinstance(image, DetectionExplanation) and image.method == "eigencam"
    assert [d.rank for d in image.detections] == [1, 2, 3]
    scores = [d.detection.score for d in image.detections]
    assert scores == sorted(scores, reverse=True)
    for box in image.detections:
        _check_map(box.heatmap, shapes_image)
        assert box.png and Path(box.png).is_file() and box.detection.label in Path(box.png).name
        assert np.array_equal(np.load(str(box.npy)), box.heatmap)
    [listed] = json.loads((tmp_path / "explanations.json").read_text())
    assert listed["source"] == str(shapes_image) and listed["layer"] == "net.backbone"
    first = listed["detections"][0]
    assert {"label", "score", "box", "png", "npy"} <= set(first)
    assert first["label"] == image.detections[0].detection.label and len(first["box"]) == 4
    assert Path(first["png"]).name.startswith("000-tall-det1-eigencam-")
    overlay = Image.open(first["png"])
    assert overlay.width > overlay.height  # image | overlay side by side


def test_gradcam_explains_the_chosen_detection(detection_run: Path, shapes_image: Path) -> None:
    everything = api.explain(detection_run, [shapes_image], conf=0.0, top=2)[0]
    [image] = api.explain(detection_run, [shapes_image], method="grad-cam", conf=0.0, detection=2)
    assert image.method == "gradcam" and image.layer.startswith("fpn.layer_blocks.0")
    [box] = image.detections
    assert box.rank == 2 and box.detection == everything.detections[1].detection
    assert box.heatmap.shape == (80, 64)
    assert box.heatmap.min() >= 0.0 and box.heatmap.max() <= 1.0


@pytest.mark.parametrize("family", ["fcos", "retinanet", "fasterrcnn", "ssdlite"])
def test_eigencam_works_for_every_family(family: str, shapes_image: Path, tmp_path: Path) -> None:
    run = _saved_detector(family, tmp_path / family)
    [image] = api.explain(run, [shapes_image], conf=0.0, top=2, device="cpu")
    assert len(image.detections) == 2
    for box in image.detections:
        _check_map(box.heatmap, shapes_image)


def test_gradcam_on_faster_rcnn(shapes_image: Path, tmp_path: Path) -> None:
    run = _saved_detector("fasterrcnn", tmp_path / "frcnn")
    [image] = api.explain(run, [shapes_image], method="gradcam", conf=0.0, top=2, device="cpu")
    assert len(image.detections) == 2
    for box in image.detections:
        _check_map(box.heatmap, shapes_image)


def test_a_detection_out_of_range_says_how_many_there_are(
    detection_run: Path, shapes_image: Path
) -> None:
    with pytest.raises(ConfigError, match=r"--detection 999 is out of range.*pick 1-\d+"):
        api.explain(detection_run, [shapes_image], conf=0.0, detection=999)
    with pytest.raises(ConfigError, match="finds 0 box"):
        api.explain(detection_run, [shapes_image], conf=1.01, detection=1)
    with pytest.raises(ConfigError, match="counts from 1"):
        api.explain(detection_run, [shapes_image], detection=0)


def test_an_unsupported_method_names_the_supported_ones(
    detection_run: Path, shapes_image: Path
) -> None:
    with pytest.raises(ConfigError, match=r"cannot explain a tinydet.*support: eigencam, gradcam"):
        api.explain(detection_run, [shapes_image], method="scorecam")
    with pytest.raises(ConfigError, match="--class only apply to a classification run"):
        api.explain(detection_run, [shapes_image], target_class="circle")


def test_detection_options_are_refused_for_a_classifier(trained_run: Path, tmp_path: Path) -> None:
    image = tmp_path / "x.png"
    Image.new("RGB", (32, 32)).save(image)
    with pytest.raises(ConfigError, match="--detection only apply to a detection run"):
        api.explain(trained_run, [image], detection=1)


def test_cli_explains_detections_end_to_end(detection_run: Path, shapes_image: Path) -> None:
    runner = CliRunner()
    done = runner.invoke(
        app, ["explain", str(detection_run), str(shapes_image), "--conf", "0", "--top", "2"]
    )
    assert done.exit_code == 0, done.output
    assert "eigencam on net.backbone: 2 overlay(s)" in done.output and "tall.png" in done.output
    folder = detection_run / "explain"
    assert len(list(folder.glob("000-tall-det*-eigencam-*.png"))) == 2
    assert (folder / "explanations.json").is_file()
    refused = runner.invoke(
        app, ["explain", str(detection_run), str(shapes_image), "--detection", "999", "--conf", "0"]
    )
    assert refused.exit_code == 2 and "out of range" in refused.output
