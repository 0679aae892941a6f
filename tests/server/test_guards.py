"""Other sites' pages cannot drive the server; NaN never breaks a page; limits hold."""

from __future__ import annotations

import io
import math
from collections.abc import Callable
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from PIL import Image
from starlette.websockets import WebSocketDisconnect

from imgrec.errors import ConfigError
from imgrec.server.guards import finite, safe_dumps
from imgrec.store import Store
from tests.server.conftest import register_run_dir, upload
from tests.store.test_store_contract import _experiment


def test_cross_site_requests_are_refused(client: TestClient, shapes_zip: bytes) -> None:
    evil = {"origin": "http://evil.example"}
    answer = client.post("/api/experiments/1/cancel", headers=evil)
    assert answer.status_code == 403 and "cross-site" in answer.json()["detail"]
    zip_headers = {**evil, "content-type": "application/zip"}
    assert client.post("/api/datasets", content=shapes_zip, headers=zip_headers).status_code == 403
    assert client.post("/api/experiments/1/cancel", headers={"origin": "null"}).status_code == 403
    assert client.get("/api/runs", headers=evil).status_code == 200  # reading is harmless
    same = {"origin": "http://127.0.0.1", "content-type": "application/zip"}
    assert upload(client, shapes_zip).status_code == 202  # no Origin: curl, scripts
    assert client.post("/api/datasets", content=shapes_zip, headers=same).status_code == 202
    with (
        pytest.raises(WebSocketDisconnect),
        client.websocket_connect("ws://127.0.0.1/ws/experiments/1", headers=evil) as ws,
    ):
        ws.receive_json()


def test_only_loopback_names_are_served_without_a_token(
    make_client: Callable[..., TestClient],
) -> None:
    client = make_client()
    assert client.get("/api/health").status_code == 200
    rebound = client.get("/api/health", headers={"host": "attacker.example"})
    assert rebound.status_code == 400  # DNS rebinding: a foreign name pointed at 127.0.0.1
    assert client.get("/api/health", headers={"host": "localhost:8000"}).status_code == 200


def test_nan_and_infinity_become_null(client: TestClient) -> None:
    assert finite({"a": [1.0, math.nan, {"b": math.inf}]}) == {"a": [1.0, None, {"b": None}]}
    assert safe_dumps({"x": -math.inf}) == '{"x": null}'
    store: Store = client.app.state.store  # type: ignore[attr-defined]
    exp = _experiment(store, "diverged")
    run_id = store.create_run(name="t", model="m", config={}, experiment_id=exp.id)
    store.record_epoch(run_id, {"epoch": 1, "train_loss": math.inf, "val_loss": math.nan})
    store.finish_run(run_id, status="failed", summary={"best_val": math.nan})
    detail = client.get(f"/api/runs/{run_id}")
    assert detail.status_code == 200
    assert detail.json()["epochs"][0]["train_loss"] is None
    assert detail.json()["run"]["best_val"] is None
    with client.websocket_connect(f"ws://127.0.0.1/ws/experiments/{exp.id}") as ws:
        assert ws.receive_json()["epochs"][0]["val_loss"] is None
    assert client.get(f"/runs/{run_id}").status_code == 200
    assert "NaN" not in client.get(f"/runs/{run_id}").text


def test_experiment_names_cannot_be_ids(client: TestClient, shapes_zip: bytes) -> None:
    answer = client.post("/api/experiments", json={"dataset_id": "0" * 12, "name": "1"})
    assert answer.status_code == 422
    extra = client.post("/api/experiments", json={"dataset_id": "0" * 12, "epochs": 3})
    assert extra.status_code == 422  # unknown fields are refused, not ignored
    task = client.post("/api/experiments", json={"dataset_id": "0" * 12, "task": "caption"})
    assert task.status_code == 422  # not a task the web form offers
    from imgrec.search.search import create_experiment

    with pytest.raises(ConfigError, match="start with a letter"):
        create_experiment(
            None,  # type: ignore[arg-type]  # refused before the store is used
            base=None,  # type: ignore[arg-type]
            space=None,  # type: ignore[arg-type]
            objectives=[("val_accuracy", "maximize")],
            sampler="tpe",
            pruner="median",
            n_trials=1,
            timeout_s=None,
            name="42",
            out="x",
            settings=None,  # type: ignore[arg-type]
        )


def test_predict_limits(client: TestClient, trained_run: Path) -> None:
    run_id = register_run_dir(client.app.state.store, trained_run)  # type: ignore[attr-defined]
    url = f"/api/runs/{run_id}/predict"
    huge = io.BytesIO()
    Image.new("L", (8000, 6000)).save(huge, format="PNG")  # 48 MP, a few kB compressed
    answer = client.post(url, content=huge.getvalue(), headers={"content-type": "image/png"})
    assert answer.status_code == 413 and "megapixels" in answer.json()["detail"]
    big = b"\0" * (21 * 1024**2)
    assert client.post(url, content=big, headers={"content-type": "image/png"}).status_code == 413
    form = client.post(url, files={"file": ("a.png", b"x")})
    assert form.status_code == 415
