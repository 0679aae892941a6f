"""The detection commands that need no training: zoo prediction and dataset conversion."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import skimage.data
from PIL import Image
from typer.testing import CliRunner

from imgrec.cli import app
from imgrec.data.detection import read_detection, write_shapes_detection


def test_predict_with_the_zoo_detector_draws_coco_boxes_offline(tmp_path: Path) -> None:
    photo = tmp_path / "astronaut.jpg"
    Image.fromarray(skimage.data.astronaut()).save(photo)
    (tmp_path / "broken.jpg").write_bytes(b"not a jpeg")
    drawn = tmp_path / "drawn"
    result = CliRunner().invoke(
        app,
        ["predict", "zoo:nanodet-coco", str(photo), str(tmp_path / "broken.jpg"), "--json",
         "--conf", "0.3", "--save-images", str(drawn)],
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    records = {Path(r["source"]).name: r for r in json.loads(result.stdout)}
    people = [d for d in records["astronaut.jpg"]["detections"] if d["label"] == "person"]
    assert people and people[0]["score"] > 0.5
    assert "broken.jpg" in records and records["broken.jpg"]["error"]
    assert list(drawn.glob("astronaut*.png"))


def test_an_unknown_zoo_model_names_the_shipped_ones(tmp_path: Path) -> None:
    photo = tmp_path / "x.png"
    Image.new("RGB", (32, 32)).save(photo)
    result = CliRunner().invoke(app, ["predict", "zoo:yolo99", str(photo)])
    assert result.exit_code != 0 and "zoo:nanodet-coco" in result.output


def test_data_convert_round_trips_through_yolo_and_voc(tmp_path: Path) -> None:
    source = write_shapes_detection(tmp_path / "coco", n=12, img_size=48, seed=1)
    runner = CliRunner()
    previous = source
    for layout in ("yolo", "voc", "coco"):
        out = tmp_path / f"as-{layout}"
        result = runner.invoke(app, ["data", "convert", str(previous), str(out), "--to", layout])
        assert result.exit_code == 0, result.output
        assert Path(result.stdout.strip().splitlines()[-1]) == out
        previous = out
    before = read_detection(source, work_dir=tmp_path / "w1")
    after = read_detection(previous, work_dir=tmp_path / "w2")
    assert after.classes == before.classes
    first = {Path(i.key).name: i for i in before.images}
    last = {Path(i.key).name: i for i in after.images}
    assert first.keys() == last.keys()
    for name, img in first.items():
        assert last[name].split == img.split
        np.testing.assert_allclose(last[name].boxes, img.boxes, atol=1e-3)
        assert last[name].labels.tolist() == img.labels.tolist()
    refused = runner.invoke(app, ["data", "convert", str(source), str(previous), "--to", "voc"])
    assert refused.exit_code != 0 and "not an empty folder" in refused.output


def test_predict_with_the_zoo_person_segmenter_writes_masks_offline(tmp_path: Path) -> None:
    photo = tmp_path / "astronaut.jpg"
    Image.fromarray(skimage.data.astronaut()).save(photo)
    result = CliRunner().invoke(
        app, ["predict", "zoo:selfie", str(photo), "--json", "--save-images", str(tmp_path / "m")]
    )
    assert result.exit_code == 0, result.output
    [record] = json.loads(result.stdout[: result.stdout.rindex("]") + 1])
    assert record["width"] == 512 and 0.15 < record["shares"]["person"] < 0.8
    mask = np.asarray(Image.open(tmp_path / "m" / "astronaut.png"))
    assert mask.shape == (512, 512) and mask[60:400, 150:280].mean() > 0.8  # her face and suit
    unknown = CliRunner().invoke(app, ["predict", "zoo:nope", str(photo)])
    assert unknown.exit_code != 0 and "zoo:selfie" in unknown.output
