"""``imgrec inspect`` on a detection run: summary, filters and feature maps of the detector.

The run is the ``detection_run`` fixture (tinydet, one epoch on 64 px shapes); ``shapes_image``
is one of its test images made taller (80 x 64), so the detector pads its batch.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image
from typer.testing import CliRunner

import imgrec
from imgrec.cli import app
from imgrec.engine.detect_predictor import DetectionPredictor
from imgrec.errors import ConfigError, ModelError
from imgrec.models.card import ModelCard, Preprocessing
from imgrec.models.detectors import create_detector
from imgrec.models.weights import save_weights


def test_summary_lists_the_whole_detector(detection_run: Path, tmp_path: Path) -> None:
    summary = imgrec.inspect(detection_run, "summary", out=tmp_path, device="cpu")
    model = DetectionPredictor.from_run_dir(detection_run, device="cpu").model
    assert summary["architecture"] == "tinydet"
    assert summary["total_params"] == sum(p.numel() for p in model.parameters())
    names = [row["name"] for row in summary["layers"]]
    assert any(n.startswith("net.backbone.fpn.") for n in names)
    assert any(n.startswith("net.head.") for n in names)
    assert summary["total_macs"] > 0 and "total:" in summary["table"]
    assert json.loads((tmp_path / "summary.json").read_text())["architecture"] == "tinydet"


def test_filters_are_the_backbones_first_convolution(detection_run: Path, tmp_path: Path) -> None:
    filters = imgrec.inspect(detection_run, "filters", out=tmp_path, device="cpu")
    assert filters["layer"].startswith("net.backbone.")
    assert filters["weight_shape"][1:] == [3, 3, 3] and filters["shown"] > 0
    with Image.open(filters["png"]) as png:
        assert png.size[0] > 0 and Path(filters["png"]).parent == tmp_path


def test_features_default_to_the_finest_pyramid_level(
    detection_run: Path, shapes_image: Path, tmp_path: Path
) -> None:
    found = imgrec.inspect(
        detection_run, "features", image=shapes_image, out=tmp_path, device="cpu"
    )
    levels = found["pyramid_levels"]
    assert found["layer"] == levels[0] and levels[0].startswith("net.backbone.fpn.")
    assert found["image"] == str(shapes_image)
    channels, height, width = found["shape"]
    assert channels > 0 and height > width  # cropped to the tall image, not the padded batch
    maps = np.load(found["npy"])
    assert list(maps.shape) == found["shape"] and maps.dtype == np.float32
    assert Path(found["png"]).is_file() and float(maps.std()) > 0
    coarser = imgrec.inspect(
        detection_run, "features", image=shapes_image, layer=levels[-1], out=tmp_path
    )
    assert coarser["shape"][1] < height  # a coarser level: fewer cells


def test_features_of_a_backbone_layer_for_in_memory_images(
    detection_run: Path, shapes_image: Path, tmp_path: Path
) -> None:
    layer = "net.backbone.stem.0"
    by_path = imgrec.inspect(
        detection_run, "features", image=shapes_image, layer=layer, out=tmp_path
    )
    pixels = np.asarray(Image.open(shapes_image).convert("RGB"))
    by_array = imgrec.inspect(detection_run, "features", image=pixels, layer=layer, out=tmp_path)
    assert by_array["image"] == "<ndarray>" and by_array["layer"] == layer
    assert by_array["shape"] == by_path["shape"]


def test_bad_feature_layers_say_which_ones_work(detection_run: Path, shapes_image: Path) -> None:
    with pytest.raises(ModelError, match=r"layer 'net\.backbone\.stem\.9' does not exist.*stem"):
        imgrec.inspect(detection_run, "features", image=shapes_image, layer="net.backbone.stem.9")
    with pytest.raises(ModelError, match=r"not a \(B, C, h, w\) feature map.*fpn\.layer_blocks\.0"):
        imgrec.inspect(detection_run, "features", image=shapes_image, layer="net.anchor_generator")
    with pytest.raises(ConfigError, match="needs an image"):
        imgrec.inspect(detection_run, "features")


def test_embedding_is_refused_with_the_views_that_exist(detection_run: Path) -> None:
    with pytest.raises(ConfigError) as info:
        imgrec.inspect(detection_run, "embedding")
    message = str(info.value)
    assert "needs a classification run" in message and "detection run (tinydet)" in message
    assert "summary, filters, features" in message
    assert f"imgrec explain {detection_run} IMAGE --detection K" in message
    with pytest.raises(ConfigError, match="unknown view 'filter'"):
        imgrec.inspect(detection_run, "filter")


def test_features_of_a_detector_without_fpn(shapes_image: Path, tmp_path: Path) -> None:
    torch.manual_seed(0)
    model = create_detector("ssdlite", num_classes=2, img_size=64)
    run = tmp_path / "ssdlite"
    run.mkdir()
    ModelCard(
        task="detect",
        architecture="ssdlite",
        options=model.options,
        classes=["circle", "square"],
        preprocessing=Preprocessing(size=(64, 64), mean=(0, 0, 0), std=(1, 1, 1)),
    ).save(run)
    save_weights(model, run / "model.safetensors")
    found = imgrec.inspect(run, "features", image=shapes_image, device="cpu")
    assert found["layer"] == "net.backbone.features.0" == found["pyramid_levels"][0]
    assert Path(found["png"]).parent == run / "inspect"


def test_cli_inspects_a_detection_run(detection_run: Path, shapes_image: Path) -> None:
    runner = CliRunner()
    done = runner.invoke(app, ["inspect", str(detection_run), "summary"])
    assert done.exit_code == 0, done.output
    assert "tinydet" in done.output and "net.backbone.fpn." in done.output
    done = runner.invoke(
        app, ["inspect", str(detection_run), "features", "--image", str(shapes_image)]
    )
    assert done.exit_code == 0, done.output
    assert "pyramid_levels:" in done.output and "features-net_backbone_fpn" in done.output
    done = runner.invoke(app, ["inspect", str(detection_run), "embedding"])
    assert done.exit_code == 2
    assert "error: inspect embedding maps a classifier's penultimate features" in done.output
