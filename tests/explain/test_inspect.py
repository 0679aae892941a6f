"""Looking inside a model: summary, filters, feature maps and the embedding map."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

import imgrec
from imgrec.errors import ConfigError, ModelError
from imgrec.explain.embedding import confused_pairs, project
from imgrec.explain.filters import filter_images
from imgrec.explain.summary import summarize
from imgrec.models.registry import create_model


def test_summary_counts_parameters_and_multiply_adds() -> None:
    model = create_model("simple_cnn", num_classes=10, img_size=28)
    summary = summarize(model, input_size=(3, 28, 28))
    rows = {r.name: r for r in summary.layers}
    first = rows["stages.0.0"]  # 3->32 3x3 conv on 28x28: 28*28 positions x 32 x 27 products
    assert first.output_shape == [1, 32, 28, 28]
    assert first.params == 32 * 27 and first.macs == 28 * 28 * 32 * 27
    assert rows["fc"].macs == 128 * 10 and rows["fc"].params == 128 * 10 + 10
    assert summary.total_params == sum(p.numel() for p in model.parameters())
    assert summary.total_macs == sum(r.macs for r in summary.layers) == 19_143_424
    assert "19.14 M" in summary.render()


def test_summary_of_a_vit_counts_attention() -> None:
    model = create_model("vit_tiny", num_classes=4, img_size=32, depth=1)
    summary = summarize(model, input_size=(3, 32, 32))
    leaves = sum(r.macs for r in summary.layers)
    # q @ k^T and attn @ v: 2 x 3 heads x 65 x 65 x 64 multiply-adds, outside any leaf layer
    assert summary.total_macs - leaves == 2 * 3 * 65 * 65 * 64
    assert {"model.blocks.0.attn.qkv", "model.head"} <= {r.name for r in summary.layers}


def test_filter_images_scale_each_filter() -> None:
    weight = np.stack([np.full((3, 3, 3), 7.0), np.arange(27.0).reshape(3, 3, 3)])
    flat, ramp = filter_images(weight)
    assert flat.shape == (3, 3, 3) and (flat == 128).all()  # constant: mid grey
    assert ramp.min() == 0 and ramp.max() == 255


def test_confused_pairs_and_projection() -> None:
    labels = np.array([0, 0, 0, 1, 1, 2, 2, 2])
    predicted = np.array([0, 1, 1, 1, 2, 2, 2, 0])
    pairs = confused_pairs(labels, predicted, ["a", "b", "c"])
    assert pairs[0] == {"true": "a", "predicted": "b", "count": 2, "rate": 0.6667}
    assert {(p["true"], p["predicted"]) for p in pairs[1:]} == {("b", "c"), ("c", "a")}
    features = np.random.default_rng(0).normal(size=(12, 5))
    assert project(features, method="pca").shape == (12, 2)
    assert project(features, method="tsne").shape == (12, 2)
    with pytest.raises(ConfigError, match="use 'pca' or 'tsne'"):
        project(features, method="umap")


def test_inspect_views_write_their_files(
    trained_run: Path, shapes_dir: Path, tmp_path: Path
) -> None:
    summary = imgrec.inspect(trained_run, "summary", out=tmp_path)
    assert summary["architecture"] == "simple_cnn" and "total:" in summary["table"]
    assert json.loads((tmp_path / "summary.json").read_text())["total_macs"] > 0

    filters = imgrec.inspect(trained_run, "filters", out=tmp_path)
    assert filters["layer"] == "stages.0.0" and filters["weight_shape"] == [8, 3, 3, 3]
    with Image.open(filters["png"]) as png:
        assert png.size[0] > png.size[1] > 0

    image = sorted(shapes_dir.glob("star/*.png"))[0]
    features = imgrec.inspect(
        trained_run, "features", image=image, layer="stages.0.2", out=tmp_path
    )
    assert features["shape"] == [8, 16, 16] and Path(features["png"]).is_file()
    assert np.load(features["npy"]).shape == (8, 16, 16)

    embedding = imgrec.inspect(trained_run, "embedding", method="pca")
    assert Path(embedding["png"]).parent == trained_run / "inspect"
    saved = json.loads(Path(embedding["json"]).read_text())
    assert saved["num_images"] == len(saved["points"]) == embedding["num_images"] > 0
    assert {p["label"] for p in saved["points"]} <= {"circle", "square", "star", "triangle"}

    other = imgrec.inspect(trained_run, "embedding", data=shapes_dir, method="tsne", out=tmp_path)
    assert other["num_images"] == 120 and other["source"] == str(shapes_dir)


def test_inspect_bad_requests(trained_run: Path) -> None:
    with pytest.raises(ConfigError, match="unknown view 'filter'"):
        imgrec.inspect(trained_run, "filter")
    with pytest.raises(ConfigError, match="needs an image"):
        imgrec.inspect(trained_run, "features")
    with pytest.raises(ModelError, match="no model card here"):
        imgrec.inspect(trained_run / "nowhere", "summary")
