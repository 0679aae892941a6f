"""Explaining segmentations: Grad-CAM family maps per predicted class, and instance runs per box.

One real smallunet run (`imgrec train` on 32 px synthetic shapes, one epoch), whose one-epoch
weights paint a single class everywhere; a few more steps on its own images (the ``seg_run``
fixture) make it paint background and shapes, which choosing the classes to explain needs. The
other segmenter families are built directly at a small input size.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from PIL import Image
from typer.testing import CliRunner

from imgrec import api
from imgrec.cli import app
from imgrec.data.detection import write_shapes_instances
from imgrec.data.segmentation import write_shapes_segmentation
from imgrec.engine.segment_predictor import SegmentationPredictor
from imgrec.errors import ConfigError, ModelError
from imgrec.explain.detections import DetectionExplanation
from imgrec.explain.segments import SEGMENT_METHODS, SegmentExplanation, explain_segments
from imgrec.models.card import ModelCard, Preprocessing
from imgrec.models.segmenters import create_segmenter, normalise
from imgrec.models.weights import save_weights

SIZE = 32
CLASSES = ["background", "circle", "square", "triangle", "star"]


def _fit_more(run: Path, data: Path, steps: int = 40) -> None:
    """``steps`` more Adam steps on the run's own images, saved over its weights (~1 s)."""
    predictor = SegmentationPredictor.from_run_dir(run, device="cpu")
    images = sorted((data / "images").rglob("*.png"))
    x = torch.stack(
        [torch.from_numpy(np.asarray(Image.open(p).convert("RGB")).copy()) for p in images]
    )
    y = torch.stack(
        [
            torch.from_numpy(np.array(Image.open(data / "masks" / p.parent.name / p.name)))
            for p in images
        ]
    ).long()
    model = predictor.model
    x = normalise(x.permute(0, 3, 1, 2).float() / 255, model)
    torch.manual_seed(0)
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-2)
    model.train()
    for _ in range(steps):
        optimizer.zero_grad()
        F.cross_entropy(model(x), y).backward()
        optimizer.step()
    model.eval()
    save_weights(model, run / ModelCard.model_fields["weights_file"].default)


@pytest.fixture(scope="module")
def seg_run(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A smallunet run (as `imgrec data synth --task segment --per-class 4 --img-size 32` and
    `imgrec train --epochs 1`), fitted a little more so that it paints background and shapes."""
    root = tmp_path_factory.mktemp("segment-cam")
    data = write_shapes_segmentation(root / "data", per_class=4, img_size=SIZE, seed=2)
    result = api.train(
        data, epochs=1, img_size=SIZE, batch_size=8, out=str(root / "runs"), name="seg-cam",
        show_progress=False, record=False, **{"model.options": {"width": 8, "depth": 3}},
    )  # fmt: skip
    assert result.task == "segment"
    _fit_more(result.run_dir, data)
    return result.run_dir


@pytest.fixture(scope="module")
def seg_image(seg_run: Path) -> Path:
    """A training image of the run's data enlarged to 50 x 37: not the model's size or shape."""
    source = sorted((seg_run.parent.parent / "data" / "images").rglob("*.png"))[0]
    path = seg_run.parent.parent / "odd.png"
    Image.open(source).convert("RGB").resize((50, 37), Image.Resampling.BILINEAR).save(path)
    return path


def _check_map(heatmap: np.ndarray, height: int, width: int) -> None:
    assert heatmap.shape == (height, width) and heatmap.dtype == np.float32
    assert np.isfinite(heatmap).all()
    assert heatmap.min() >= 0.0 and heatmap.max() <= 1.0


def test_maps_have_the_image_size_and_are_in_unit_range(seg_run: Path, seg_image: Path) -> None:
    array = np.asarray(Image.open(seg_image))[:, :44]  # an in-memory image, another size
    results = api.explain(seg_run, [seg_image, array], target_class="square", device="cpu")
    assert all(isinstance(e, SegmentExplanation) for e in results)
    assert [e.source for e in results] == [str(seg_image), "<ndarray>"]
    for e, (height, width) in zip(results, [(37, 50), (37, 44)], strict=True):
        assert e.method == "gradcam" and e.layer == "net.decoder.1"
        assert e.pixels.shape == (height, width, 3)
        [square] = e.classes
        assert square.name == "square" and square.class_index == CLASSES.index("square")
        _check_map(square.heatmap, height, width)
        assert square.heatmap.max() > 0.5  # min-max scaled: not all zero


def test_default_classes_leave_out_the_background_largest_first(
    seg_run: Path, seg_image: Path
) -> None:
    predictor = SegmentationPredictor.from_run_dir(seg_run, device="cpu")
    images = sorted((seg_run.parent.parent / "data" / "images").rglob("*.png"))[:6]
    results = explain_segments(predictor, images)
    [predicted] = predictor.predict([images[0]])
    assert results[0].shares == pytest.approx(predicted.shares)  # what `imgrec predict` says
    assert any(e.classes for e in results)
    for e in results:
        assert "background" in e.shares  # predicted, and still not explained
        names = [c.name for c in e.classes]
        assert "background" not in names and len(names) <= 3
        assert names == [n for n in e.shares if n != "background"][:3]
        shares = [c.share for c in e.classes]
        assert shares == sorted(shares, reverse=True) and all(s > 0 for s in shares)
        assert all(c.target == "predicted pixels" for c in e.classes)
    busiest = max(results, key=lambda e: len(e.classes))
    [only] = explain_segments(predictor, [images[results.index(busiest)]], top=1)
    assert [c.name for c in only.classes] == [busiest.classes[0].name]
    with pytest.raises(ConfigError, match="--top must be at least 1"):
        explain_segments(predictor, images[:1], top=0)


def test_a_class_can_be_asked_for_and_an_unknown_one_lists_the_names(
    seg_run: Path, seg_image: Path
) -> None:
    [e] = api.explain(seg_run, [seg_image], target_class="background", device="cpu")
    assert [c.name for c in e.classes] == ["background"]  # asked for, so explained
    [e] = api.explain(seg_run, [seg_image], target_class="Star", device="cpu")
    [star] = e.classes
    assert star.name == "star"
    if star.share == 0:  # painted nowhere: the whole image is the target
        assert star.target == "whole image"
    with pytest.raises(ConfigError, match=r"unknown class 'sqare'.*Did you mean 'square'") as err:
        api.explain(seg_run, [seg_image], target_class="sqare", device="cpu")
    assert ", ".join(CLASSES) in str(err.value)


def test_a_layer_can_be_named_and_a_wrong_one_lists_close_names(
    seg_run: Path, seg_image: Path
) -> None:
    [e] = api.explain(seg_run, [seg_image], target_class="circle", layer="net.encoder.2")
    assert e.layer == "net.encoder.2"
    _check_map(e.classes[0].heatmap, 37, 50)
    with pytest.raises(ModelError, match=r"layer 'net.decoder.9' does not exist.*net.decoder"):
        api.explain(seg_run, [seg_image], layer="net.decoder.9")


@pytest.mark.parametrize("method", SEGMENT_METHODS)
def test_every_method_gives_a_map(method: str, seg_run: Path, seg_image: Path) -> None:
    [e] = api.explain(seg_run, [seg_image], method=method, target_class="square", device="cpu")
    assert e.method == method
    _check_map(e.classes[0].heatmap, 37, 50)


def test_other_methods_and_options_are_refused(seg_run: Path, seg_image: Path) -> None:
    with pytest.raises(ConfigError, match=r"'lime' cannot explain a segmentation run") as err:
        api.explain(seg_run, [seg_image], method="lime")
    assert "support: gradcam, gradcam++, scorecam, eigencam, layercam" in str(err.value)
    with pytest.raises(ConfigError, match=r"Did you mean 'gradcam'"):
        api.explain(seg_run, [seg_image], method="gradkam")
    with pytest.raises(ConfigError, match="--detection, --conf only apply to a detection or"):
        api.explain(seg_run, [seg_image], detection=1, conf=0.5)
    with pytest.raises(ConfigError, match="method options only apply to a classification run"):
        api.explain(seg_run, [seg_image], options={"num_samples": 10})


def test_out_writes_an_overlay_and_a_map_per_class(
    seg_run: Path, seg_image: Path, tmp_path: Path
) -> None:
    [e] = api.explain(seg_run, [seg_image], target_class="square", out=tmp_path, device="cpu")
    [square] = e.classes
    assert square.png and Path(square.png).name == "000-odd-gradcam-square.png"
    assert np.array_equal(np.load(str(square.npy)), square.heatmap)
    panel = Image.open(square.png)
    assert panel.width > panel.height  # image | overlay side by side
    [listed] = json.loads((tmp_path / "explanations.json").read_text())
    assert listed["source"] == str(seg_image) and listed["layer"] == "net.decoder.1"
    assert (listed["width"], listed["height"]) == (50, 37) and "background" in listed["shares"]
    [entry] = listed["classes"]
    assert entry["class"] == "square" and entry["png"] == square.png
    assert {"share", "target", "peak", "npy"} <= set(entry)


@pytest.mark.parametrize(
    ("family", "options", "layer"),
    [
        ("lraspp", {}, "net.classifier.cbr"),
        ("fcn", {"backbone": "resnet18"}, "net.classifier.2"),
        ("unet", {"backbone": "resnet18"}, "net.decoder"),  # pads 48 px to 64: cells cropped
        ("deeplabv3plus", {"backbone": "resnet18"}, "net.decoder"),
    ],
)
def test_other_segmenters_get_a_layer_chosen(
    family: str, options: dict[str, str], layer: str
) -> None:
    torch.manual_seed(0)
    model = create_segmenter(family, num_classes=3, **options)
    card = ModelCard(
        task="segment",
        architecture=family,
        options=model.options,
        classes=["background", "cat", "dog"],
        preprocessing=Preprocessing(size=(48, 48)),
    )
    predictor = SegmentationPredictor(model, card)
    image = np.random.default_rng(0).integers(0, 255, (40, 56, 3), dtype=np.uint8)
    [e] = explain_segments(predictor, [image], target_class="dog")
    assert e.layer == layer and [c.name for c in e.classes] == ["dog"]
    _check_map(e.classes[0].heatmap, 40, 56)


def test_cli_explains_a_segmentation_run(seg_run: Path, seg_image: Path, tmp_path: Path) -> None:
    runner = CliRunner()
    out = tmp_path / "maps"
    done = runner.invoke(app, ["explain", str(seg_run), str(seg_image), "--out", str(out)])
    assert done.exit_code == 0, done.output
    assert "gradcam on layer net.decoder.1" in done.output and "odd.png" in done.output
    pngs = sorted(out.glob("000-odd-gradcam-*.png"))
    assert pngs and not any(p.name.endswith("-background.png") for p in pngs)
    assert (out / "explanations.json").is_file()
    asked = runner.invoke(
        app, ["explain", str(seg_run), str(seg_image), "--class", "circle", "--top", "1",
              "--out", str(out), "--json"],
    )  # fmt: skip
    assert asked.exit_code == 0, asked.output
    assert json.loads(asked.output)[0]["classes"][0]["class"] == "circle"
    refused = runner.invoke(app, ["explain", str(seg_run), str(seg_image), "--class", "dog"])
    assert refused.exit_code == 2 and "unknown class 'dog'" in refused.output


@pytest.fixture(scope="module")
def instance_run(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("instance-cam")
    data = write_shapes_instances(root / "data", n=12, img_size=48, seed=3)
    result = api.train(
        data, task="instance", epochs=1, img_size=48, batch_size=6, out=str(root / "runs"),
        name="inst-cam", show_progress=False, record=False, **{"model.options": {"width": 8}},
    )  # fmt: skip
    assert result.task == "instance"
    return result.run_dir


@pytest.mark.parametrize("method", ["eigencam", "gradcam"])
def test_an_instance_run_is_explained_per_box(
    method: str, instance_run: Path, tmp_path: Path
) -> None:
    image = sorted((instance_run.parent.parent / "data").rglob("*.png"))[0]
    width, height = Image.open(image).size
    [e] = api.explain(
        instance_run, [image], method=method, conf=0.0, top=2, out=tmp_path, device="cpu"
    )
    assert isinstance(e, DetectionExplanation) and e.method == method
    assert [d.rank for d in e.detections] == [1, 2]
    for box in e.detections:
        _check_map(box.heatmap, height, width)
        assert box.png and Path(box.png).is_file()
    [listed] = json.loads((tmp_path / "explanations.json").read_text())
    assert "rle" in listed["detections"][0]  # the instance's mask travels with its box
    with pytest.raises(ConfigError, match="this is an instance-segmentation run"):
        api.explain(instance_run, [image], target_class="circle")
