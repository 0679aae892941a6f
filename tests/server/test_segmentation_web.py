"""Segmentation on the web: a mask-folder upload gets the report ``imgrec data check --task
segment`` gives (pixel shares and images per class and split, problems with file and advice) and
its samples drawn with their masks; a COCO set with masks is an instance dataset that may also
train detect and segment; the new-experiment form and API take both tasks with their models and
objectives; the run pages show mIoU or mask AP with their tables and plots; predicting an
uploaded image answers with the mask drawn over it, and a broken upload with a clear 4xx."""

from __future__ import annotations

import base64
import io
import json
import re
import shutil
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from fastapi.testclient import TestClient
from PIL import Image

from imgrec import api
from imgrec.data.detection import write_shapes_instances
from imgrec.data.segmentation import write_shapes_segmentation
from tests.server.conftest import upload, wait_ready, zip_folder


@dataclass(frozen=True)
class Trained:
    """A tiny run recorded in its own database."""

    run_dir: Path
    db: str
    run_id: int


@pytest.fixture(scope="module")
def seg_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return write_shapes_segmentation(tmp_path_factory.mktemp("seg") / "seg", n=12, img_size=32)


@pytest.fixture(scope="module")
def inst_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return write_shapes_instances(tmp_path_factory.mktemp("inst") / "inst", n=12, img_size=32)


def _train(root: Path, data: Path, task: str, options: dict[str, Any]) -> Trained:
    db = f"sqlite:///{root / 'web.db'}"
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("IMGREC_HOME", str(root / "home"))
        result = api.train(
            data, task=task, epochs=1, img_size=32, batch_size=4, show_progress=False, db=db,
            out=str(root / "runs"), name=f"{task}-web", **{"model.options": options},
        )  # fmt: skip
    assert result.task == task and result.run_id is not None
    return Trained(result.run_dir, db, result.run_id)


@pytest.fixture(scope="module")
def seg_run(tmp_path_factory: pytest.TempPathFactory, seg_dir: Path) -> Trained:
    return _train(tmp_path_factory.mktemp("seg-run"), seg_dir, "segment", {"width": 8, "depth": 2})


@pytest.fixture(scope="module")
def inst_run(tmp_path_factory: pytest.TempPathFactory, inst_dir: Path) -> Trained:
    return _train(tmp_path_factory.mktemp("inst-run"), inst_dir, "instance", {"width": 8})


def _ready(client: TestClient, folder: Path, name: str) -> dict[str, Any]:
    answer = upload(client, zip_folder(folder), name=name)
    assert answer.status_code == 202, answer.text
    return wait_ready(client, answer.json()["id"])


def _broken(seg_dir: Path, tmp_path: Path) -> Path:
    """The mask folders with an unreadable mask, a missing one, an orphan, a mask of the wrong
    size and one with values outside the classes."""
    folder = Path(shutil.copytree(seg_dir, tmp_path / "broken"))
    masks = folder / "masks" / "train"
    (masks / "shape_00001.png").write_bytes(b"garbage")
    (masks / "shape_00002.png").unlink()
    shutil.copy(folder / "masks" / "val" / "shape_00009.png", masks / "orphan<b>x.png")
    values = np.array(Image.open(masks / "shape_00003.png"))
    values[:3, :3] = 77
    Image.fromarray(values).save(masks / "shape_00003.png")
    Image.fromarray(np.zeros((10, 12), np.uint8)).save(masks / "shape_00004.png")
    return folder


def _page_data(html: str) -> dict[str, Any]:
    found = re.search(r'id="page-data">(.*?)</script>', html, re.S)
    assert found is not None
    data: dict[str, Any] = json.loads(found[1])
    return data


def test_a_mask_folder_upload_gets_the_segmentation_report_and_masks_on_its_samples(
    make_client: Callable[..., TestClient], seg_dir: Path
) -> None:
    client = make_client()
    found = _ready(client, seg_dir, "seg.zip")
    assert found["status"] == "ready" and found["usable"] is True, found["error"]
    assert (found["task"], found["tasks"], found["layout"]) == (
        "segment",
        ["segment"],
        "mask-folders",
    )
    assert found["classes"] == ["background", "circle", "square", "triangle", "star"]
    expected = api.check_segmentation_data(seg_dir).to_dict()  # `imgrec data check --json`
    report = found["report"]
    for key in ("counts", "pixel_share", "pixel_share_total", "classes", "empty_masks"):
        assert report[key] == expected[key], key
    assert report["source"] == "seg.zip" and report["root"] == "" and report["problems"] == []
    for name, images in found["sample_images"].items():
        assert len(images) == len(found["samples"][name])
        for image in images:
            assert name in image["shows"] and 0 < image["share"] <= 1 and image["overlay"]
    thumb = client.get(f"/api/datasets/{found['id']}/samples/1/0.png")
    assert thumb.status_code == 200 and thumb.content[:4] == b"\x89PNG"
    drawn = Image.open(io.BytesIO(thumb.content))
    assert drawn.size == (320, 320)  # a 32 px image enlarged, its mask drawn in
    plain = Image.open(seg_dir / found["sample_images"]["circle"][0]["file"])
    assert not np.array_equal(np.asarray(drawn.resize((32, 32))), np.asarray(plain.convert("RGB")))
    assert client.get(f"/api/datasets/{found['id']}/samples/1/99.png").status_code == 404
    assert client.get(f"/api/datasets/{found['id']}/samples/9/0.png").status_code == 404

    page = client.get(f"/datasets/{found['id']}").text
    for shown in (
        'id="seg-pixel-share"',
        'id="seg-images"',
        'id="seg-counts"',
        "Semantic segmentation",
    ):
        assert shown in page
    assert page.count('class="det-sample seg-sample"') == sum(
        len(s) for s in found["samples"].values()
    )
    assert "with its true mask" in page and "None: every image and mask was read" in page
    data = _page_data(page)
    assert data["task"] == "segment" and data["classes"] == found["classes"]
    assert data["pixel_share"]["train"] == [
        report["pixel_share"]["train"][c] for c in data["classes"]
    ]
    assert f'href="/experiments/new?dataset={found["id"]}"' in page
    assert str(client.app.state.config.home) not in page  # type: ignore[attr-defined]
    listing = client.get("/datasets").text
    assert "segmentation" in listing and "MASK-FOLDERS" in listing


def test_a_broken_segmentation_upload_lists_each_problem_with_its_file_and_what_to_do(
    make_client: Callable[..., TestClient], seg_dir: Path, tmp_path: Path
) -> None:
    client = make_client()
    found = _ready(client, _broken(seg_dir, tmp_path), "broken.zip")
    assert found["status"] == "ready" and found["usable"] is True  # the rest is trainable
    report = found["report"]
    problems = {p["file"]: p for p in report["problems"]}
    assert {(f, p["kind"], p["outcome"]) for f, p in problems.items()} == {
        ("images/train/shape_00002.png", "missing-mask", "excluded"),
        ("masks/train/orphan<b>x.png", "orphan-mask", "skipped"),
        ("masks/train/shape_00001.png", "unreadable-mask", "excluded"),
        ("masks/train/shape_00004.png", "size-mismatch", "excluded"),
        ("masks/train/shape_00003.png", "unknown-class", "kept"),
    }
    assert report["problem_counts"] == {"excluded": 3, "skipped": 1, "kept": 1}
    assert all(p["advice"] and p["message"] for p in report["problems"])
    assert not any(str(tmp_path) in p["text"] for p in report["problems"])
    assert report["counts"]["total_images"] == 9

    page = client.get(f"/datasets/{found['id']}").text
    assert 'id="seg-problems"' in page and "export the mask again as a PNG" in page
    assert "mask is 12x10 but its image" in page and "add its mask, or remove the image" in page
    assert "orphan&lt;b&gt;x.png" in page and "<b>x" not in page
    assert client.get("/api/health").json()["status"] == "ok"


def test_a_coco_upload_with_masks_is_an_instance_dataset_that_can_train_three_tasks(
    make_client: Callable[..., TestClient], inst_dir: Path, tmp_path: Path
) -> None:
    client = make_client()
    found = _ready(client, inst_dir, "inst.zip")
    assert found["status"] == "ready" and found["usable"] is True, found["error"]
    assert (found["task"], found["layout"]) == ("instance", "coco")
    assert found["tasks"] == ["instance", "detect", "segment"]
    report = found["report"]
    assert report["masks"] == {"objects_with_mask": 29, "objects_without_mask": 0}
    assert all(s["overlay"] for images in found["sample_images"].values() for s in images)
    thumb = client.get(f"/api/datasets/{found['id']}/samples/0/0.png")
    assert thumb.status_code == 200 and Image.open(io.BytesIO(thumb.content)).size == (320, 320)
    page = client.get(f"/datasets/{found['id']}").text
    assert "instance segmentation" in page and 'id="det-mask-count">29' in page
    assert 'id="other-tasks"' in page and "Object detection, Semantic segmentation" in page
    assert "boxes and their masks" in page and 'class="det-box' in page

    form = client.get(f"/experiments/new?dataset={found['id']}").text
    assert '<option value="instance" selected>' in form and '<option value="segment">' in form
    assert "COCO instance segmentation" in form
    tasks = _page_data(form)["dataset_tasks"]
    assert tasks[found["id"]] == ["instance", "detect", "segment"]

    unreadable = Path(shutil.copytree(inst_dir, tmp_path / "unreadable"))
    for file in (unreadable / "annotations").glob("*.json"):
        file.write_text("[1, 2")  # no mask read after all: checked as detection
    found = _ready(client, unreadable, "unreadable.zip")
    assert (found["task"], found["tasks"], found["usable"]) == ("detect", ["detect"], False)
    assert "no training images with boxes" in found["error"]


def test_the_form_and_api_take_segment_and_instance_searches(
    make_client: Callable[..., TestClient], seg_dir: Path, inst_dir: Path
) -> None:
    client = make_client()
    seg_id = _ready(client, seg_dir, "seg.zip")["id"]
    inst_id = _ready(client, inst_dir, "inst.zip")["id"]
    segment = client.get("/api/search/defaults?task=segment").json()
    assert segment["models"] == api.task_models("segment") and segment["models"][0] == "smallunet"
    assert segment["objective"] == "val_miou" and "val_pixel_accuracy" in segment["metrics"]
    assert "val_accuracy" not in segment["metrics"] and segment["metric_labels"]["val_miou"]
    instance = client.get("/api/search/defaults?task=instance").json()
    assert (
        instance["models"] == ["tinymask", "maskrcnn"] and instance["objective"] == "val_mask_map"
    )
    assert client.get("/api/search/defaults?task=panoptic").status_code == 422
    form = client.get(f"/experiments/new?dataset={seg_id}").text
    assert '<option value="segment" selected>' in form and "mask-folders segmentation" in form

    base = {"dataset_id": seg_id, "trials": 1, "image_size": 32, "pruner": "none"}
    space = {"model": "smallunet", "epochs": 1, "lr": {"low": 1e-3, "high": 5e-3, "log": True}}
    cases: list[tuple[dict[str, Any], str, str]] = [
        ({"task": "detect"}, "task", "this dataset is for segment"),
        ({"metric": "val_map"}, "metric", "not a segment metric"),
        ({"space": {**space, "model": "tinydet"}}, "model", "unknown segmenter 'tinydet'"),
        ({"space": {**space, "model": ["smallunet", "unet"]}}, "model", "pick one"),
    ]
    for change, field, says in cases:
        bad = client.post("/api/experiments", json={**base, "space": space, **change})
        assert bad.status_code == 422, (change, bad.text)
        assert set(bad.json()["detail"]["errors"]) == {field}, bad.text
        assert says in bad.json()["detail"]["errors"][field], bad.text
    made = client.post("/api/experiments", json={**base, "name": "seg-web", "space": space})
    assert made.status_code == 201, made.text
    assert made.json()["task"] == "segment" and made.json()["metric"] == "val_miou"
    page = client.get(f"/experiments/{made.json()['id']}").text
    assert 'data-metric="val_miou"' in page and "Test mIoU" in page

    inst = {**base, "dataset_id": inst_id, "space": {**space, "model": "tinymask"}}
    wrong = client.post("/api/experiments", json={**inst, "space": space})
    assert wrong.status_code == 422 and "unknown instance segmenter" in wrong.text
    made = client.post("/api/experiments", json={**inst, "name": "inst-web"})
    assert made.status_code == 201 and made.json()["metric"] == "val_mask_map", made.text
    as_segment = client.post(  # a COCO set with masks trains semantic segmentation too
        "/api/experiments", json={**base, "dataset_id": inst_id, "task": "segment", "space": space}
    )
    assert as_segment.status_code == 201 and as_segment.json()["task"] == "segment", as_segment.text


@pytest.mark.slow
def test_a_segmentation_run_shows_miou_per_class_iou_and_its_plots(
    seg_run: Trained, make_client: Callable[..., TestClient]
) -> None:
    client = make_client(db_url=seg_run.db)
    detail = client.get(f"/api/runs/{seg_run.run_id}").json()
    assert detail["run"]["task"] == "segment" and detail["run"]["primary_metric"] == "miou"
    assert {"val_miou", "train_loss"} <= set(detail["epochs"][0])
    assert {"class", "iou", "dice", "pixels_true"} <= set(detail["per_class"][0])
    plots = {"class_iou.png", "mask_overlays.png", "confusion_matrix_normalized.png"}
    assert plots | {"learning_curves.png"} <= set(detail["images"])
    page = client.get(f"/runs/{seg_run.run_id}").text
    metrics = json.loads((seg_run.run_dir / "metrics.json").read_text())
    assert f'id="score-miou">{metrics["miou"]:.3g}<' in page
    assert 'id="score-pixel-accuracy"' in page and 'id="score-mean-dice"' in page
    assert page.count("<tr>", page.index('id="iou-per-class"')) >= len(metrics["per_class"])
    for plot in [*plots, "learning_curves.png"]:
        assert f"/api/runs/{seg_run.run_id}/files/{plot}" in page
    assert "Test accuracy" not in page and "Grad-CAM heatmap</label>" not in page
    assert "Look inside" not in page and 'id="predict-form"' in page
    data = _page_data(page)
    assert data["score_axis"] == "mIoU" and "val_miou" in {s["name"] for s in data["series"]}
    assert client.get(f"/api/runs/{seg_run.run_id}/files/mask_overlays.png").status_code == 200


@pytest.mark.slow
def test_an_instance_run_shows_mask_and_box_ap_per_class_and_its_plots(
    inst_run: Trained, make_client: Callable[..., TestClient]
) -> None:
    client = make_client(db_url=inst_run.db)
    detail = client.get(f"/api/runs/{inst_run.run_id}").json()
    assert detail["run"]["task"] == "instance" and detail["run"]["primary_metric"] == "mask_map"
    assert {"mask_map", "mask_map50", "mask_map75", "map", "map50"} <= set(detail["metrics"])
    page = client.get(f"/runs/{inst_run.run_id}").text
    for score in ("mask-map", "mask-map50", "mask-map75", "map", "map50"):
        assert f'id="score-{score}"' in page
    assert 'id="mask-ap-per-class"' in page
    assert page.count("<tr>", page.index('id="mask-ap-per-class"')) >= 4
    for plot in (
        "instances_worst.png",
        "pr_curves_masks.png",
        "pr_curves.png",
        "learning_curves.png",
    ):
        assert f"/api/runs/{inst_run.run_id}/files/{plot}" in page
    assert _page_data(page)["score_axis"] == "mask mAP"


def _predict(client: TestClient, run_id: int, body: bytes, query: str = "") -> Any:
    return client.post(
        f"/api/runs/{run_id}/predict{query}", content=body, headers={"content-type": "image/png"}
    )


@pytest.mark.slow
def test_predicting_with_a_segmenter_draws_the_mask_and_a_broken_upload_is_a_clear_4xx(
    seg_run: Trained, seg_dir: Path, make_client: Callable[..., TestClient]
) -> None:
    client = make_client(db_url=seg_run.db)
    image = next((seg_dir / "images" / "test").glob("*.png"))
    answer = _predict(client, seg_run.run_id, image.read_bytes())
    assert answer.status_code == 200, answer.text
    found = answer.json()
    assert found["task"] == "segment" and found["predictions"] == [] and found["shares"]
    assert sum(s["share"] for s in found["shares"]) == pytest.approx(1.0, abs=1e-3)
    assert {s["label"] for s in found["shares"]} <= {
        "background",
        "circle",
        "square",
        "triangle",
        "star",
    }
    drawn = Image.open(io.BytesIO(base64.b64decode(found["drawn_png"])))
    assert drawn.size == Image.open(image).size
    grey = io.BytesIO()
    Image.open(image).convert("L").resize((50, 40)).save(grey, format="PNG")
    other = _predict(client, seg_run.run_id, grey.getvalue()).json()  # any size, any mode
    assert Image.open(io.BytesIO(base64.b64decode(other["drawn_png"]))).size == (50, 40)

    truncated = image.read_bytes()[:60]
    for body, says in ((b"nope", "not an image"), (truncated, "not an image"), (b"", "no image")):
        broken = _predict(client, seg_run.run_id, body)
        assert broken.status_code == 400 and says in broken.json()["detail"], broken.text
    wrong_type = client.post(
        f"/api/runs/{seg_run.run_id}/predict", content=b"x", headers={"content-type": "text/plain"}
    )
    assert wrong_type.status_code == 415
    assert client.get("/api/health").json()["status"] == "ok"  # still serving
    assert _predict(client, seg_run.run_id, image.read_bytes()).status_code == 200


@pytest.mark.slow
def test_predicting_with_an_instance_segmenter_draws_masks_and_boxes(
    inst_run: Trained, inst_dir: Path, make_client: Callable[..., TestClient]
) -> None:
    client = make_client(db_url=inst_run.db)
    image = next((inst_dir / "images" / "test").glob("*.png"))
    answer = _predict(client, inst_run.run_id, image.read_bytes(), "?conf=0.0")
    assert answer.status_code == 200, answer.text
    found = answer.json()
    assert found["task"] == "instance" and found["shares"] == []
    for obj in found["detections"]:
        assert {"label", "score", "box", "mask_pixels"} <= set(obj) and obj["mask_pixels"] >= 0
    drawn = Image.open(io.BytesIO(base64.b64decode(found["drawn_png"])))
    assert drawn.size == Image.open(image).size
    broken = _predict(client, inst_run.run_id, b"\x89PNG\r\n\x1a\nbroken")
    assert broken.status_code == 400 and "not an image" in broken.json()["detail"]
