"""A detection run on the web: its API detail, its page (AP per class, PR curves, boxes on test
images) and predicting an uploaded image, which comes back with its boxes drawn."""

from __future__ import annotations

import base64
import io
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from PIL import Image

from imgrec import api
from imgrec.data.detection import write_shapes_detection


@pytest.fixture(scope="module")
def detection_run(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, str]:
    root = tmp_path_factory.mktemp("detect-web")
    data = write_shapes_detection(root / "data", n=24, img_size=64, seed=3)
    db = f"sqlite:///{root / 'web.db'}"
    result = api.train(
        data, task="detect", epochs=1, img_size=64, batch_size=4, out=str(root / "runs"),
        name="det-web", show_progress=False, db=db,
    )  # fmt: skip
    assert result.task == "detect" and result.primary_metric == "map"
    assert result.score("map50") is not None and result.score("accuracy") is None
    return result.run_dir, db


@pytest.mark.slow
def test_a_detection_run_shows_ap_per_class_curves_and_boxes(
    detection_run: tuple[Path, str], make_client: Callable[..., TestClient]
) -> None:
    _, db = detection_run
    client = make_client(db_url=db)
    [run] = client.get("/api/runs").json()["items"]
    assert run["task"] == "detect" and run["primary_metric"] == "map"
    assert run["scores"]["map"] == pytest.approx(run["primary_value"])
    detail = client.get(f"/api/runs/{run['id']}").json()
    assert {"val_map", "val_map50", "train_loss"} <= set(detail["epochs"][0])
    assert {"ap", "ap50", "instances"} <= set(detail["per_class"][0])
    assert {"pr_curves.png", "detection_confusion.png", "detections_worst.png"} <= set(
        detail["images"]
    )
    page = client.get(f"/runs/{run['id']}").text
    for shown in ("AP per class", "Test mAP", "pr_curves.png", "detections_worst.png"):
        assert shown in page
    assert "Grad-CAM heatmap</label>" not in page and "Test accuracy" not in page


@pytest.mark.slow
def test_predicting_an_uploaded_image_draws_its_boxes(
    detection_run: tuple[Path, str], make_client: Callable[..., TestClient]
) -> None:
    run_dir, db = detection_run
    client = make_client(db_url=db)
    [run] = client.get("/api/runs").json()["items"]
    image = next((run_dir.parent.parent / "data" / "images" / "test").glob("*"))
    answer: dict[str, Any] = client.post(
        f"/api/runs/{run['id']}/predict?conf=0.0",
        content=image.read_bytes(),
        headers={"content-type": "image/png"},
    ).json()
    assert answer["predictions"] == [] and answer["detections"]
    assert {"label", "score", "box"} <= set(answer["detections"][0])
    drawn = Image.open(io.BytesIO(base64.b64decode(answer["drawn_png"])))
    assert drawn.size == Image.open(image).size
    broken = client.post(
        f"/api/runs/{run['id']}/predict", content=b"nope", headers={"content-type": "image/png"}
    )
    assert broken.status_code == 400
