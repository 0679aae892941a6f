"""The JSON API through the real app, on SQLite and PostgreSQL: experiments, runs, models."""

from __future__ import annotations

import io
import zipfile
from pathlib import Path

from fastapi.testclient import TestClient
from PIL import Image

from imgrec.store import Store
from tests.server.conftest import register_run_dir, seed_runs, upload, wait_ready
from tests.store.test_store_contract import _experiment


def _store(client: TestClient) -> Store:
    store: Store = client.app.state.store  # type: ignore[attr-defined]
    return store


def _dataset(client: TestClient, shapes_zip: bytes) -> str:
    dataset_id: str = upload(client, shapes_zip).json()["id"]
    assert wait_ready(client, dataset_id)["usable"]
    return dataset_id


def test_openapi_documents_every_route(client: TestClient) -> None:
    paths = client.get("/openapi.json").json()["paths"]
    for path in (
        "/api/datasets",
        "/api/datasets/{dataset_id}",
        "/api/experiments",
        "/api/experiments/{experiment_id}",
        "/api/experiments/{experiment_id}/cancel",
        "/api/runs",
        "/api/runs/{run_id}",
        "/api/runs/{run_id}/model.zip",
        "/api/runs/{run_id}/predict",
        "/api/search/defaults",
    ):
        assert path in paths, path
    assert not any(p.startswith("/runs") for p in paths)  # pages stay out of the API schema


def test_experiment_is_created_validated_and_cancelled(
    client: TestClient, shapes_zip: bytes
) -> None:
    dataset_id = _dataset(client, shapes_zip)
    bad = client.post(
        "/api/experiments",
        json={
            "dataset_id": dataset_id,
            "space": {"lr": {"low": 1.0, "high": 0.1}, "batch_size": [], "model": ["nope"]},
        },
    )
    assert bad.status_code == 422
    errors = bad.json()["detail"]["errors"]
    assert set(errors) == {"lr", "batch_size", "model"}
    assert "greater than high" in errors["lr"]
    space = {"lr": {"low": 1e-3, "high": 1e-2, "log": True}, "epochs": 2}
    made = client.post(
        "/api/experiments",
        json={"dataset_id": dataset_id, "name": "web-1", "space": space, "trials": 3},
    )
    assert made.status_code == 201, made.text
    exp = made.json()
    assert exp["status"] == "open" and exp["n_trials"] == 3 and exp["dataset_id"] == dataset_id
    assert exp["progress"]["done"] == 0 and exp["progress"]["eta_s"] is None
    again = client.post(
        "/api/experiments", json={"dataset_id": dataset_id, "name": "web-1", "space": space}
    )
    assert again.status_code == 409 and "name" in again.json()["detail"]["errors"]
    missing = client.post("/api/experiments", json={"dataset_id": "0" * 12})
    assert missing.status_code == 404
    detail = client.get(f"/api/experiments/{exp['id']}").json()
    assert detail["trials"] == [] and detail["name"] == "web-1"
    assert [e["id"] for e in client.get("/api/experiments").json()] == [exp["id"]]
    cancelled = client.post(f"/api/experiments/{exp['id']}/cancel").json()
    assert cancelled["status"] == "cancelled"
    assert client.get("/api/experiments/999").status_code == 404


def test_search_defaults(client: TestClient) -> None:
    found = client.get("/api/search/defaults").json()
    assert "simple_cnn" in found["models"] and "lr" in found["params"]
    assert found["default_space"]["lr"]["log"] is True
    assert "median" in found["pruners"] and "val_accuracy" in found["metrics"]


def test_experiment_progress_history_and_eta(client: TestClient) -> None:
    store = _store(client)
    exp = _experiment(store, "seeded", n_trials=10)
    for _ in range(5):
        store.claim_trial()
    seed_runs(store, 5, experiment_id=exp.id)
    found = client.get(f"/api/experiments/{exp.id}").json()
    progress = found["progress"]
    assert (progress["done"], progress["complete"], progress["failed"]) == (5, 4, 1)
    assert progress["eta_s"] is not None and progress["fraction"] == 0.5
    assert found["best_value"] == 0.3 + 0.05 * 3  # run 4 failed; run 3 is the best completed
    history = client.get(f"/api/experiments/{exp.id}/history").json()
    assert [p["trial"] for p in history["points"]] == [0, 1, 2, 3]
    assert [round(p["best"], 2) for p in history["points"]] == [0.3, 0.35, 0.4, 0.45]
    # a study-less experiment row (made outside imgrec.tune) has no importances, not an error
    assert client.get(f"/api/experiments/{exp.id}/importance").json() == {"params": {}}


def test_runs_are_filtered_sorted_and_paged(client: TestClient) -> None:
    seed_runs(_store(client), 12)
    page = client.get("/api/runs?limit=5").json()
    assert page["total"] == 12 and len(page["items"]) == 5
    assert page["items"][0]["name"] == "run-011"
    by_accuracy = client.get("/api/runs?sort=accuracy&limit=3").json()["items"]
    assert [r["name"] for r in by_accuracy] == ["run-000", "run-001", "run-002"]
    failed = client.get("/api/runs?status=failed").json()
    assert failed["total"] == 2 and {r["status"] for r in failed["items"]} == {"failed"}
    assert client.get("/api/runs?model=resnet18").json()["total"] == 6
    assert client.get("/api/runs?q=run-00").json()["total"] == 10
    assert client.get("/api/runs?offset=10").json()["items"][-1]["name"] == "run-000"
    assert client.get("/api/runs?sort=password").status_code == 422
    ids = [r["id"] for r in by_accuracy]
    rows = client.get(f"/api/runs/compare?ids={ids[0]},{ids[1]}").json()["rows"]
    assert rows and client.get("/api/runs/compare?ids=a,b").status_code == 422
    created = client.get(f"/api/runs/{ids[0]}").json()["run"]["created_at"]
    assert created.endswith(("Z", "+00:00"))  # times say they are UTC


def test_run_detail_model_download_and_predict(
    client: TestClient, trained_run: Path, shapes_dir: Path, tmp_path: Path
) -> None:
    run_id = register_run_dir(_store(client), trained_run)
    detail = client.get(f"/api/runs/{run_id}").json()
    assert detail["has_model"] and detail["metrics"]["accuracy"] is not None
    assert [row["class"] for row in detail["per_class"]][:4] == [
        "circle",
        "square",
        "star",
        "triangle",
    ]
    assert len(detail["confusion"]["matrix"]) == 4 and "confusion_matrix.png" in detail["images"]
    png = client.get(f"/api/runs/{run_id}/files/confusion_matrix.png")
    assert png.status_code == 200 and png.content[:4] == b"\x89PNG"
    for bad in ("..%2Fconfig.yaml", "card.json.exe", ".hidden.png", "missing.png", "config.yaml"):
        assert client.get(f"/api/runs/{run_id}/files/{bad}").status_code == 404, bad
    download = client.get(f"/api/runs/{run_id}/model.zip")
    assert download.status_code == 200 and "attachment" in download.headers["content-disposition"]
    with zipfile.ZipFile(io.BytesIO(download.content)) as zf:
        assert {"model.safetensors", "card.json"} <= set(zf.namelist())
        zf.extractall(tmp_path / "model")
    import imgrec

    image = next((shapes_dir / "star").glob("*.png"))
    assert imgrec.predict(tmp_path / "model", [image])[0].label is not None
    answer = client.post(
        f"/api/runs/{run_id}/predict?explain=gradcam",
        content=image.read_bytes(),
        headers={"content-type": "image/png"},
    )
    assert answer.status_code == 200, answer.text
    body = answer.json()
    assert len(body["predictions"]) == 4 and body["heatmap_png"]
    assert abs(sum(p["probability"] for p in body["predictions"]) - 1) < 1e-3
    not_image = client.post(
        f"/api/runs/{run_id}/predict", content=b"hello", headers={"content-type": "image/png"}
    )
    assert not_image.status_code == 400 and "not an image" in not_image.json()["detail"]
    assert client.get("/api/runs/4242/model.zip").status_code == 404


def test_a_run_without_a_model_cannot_be_downloaded(client: TestClient) -> None:
    (run_id,) = seed_runs(_store(client), 1)
    answer = client.get(f"/api/runs/{run_id}/model.zip")
    assert answer.status_code == 404 and "run directory" in answer.json()["detail"]


def test_thumbnails_of_grayscale_images(client: TestClient, tmp_path: Path) -> None:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as zf:
        for cls in ("a", "b"):
            for i in range(6):
                img = io.BytesIO()
                Image.new("L", (300, 200), 40 * i).save(img, format="PNG")
                zf.writestr(f"{cls}/{i}.png", img.getvalue())
    dataset_id = upload(client, buffer.getvalue()).json()["id"]
    wait_ready(client, dataset_id)
    thumb = client.get(f"/api/datasets/{dataset_id}/samples/1/0.png")
    with Image.open(io.BytesIO(thumb.content)) as img:
        assert max(img.size) == 128 and img.mode == "RGB"


def test_inspect_views_of_a_run(client: TestClient, trained_run: Path) -> None:
    run_id = register_run_dir(_store(client), trained_run)
    filters = client.get(f"/api/runs/{run_id}/inspect/filters").json()
    assert filters["png"] and filters["details"]["layer"]
    summary = client.get(f"/api/runs/{run_id}/inspect/summary").json()
    assert "Conv2d" in summary["table"]
    embedding = client.get(f"/api/runs/{run_id}/inspect/embedding")
    assert embedding.status_code == 200, embedding.text
    assert embedding.json()["png"]
    assert client.get(f"/api/runs/{run_id}/inspect/weights").status_code == 422
