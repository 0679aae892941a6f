"""The workbench pages through the real app: they render seeded data, escape it, and log in."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

from imgrec.server.app import create_app
from imgrec.server.config import ServerConfig
from imgrec.server.pages import safe_next
from imgrec.store import Store

EVIL = "<script>alert(1)</script>"
DATASET_ID = "0123456789ab"


def _seed_dataset(uploads: Path, root: Path) -> None:
    """A checked upload as the library leaves it: meta, report and samples files."""
    folder = uploads / DATASET_ID
    folder.mkdir(parents=True)
    classes = ["cat", EVIL]
    meta = {
        "id": DATASET_ID,
        "name": f"{EVIL}.zip",
        "status": "ready",
        "error": None,
        "size_bytes": 2048,
        "created_at": "2025-01-02T03:04:05+00:00",
        "num_images": 6,
        "num_classes": 2,
        "classes": classes,
        "usable": True,
    }
    report = {
        "source": "upload.zip",
        "root": str(root),
        "layout": "class_folders",
        "classes": classes,
        "images_per_class": {"cat": 3, EVIL: 3},
        "images_per_split": {"train": {"cat": 1, EVIL: 1}, "val": {"cat": 1, EVIL: 1}},
        "skipped": [{"path": f"{EVIL}/broken.jpg", "reason": f"cannot decode {EVIL}"}],
        "duplicates_within_split": [
            {
                "sha256": "ab",
                "paths": ["cat/1.png", "cat/2.png"],
                "splits": ["train"],
                "classes": ["cat"],
            }
        ],
        "duplicates_across_splits": [],
        "tiny_classes": [],
        "imbalance_ratio": 1.0,
        "size_stats": {"width": {"min": 32, "max": 32, "median": 32}},
        "mode_counts": {"RGB": 6},
        "tiny_images": [],
        "notes": [],
        "errors": [],
        "warnings": [f"1 file skipped: {EVIL}"],
        "usable": True,
        "num_images": 6,
    }
    paths = {"cat": ["cat/1.png", "cat/2.png"], EVIL: [f"{EVIL}/1.png"]}
    samples = {"root": str(root), "paths": paths}
    for name, data in (("meta", meta), ("report", report), ("samples", samples)):
        (folder / f"{name}.json").write_text(json.dumps(data), encoding="utf-8")
    (folder / "upload.zip").write_bytes(b"PK\x05\x06" + bytes(18))


def _run_dir(path: Path) -> Path:
    """A run folder as evaluation leaves it: metrics.json holds the per-class rows and matrix."""
    path.mkdir(parents=True)
    metrics = {
        "accuracy": 0.75,
        "macro_f1": 0.7,
        "classes": ["cat", EVIL],
        "per_class": [
            {"name": "cat", "precision": 1, "recall": 0.5, "f1": 0.67, "support": 2},
            {"name": EVIL, "precision": 0.67, "recall": 1, "f1": 0.8, "support": 2},
        ],
        "confusion_matrix": [[1, 1], [0, 2]],
    }
    (path / "metrics.json").write_text(json.dumps(metrics))
    return path


def _seed_runs(store: Store, tmp_path: Path) -> dict[str, int]:
    exp = store.create_experiment(
        name="search-1",
        data_path=str(tmp_path / "web" / "datasets" / DATASET_ID / "upload.zip"),
        space={"lr": {"low": 1e-4, "high": 1e-2, "log": True}},
        base_config={},
        objectives=[("val_accuracy", "maximize")],
        sampler="tpe",
        pruner="median",
        n_trials=3,
        out_dir=str(tmp_path / "experiments" / "search-1"),
    )
    ids: dict[str, int] = {"experiment": exp.id}
    for trial, (status, acc) in enumerate([("completed", 0.75), ("failed", None)]):
        run_id = store.create_run(
            name=f"{EVIL}-trial{trial}",
            model="simple_cnn",
            config={"train": {"lr": 0.001}},
            experiment_id=exp.id,
            trial_number=trial,
            params={"lr": 0.001 * (trial + 1), "optimizer": "adamw"},
        )
        run_dir = _run_dir(tmp_path / "runs" / f"run{run_id}")
        store.start_run(run_id, run_dir=run_dir, name=f"{EVIL}-trial{trial}", dataset_id=None)
        for epoch in (1, 2):
            store.record_epoch(
                run_id,
                {
                    "epoch": epoch,
                    "train_loss": 1.0 / epoch,
                    "val_loss": 1.1 / epoch,
                    "train_accuracy": 0.3 * epoch,
                    "val_accuracy": 0.35 * epoch,
                },
            )
        summary = {"accuracy": acc, "best_val": 0.7, "train_time_s": 12.5, "latency_ms": 1.25}
        store.finish_run(
            run_id, status=status, summary=summary if acc else {}, error=None if acc else EVIL
        )
        ids[status] = run_id
    return ids


def _config(tmp_path: Path, token: str | None = None) -> ServerConfig:
    return ServerConfig(
        db_url=f"sqlite:///{tmp_path / 'runs.db'}", home=tmp_path, workers=0, token=token
    )


@pytest.fixture
def seeded(tmp_path: Path) -> tuple[TestClient, dict[str, int]]:
    config = _config(tmp_path)
    _seed_dataset(config.uploads_dir, tmp_path / "extracted")
    store = Store(config.db_url)
    try:
        ids = _seed_runs(store, tmp_path)
    finally:
        store.close()
    return TestClient(create_app(config), base_url="http://127.0.0.1"), ids


def _pages(ids: dict[str, int]) -> list[str]:
    run, failed, exp = ids["completed"], ids["failed"], ids["experiment"]
    return [
        "/",
        "/experiments",
        "/datasets",
        f"/datasets/{DATASET_ID}",
        f"/experiments/new?dataset={DATASET_ID}",
        f"/experiments/{exp}",
        "/runs",
        "/runs?status=completed&sort=-primary_value",
        f"/runs/compare?ids={run},{failed}",
        f"/runs/{run}",
        f"/runs/{failed}",
        "/login",
    ]


def test_every_page_renders_the_seeded_data_escaped(seeded: Any) -> None:
    client, ids = seeded
    for path in _pages(ids):
        page = client.get(path)
        assert page.status_code == 200, (path, page.text[:500])
        assert page.headers["content-type"].startswith("text/html")
        assert EVIL not in page.text, f"{path} shows a user string unescaped"


def test_pages_show_what_they_are_for(seeded: Any) -> None:
    client, ids = seeded
    escaped = "&lt;script&gt;alert(1)&lt;/script&gt;"
    dataset = client.get(f"/datasets/{DATASET_ID}").text
    assert 'id="histogram"' in dataset
    assert f"/api/datasets/{DATASET_ID}/samples/1/0.png" in dataset  # the second class's grid
    assert f"cannot decode {escaped}" in dataset  # skipped files with reasons
    assert "cat/1.png, cat/2.png" in dataset  # duplicates
    assert f'href="/experiments/new?dataset={DATASET_ID}"' in dataset

    run = client.get(f"/runs/{ids['completed']}").text
    assert f"/api/runs/{ids['completed']}/model.zip" not in run  # no model.safetensors
    assert 'id="confusion"' in run and f'<th scope="row" class="row">{escaped}</th>' in run
    assert 'id="chart-curves"' in run and "75.0%" in run

    exp = client.get(f"/experiments/{ids['experiment']}").text
    assert f'data-run-id="{ids["completed"]}"' in exp and 'id="chart-acc"' in exp
    assert "lr=0.002, optimizer=adamw" in exp

    runs = client.get("/runs?status=failed").text
    assert f'data-run-id="{ids["failed"]}"' in runs
    assert f'data-run-id="{ids["completed"]}"' not in runs
    compare = client.get(f"/runs/compare?ids={ids['completed']},{ids['failed']},999").text
    assert "Not found: 999" in compare and "param.lr" in compare


def test_pages_render_an_empty_workbench(tmp_path: Path) -> None:
    client = TestClient(create_app(_config(tmp_path)), base_url="http://127.0.0.1")
    for path in ("/", "/datasets", "/experiments", "/experiments/new", "/runs", "/runs/compare"):
        page = client.get(path)
        assert page.status_code == 200, path
    assert "No datasets yet" in client.get("/datasets").text
    assert "Upload one first" in client.get("/experiments/new").text


def test_unknown_ids_are_404_pages(seeded: Any) -> None:
    client, _ = seeded
    for path in ("/runs/999", "/experiments/999", "/datasets/ffffffffffff", "/datasets/a.b"):
        page = client.get(path)
        assert page.status_code == 404, path
        assert "Not found" in page.text


def test_static_files_are_local_and_served(seeded: Any) -> None:
    client, ids = seeded
    referenced: set[str] = set()
    for path in _pages(ids):
        html = client.get(path).text
        assert not re.search(r'(src|href)="(https?:)?//', html), f"{path} loads a remote file"
        referenced |= set(re.findall(r'(?:src|href)="(/static/[^"]+)"', html))
    assert "/static/vendor/chart.umd.min.js" in referenced
    for path in sorted(referenced):
        assert client.get(path).status_code == 200, path
    static = Path(__file__).parents[2] / "src" / "imgrec" / "server" / "static"
    for script in static.glob("*.js"):  # the modules import each other by relative path
        for imported in re.findall(r'from "\./([^"]+)"', script.read_text()):
            assert (static / imported).is_file(), (script.name, imported)
        assert ".innerHTML" not in script.read_text(), f"{script.name}: use textContent"


@pytest.mark.parametrize(
    ("target", "expected"),
    [
        ("/runs/3?x=1", "/runs/3?x=1"),
        ("//evil.example", "/"),
        ("/\\evil.example", "/"),
        ("https://evil.example/", "/"),
        ("evil.example", "/"),
        ("/\tfoo", "/"),
        ("", "/"),
        (None, "/"),
    ],
)
def test_safe_next_keeps_redirects_on_site(target: str | None, expected: str) -> None:
    assert safe_next(target) == expected


def test_login_flow_with_a_token(tmp_path: Path) -> None:
    client = TestClient(
        create_app(_config(tmp_path, token="s3cret-token")), base_url="http://127.0.0.1"
    )
    page = client.get("/runs?status=failed", follow_redirects=False)
    assert page.status_code == 303
    assert page.headers["location"].startswith("/login?next=")
    login = client.get("/login?next=/runs")
    assert login.status_code == 200 and 'name="next" value="/runs"' in login.text

    wrong = client.post("/login", data={"token": "nope", "next": "/runs"}, follow_redirects=False)
    assert wrong.status_code == 401
    assert 'name="token"' in wrong.text and "not this server" in wrong.text
    assert "imgrec_token" not in wrong.headers.get("set-cookie", "")

    right = client.post(
        "/login", data={"token": "s3cret-token", "next": "/runs"}, follow_redirects=False
    )
    assert right.status_code == 303 and right.headers["location"] == "/runs"
    cookie = right.headers["set-cookie"].lower()
    assert "imgrec_token=" in cookie and "httponly" in cookie and "samesite=strict" in cookie
    assert client.get("/runs").status_code == 200  # the client keeps the cookie


def test_login_never_redirects_off_site(tmp_path: Path) -> None:
    client = TestClient(
        create_app(_config(tmp_path, token="s3cret-token")), base_url="http://127.0.0.1"
    )
    form = client.get("/login?next=//evil.example")
    assert 'name="next" value="/"' in form.text
    for target in ("//evil.example", "https://evil.example", "/\\evil.example"):
        answer = client.post(
            "/login", data={"token": "s3cret-token", "next": target}, follow_redirects=False
        )
        assert answer.status_code == 303 and answer.headers["location"] == "/", target


def test_an_interrupted_run_shows_its_reason_as_a_warning(tmp_path: Path) -> None:
    config = _config(tmp_path)
    reason = "interrupted by SIGTERM at epoch 3/5 (2 saved); resume with: imgrec train --resume r"
    store = Store(config.db_url)
    try:
        run_id = store.create_run(name="stopped", model="simple_cnn", config={})
        (tmp_path / "r").mkdir()
        store.start_run(run_id, run_dir=tmp_path / "r", name="stopped", dataset_id=None)
        store.finish_run(run_id, status="interrupted", error=reason)
    finally:
        store.close()
    client = TestClient(create_app(config), base_url="http://127.0.0.1")
    page = client.get(f"/runs/{run_id}").text
    assert f'<div class="alert warn" role="status">{reason}</div>' in page
    assert 'class="alert error"' not in page
    listed = client.get("/runs?status=interrupted").text
    assert f'data-run-id="{run_id}"' in listed and "interrupted" in listed
