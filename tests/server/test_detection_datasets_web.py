"""Detection datasets on the web: a COCO (or YOLO) upload gets the report ``imgrec data check``
gives (images and objects per class and split, COCO box sizes, images without objects, every
problem with its file and line or key), its page draws the true boxes on the samples, and a
detection search started from the form reaches the worker as ``task: detect`` and its pages plot
val mAP."""

from __future__ import annotations

import json
import re
import shutil
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

from imgrec import api
from imgrec.data.detection import write_shapes_detection
from imgrec.store import Store
from tests.server.conftest import upload, wait_ready, zip_folder

EVIL = "<b>x</b>"


@pytest.fixture(scope="module")
def coco_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return write_shapes_detection(
        tmp_path_factory.mktemp("det") / "coco", n=12, img_size=64, seed=1
    )


def _broken(coco_dir: Path, tmp_path: Path) -> Path:
    """The COCO set with a malformed file, bad annotations, a missing image, an empty image."""
    folder = Path(shutil.copytree(coco_dir, tmp_path / "broken"))
    train = folder / "annotations" / "instances_train.json"
    data = json.loads(train.read_text())
    data["annotations"][0]["bbox"] = [50, 50, 40, 40]  # past the 64 px edge: clipped
    data["annotations"][1]["category_id"] = 99  # dropped
    data["annotations"][2]["bbox"] = EVIL  # dropped, and shown escaped
    data["images"].append({"id": 500, "file_name": "train/missing.png", "width": 9, "height": 9})
    emptied = data["images"][3]
    data["annotations"] = [a for a in data["annotations"] if a["image_id"] != emptied["id"]]
    train.write_text(json.dumps(data))
    (folder / "annotations" / "instances_val.json").write_text("{not json")
    return folder


def _ready(client: TestClient, folder: Path, name: str) -> dict[str, Any]:
    answer = upload(client, zip_folder(folder), name=name)
    assert answer.status_code == 202, answer.text
    return wait_ready(client, answer.json()["id"])


def test_a_coco_upload_gets_the_detection_report_and_boxes_on_its_samples(
    make_client: Callable[..., TestClient], coco_dir: Path
) -> None:
    client = make_client()
    found = _ready(client, coco_dir, "coco.zip")
    assert found["status"] == "ready" and found["usable"] is True
    assert (found["task"], found["layout"], found["num_images"]) == ("detect", "coco", 12)
    assert found["classes"] == ["circle", "square", "triangle", "star"]
    expected = api.check_data(coco_dir).to_dict()  # what `imgrec data check --json` says
    report = found["report"]
    for key in ("counts", "box_sizes", "images_without_objects", "classes", "layout"):
        assert report[key] == expected[key], key
    assert report["source"] == "coco.zip" and report["root"] == "" and report["problems"] == []
    per_class = report["images_per_class"]
    assert set(per_class) == {"train", "val", "test"}
    for split, counts in per_class.items():  # an image counts once for each class it shows
        assert sum(counts.values()) >= report["counts"]["images"][split]
        assert all(n <= report["counts"]["instances"][split][c] for c, n in counts.items())
    assert found["num_instances"] == report["counts"]["total_instances"]
    bands = {b for sizes in report["box_sizes"].values() for b in sizes}
    assert bands <= {"small", "medium", "large"}
    # the samples: thumbnails by index, each with its true boxes
    for name, images in found["sample_images"].items():
        assert len(images) == len(found["samples"][name]) > 0
        for image in images:
            assert any(b["label"] == name for b in image["boxes"])
            for b in image["boxes"]:
                x0, y0, x1, y1 = b["box"]
                assert 0 <= x0 < x1 <= image["width"] and 0 <= y0 < y1 <= image["height"]
    thumb = client.get(f"/api/datasets/{found['id']}/samples/3/0.png")
    assert thumb.status_code == 200 and thumb.content[:4] == b"\x89PNG"

    page = client.get(f"/datasets/{found['id']}").text
    for shown in ('id="det-per-class"', 'id="det-box-sizes"', 'id="det-counts"', "Box sizes"):
        assert shown in page
    boxes = re.findall(r'class="det-box[^"]*" style="left:[\d.]+%; top:[\d.]+%', page)
    drawn = sum(len(b["boxes"]) for images in found["sample_images"].values() for b in images)
    assert len(boxes) == drawn > 0
    assert '<span class="det-label" style="background: #3b5bdb">circle</span>' in page
    assert f'href="/experiments/new?dataset={found["id"]}"' in page
    assert str(client.app.state.config.home) not in page  # type: ignore[attr-defined]


def test_a_broken_dataset_lists_each_problem_with_its_file_and_key(
    make_client: Callable[..., TestClient], coco_dir: Path, tmp_path: Path
) -> None:
    client = make_client()
    found = _ready(client, _broken(coco_dir, tmp_path), "broken.zip")
    assert found["status"] == "ready" and found["usable"] is True  # the rest is trainable
    report = found["report"]
    places = {(p["file"], p["where"], p["outcome"]) for p in report["problems"]}
    assert places == {
        ("annotations/instances_val.json", "line 1 column 2", "skipped"),
        ("annotations/instances_train.json", "images[9]", "skipped"),
        ("annotations/instances_train.json", "annotations[0]", "clipped"),
        ("annotations/instances_train.json", "annotations[1]", "dropped"),
        ("annotations/instances_train.json", "annotations[2]", "dropped"),
    }
    assert report["problem_counts"] == {"skipped": 2, "clipped": 1, "dropped": 2}
    assert "val" not in report["counts"]["images"]  # its file was skipped
    assert report["images_without_objects"] == 1
    assert report["images_without_objects_files"] == ["images/train/shape_00004.png"]
    assert not any(str(tmp_path) in p["text"] for p in report["problems"])

    page = client.get(f"/datasets/{found['id']}").text
    assert 'id="det-problems"' in page and "unknown category_id 99" in page
    assert '<td class="mono">annotations[1]</td>' in page
    assert "&lt;b&gt;x&lt;/b&gt;" in page and EVIL not in page
    assert "images/train/shape_00004.png" in page
    assert client.get("/api/health").json()["status"] == "ok"


def test_unusable_and_yolo_uploads_say_why_with_the_line(
    make_client: Callable[..., TestClient], coco_dir: Path, tmp_path: Path
) -> None:
    client = make_client()
    unusable = Path(shutil.copytree(coco_dir, tmp_path / "unusable"))
    for file in (unusable / "annotations").glob("*.json"):
        file.write_text("[1, 2")
    found = _ready(client, unusable, "unusable.zip")
    assert found["status"] == "ready" and found["task"] == "detect"
    assert found["usable"] is False and "no training images" in found["error"]
    assert len(found["report"]["problems"]) == 3
    page = client.get(f"/datasets/{found['id']}").text
    assert "no training images with boxes" in page and 'id="new-experiment"' not in page
    refused = client.post("/api/experiments", json={"dataset_id": found["id"]})
    assert refused.status_code == 409

    yolo = api.convert_data(coco_dir, to="yolo", out=tmp_path / "yolo")
    label = sorted((yolo / "labels" / "train").glob("*.txt"))[0]
    label.write_text(label.read_text() + "0 0.5 0.5 0.2\n")
    found = _ready(client, yolo, "yolo.zip")
    assert (found["task"], found["layout"], found["usable"]) == ("detect", "yolo", True)
    [problem] = found["report"]["problems"]
    assert problem["file"] == f"labels/train/{label.name}" and problem["where"].startswith("line ")
    assert "expected 5 fields" in problem["message"]


def test_the_form_offers_detectors_and_val_map_for_a_detection_dataset(
    make_client: Callable[..., TestClient], coco_dir: Path
) -> None:
    client = make_client()
    dataset_id = _ready(client, coco_dir, "coco.zip")["id"]
    defaults = client.get("/api/search/defaults?task=detect").json()
    assert defaults["task"] == "detect" and defaults["models"] == api.detector_models()
    assert defaults["objective"] == "val_map" and "val_map" in defaults["metrics"]
    assert "val_accuracy" not in defaults["metrics"] and defaults["metric_labels"]["val_map"]
    assert defaults["params"]["batch_size"]["default"] == [8, 16]  # the detection space
    assert client.get("/api/search/defaults").json()["objective"] == "val_accuracy"
    assert client.get("/api/search/defaults?task=segment").json()["objective"] == "val_miou"
    assert client.get("/api/search/defaults?task=caption").status_code == 422

    form = client.get(f"/experiments/new?dataset={dataset_id}").text
    assert '<option value="detect" selected>' in form
    assert f'<option value="{dataset_id}" data-task="detect" selected>' in form
    assert "COCO detection, 12 images" in form


def test_a_detection_experiment_is_checked_and_recorded_as_detect(
    make_client: Callable[..., TestClient], coco_dir: Path
) -> None:
    client = make_client()
    dataset_id = _ready(client, coco_dir, "coco.zip")["id"]
    base = {"dataset_id": dataset_id, "trials": 1, "image_size": 64, "pruner": "none"}
    space = {"model": "tinydet", "epochs": 1, "lr": {"low": 1e-3, "high": 5e-3, "log": True}}
    cases: list[tuple[dict[str, Any], str]] = [
        ({"task": "classify"}, "task"),
        ({"metric": "val_accuracy"}, "metric"),
        ({"space": {**space, "model": ["tinydet", "fcos"]}}, "model"),
        ({"space": {**space, "model": "simple_cnn"}}, "model"),
        ({"space": {**space, "lr": {"low": 1, "high": 0.1}}}, "lr"),
    ]
    for change, field in cases:
        bad = client.post("/api/experiments", json={**base, "space": space, **change})
        assert bad.status_code == 422, (change, bad.text)
        assert set(bad.json()["detail"]["errors"]) == {field}, bad.text
    made = client.post(
        "/api/experiments", json={**base, "task": "detect", "name": "det-web", "space": space}
    )
    assert made.status_code == 201, made.text
    assert made.json()["task"] == "detect" and made.json()["metric"] == "val_map"
    store = Store(client.app.state.config.db_url)  # type: ignore[attr-defined]
    try:
        exp = store.get_experiment("det-web")
    finally:
        store.close()
    assert exp.task == "detect" and exp.objectives == [["val_map", "maximize"]]
    assert exp.base_config["task"] == "detect"
    assert exp.space["fixed"]["model.name"] == "tinydet"
    page = client.get(f"/experiments/{exp.id}").text
    assert 'data-metric="val_map"' in page and "Val mAP per epoch" in page
    assert 'data-metric="train_loss"' in page and "Test mAP" in page


@pytest.mark.slow
def test_the_worker_trains_the_detect_trial_and_the_pages_plot_val_map(
    make_client: Callable[..., TestClient], coco_dir: Path
) -> None:
    client = make_client()
    dataset_id = _ready(client, coco_dir, "coco.zip")["id"]
    space = {"model": "tinydet", "epochs": 1, "batch_size": 4, "lr": 0.003}
    body = {"dataset_id": dataset_id, "name": "det-run", "space": space, "trials": 1}
    made = client.post("/api/experiments", json=body | {"image_size": 64, "pruner": "none"})
    assert made.status_code == 201, made.text
    db = client.app.state.config.db_url  # type: ignore[attr-defined]
    assert api.worker(db=db, experiment="det-run", until_done=True) == 1
    detail = client.get(f"/api/experiments/{made.json()['id']}").json()
    [trial] = detail["trials"]
    assert trial["status"] == "completed", trial["error"]
    assert trial["task"] == "detect" and trial["model"] == "tinydet"
    assert trial["primary_metric"] == "map" and detail["best_value"] is not None
    with client.websocket_connect(f"ws://127.0.0.1/ws/experiments/{detail['id']}") as ws:
        snapshot = ws.receive_json()
    assert snapshot["epochs"] and snapshot["epochs"][0]["val_map"] is not None
    run_page = client.get(f"/runs/{trial['id']}").text
    data = json.loads(re.search(r'id="page-data">(.*?)</script>', run_page, re.S)[1])  # type: ignore[index]
    assert {"val_map", "train_loss"} <= {s["name"] for s in data["series"]}
    assert data["score_axis"] == "mAP" and data["epochs"][0]["val_map"] is not None
