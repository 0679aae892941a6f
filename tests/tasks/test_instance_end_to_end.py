"""Instance segmentation end to end: synth, check, train, predict (any image), eval, errors."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pytest
from PIL import Image
from pycocotools.coco import COCO
from pycocotools.cocoeval import COCOeval
from typer.testing import CliRunner

from imgrec import api
from imgrec.cli import app
from imgrec.data.detection import decode_segmentation, write_shapes_detection
from imgrec.data.detection import write_shapes_instances as write_instances
from imgrec.errors import ConfigError, DatasetError, ImgrecError


@pytest.fixture(scope="module")
def instance_run(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    root = tmp_path_factory.mktemp("instance")
    data = write_instances(root / "data", n=30, img_size=48, seed=3)
    result = api.train(
        data, task="instance", epochs=2, img_size=48, batch_size=6, out=str(root / "runs"),
        name="inst", show_progress=False, record=False, **{"model.options": {"width": 8}},
    )  # fmt: skip
    return data, result.run_dir


def test_training_writes_box_and_mask_metrics_and_the_files(
    instance_run: tuple[Path, Path],
) -> None:
    _, run = instance_run
    metrics = json.loads((run / "metrics.json").read_text())
    card = json.loads((run / "card.json").read_text())
    assert card["task"] == "instance" and card["architecture"] == "tinymask"
    assert "mask_map" in card["metrics"] and "map" in card["metrics"]
    for key in ("mask_map", "mask_map50", "map", "map50"):
        assert 0.0 <= metrics[key] <= 1.0, key
    assert len(metrics["mask_per_class"]) == len(card["classes"])
    for name in ("test_ground_truth.json", "test_predictions.json", "pr_curves_masks.png",
                 "pr_curves.png", "instances_worst.png", "learning_curves.png"):  # fmt: skip
        assert (run / name).stat().st_size > 0, name
    history = (run / "history.csv").read_text().splitlines()
    assert "val_mask_map" in history[0] and len(history) == 3


def test_saved_files_reproduce_the_mask_and_box_figures(instance_run: tuple[Path, Path]) -> None:
    _, run = instance_run
    metrics = json.loads((run / "metrics.json").read_text())
    results = json.loads((run / "test_predictions.json").read_text())
    assert results and all(isinstance(r["segmentation"]["counts"], str) for r in results)
    gt = COCO(str(run / "test_ground_truth.json"))
    for iou_type, key in (("segm", "mask_map"), ("bbox", "map")):
        records = results if iou_type == "bbox" else [
            {k: v for k, v in r.items() if k != "bbox"} for r in results
        ]  # fmt: skip
        ev = COCOeval(gt, gt.loadRes(records), iouType=iou_type)
        ev.evaluate()
        ev.accumulate()
        ev.summarize()
        assert metrics[key] == pytest.approx(max(float(ev.stats[0]), 0.0), abs=1e-4)


def test_any_image_gets_masks_at_its_own_size(instance_run: tuple[Path, Path], tmp_path) -> None:
    _, run = instance_run
    model = api.load(run, device="cpu")
    odd = Image.new("L", (37, 23), 128)  # grayscale, odd size
    large = np.random.default_rng(0).integers(0, 255, (3000, 4000, 3), dtype=np.uint8)
    broken = tmp_path / "broken.png"
    broken.write_bytes(b"not an image")
    preds = model.predict([odd, large, broken], conf=0.0)
    assert (preds[0].width, preds[0].height) == (37, 23)
    assert (preds[1].width, preds[1].height) == (4000, 3000)
    assert preds[2].error and "broken.png" in preds[2].error
    for p in preds[:2]:
        for d in p.detections:
            assert d.rle["size"] == [p.height, p.width]
            assert d.mask().shape == (p.height, p.width)
            assert 0 <= d.box[0] <= d.box[2] <= p.width and 0 <= d.box[1] <= d.box[3] <= p.height
    files = preds[0].save(tmp_path / "out", "odd", image=odd)
    ids = np.asarray(Image.open(files["instances"]))
    assert ids.shape == (23, 37) and ids.max() <= len(preds[0].detections)
    assert Image.open(files["overlay"]).size == (37, 23)


def test_eval_on_the_own_split_repeats_the_training_figures(
    instance_run: tuple[Path, Path],
) -> None:
    _, run = instance_run
    trained = json.loads((run / "metrics.json").read_text())
    again = api.evaluate(run, device="cpu")
    assert again["mask_map"] == pytest.approx(trained["mask_map"], abs=1e-9)
    assert again["map"] == pytest.approx(trained["map"], abs=1e-9)


def test_cli_predict_json_has_rle_and_polygons(instance_run: tuple[Path, Path], tmp_path) -> None:
    data, run = instance_run
    image = next((data / "images").rglob("*.png"))
    out = CliRunner().invoke(
        app,
        ["predict", str(run), str(image), "--json", "--conf", "0.0", "--save-images",
         str(tmp_path / "m")],
    )  # fmt: skip
    assert out.exit_code == 0, out.output
    [record] = json.loads(out.stdout[: out.stdout.rindex("]") + 1])
    assert record["error"] is None and record["width"] == 48
    for det in record["detections"]:
        mask = decode_segmentation(det["rle"], 48, 48)
        assert mask.shape == (48, 48)
        assert all(len(p) >= 6 and len(p) % 2 == 0 for p in det["polygons"])
    assert {p.name for p in (tmp_path / "m").iterdir()} == {
        f"{image.stem}.png",
        f"{image.stem}-classes.png",
        f"{image.stem}-overlay.png",
    }


def test_resume_continues_an_instance_run(instance_run: tuple[Path, Path], tmp_path) -> None:
    _, run = instance_run
    copy = tmp_path / "inst"
    shutil.copytree(run, copy)
    resumed = api.train(resume=copy, epochs=3, show_progress=False, record=False)
    history = (copy / "history.csv").read_text().splitlines()
    assert len(history) == 4 and resumed.metrics["training"]["epochs_completed"] == 3


def test_boxes_only_and_wrong_task_are_clear_errors(tmp_path) -> None:
    boxes = write_shapes_detection(tmp_path / "det", n=6, img_size=32, seed=0)
    needs = r"--task instance reads \(coco with polygon or RLE masks"
    with pytest.raises((DatasetError, ConfigError), match=needs):
        api.train(boxes, task="instance", epochs=1, record=False, show_progress=False)
    with pytest.raises(ImgrecError, match=r"unknown instance segmenter 'tinymsk'.*tinymask"):
        data = write_instances(tmp_path / "inst", n=6, img_size=32)
        api.train(data, task="instance", model="tinymsk", epochs=1, record=False)
