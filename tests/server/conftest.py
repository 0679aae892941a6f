"""Fixtures for the web server: an app on a fresh store, a zip of synthetic images, seeded runs."""

from __future__ import annotations

import io
import json
import time
import zipfile
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

from imgrec.server import ServerConfig, create_app
from imgrec.store import Store

BASE_URL = "http://127.0.0.1"  # in loopback mode only loopback host names are served


def zip_folder(folder: Path) -> bytes:
    """The images of ``folder`` as zip bytes (paths relative to it)."""
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as zf:
        for path in sorted(folder.rglob("*")):
            if path.is_file():
                zf.write(path, path.relative_to(folder).as_posix())
    return buffer.getvalue()


@pytest.fixture(scope="session")
def shapes_zip(shapes_dir: Path) -> bytes:
    return zip_folder(shapes_dir)


@pytest.fixture
def make_client(tmp_path: Path) -> Iterator[Callable[..., TestClient]]:
    """``make_client(db_url=..., **config)``: a TestClient around a fresh app (no workers)."""
    clients: list[TestClient] = []

    def make(db_url: str | None = None, **values: Any) -> TestClient:
        values.setdefault("workers", 0)
        config = ServerConfig(
            db_url=db_url or f"sqlite:///{tmp_path / 'web.db'}", home=tmp_path / "home", **values
        )
        client = TestClient(create_app(config), base_url=BASE_URL)
        client.__enter__()
        clients.append(client)
        return client

    yield make
    for client in clients:
        client.__exit__(None, None, None)


@pytest.fixture
def client(make_client: Callable[..., TestClient], db_url: str) -> TestClient:
    """A client on SQLite and on PostgreSQL (the ``db_url`` fixture's two params)."""
    return make_client(db_url=db_url)


def upload(client: TestClient, data: bytes, name: str = "shapes.zip") -> Any:
    return client.post(
        f"/api/datasets?name={name}", content=data, headers={"content-type": "application/zip"}
    )


def wait_ready(client: TestClient, dataset_id: str, timeout_s: float = 60) -> dict[str, Any]:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        found: dict[str, Any] = client.get(f"/api/datasets/{dataset_id}").json()
        if found["status"] != "checking":
            return found
        time.sleep(0.1)
    raise AssertionError(f"dataset {dataset_id} still checking after {timeout_s} s")


def seed_runs(store: Store, count: int, *, experiment_id: int | None = None) -> list[int]:
    """``count`` finished runs with epochs, alternating models and states."""
    ids = []
    for i in range(count):
        run_id = store.create_run(
            name=f"run-{i:03d}",
            model="simple_cnn" if i % 2 else "resnet18",
            config={"train": {"lr": 0.001 * (i + 1)}, "data": {"img_size": 32}},
            experiment_id=experiment_id,
            trial_number=i if experiment_id else None,
            params={"lr": 0.001 * (i + 1)},
        )
        store.start_run(
            run_id, run_dir=f"/nonexistent/run-{i}", name=f"run-{i:03d}", dataset_id=None
        )
        for epoch in range(1, 4):
            store.record_epoch(
                run_id, {"epoch": epoch, "train_loss": 1 / epoch, "val_accuracy": 0.3 + 0.05 * i}
            )
        state = "failed" if i % 5 == 4 else "completed"
        store.finish_run(
            run_id, status=state, summary={"primary_metric": "accuracy", "accuracy": 0.5 + 0.01 * i}
        )
        ids.append(run_id)
    return ids


def register_run_dir(store: Store, run_dir: Path) -> int:
    """Record an existing trained run directory in ``store`` as a completed run."""
    metrics = json.loads((run_dir / "metrics.json").read_text())
    run_id = store.create_run(name=run_dir.name, model="simple_cnn", config={})
    store.start_run(run_id, run_dir=run_dir, name=run_dir.name, dataset_id=None)
    store.record_epoch(run_id, {"epoch": 1, "train_loss": 1.0, "val_accuracy": 0.5})
    store.finish_run(
        run_id,
        status="completed",
        summary={"primary_metric": "accuracy", "accuracy": metrics.get("accuracy")},
    )
    return run_id
