"""Uploads: a good zip becomes a checked dataset; bad ones are refused and the server serves on."""

from __future__ import annotations

import io
import zipfile
from collections.abc import Callable
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from tests.server.conftest import upload, wait_ready


def _zip(entries: dict[str, bytes], *, method: int = zipfile.ZIP_DEFLATED) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", method) as zf:
        for name, data in entries.items():
            zf.writestr(name, data)
    return buffer.getvalue()


def test_upload_report_and_thumbnails(client: TestClient, shapes_zip: bytes) -> None:
    answer = upload(client, shapes_zip)
    assert answer.status_code == 202, answer.text
    created = answer.json()
    assert created["status"] == "checking" and created["name"] == "shapes.zip"
    found = wait_ready(client, created["id"])
    assert found["status"] == "ready" and found["usable"] is True
    assert found["classes"] == ["circle", "square", "star", "triangle"]
    assert found["num_images"] == 120
    report = found["report"]
    assert sum(report["images_per_class"].values()) == 120
    assert report["source"] == "shapes.zip" and "/" not in report["root"]
    assert not any(str(client.app.state.config.home) in n for n in report["notes"])  # type: ignore[attr-defined]
    assert set(found["samples"]) == set(found["classes"]) and len(found["samples"]["star"]) == 8
    thumb = client.get(f"/api/datasets/{created['id']}/samples/2/0.png")
    assert thumb.status_code == 200 and thumb.content[:4] == b"\x89PNG"
    assert client.get(f"/api/datasets/{created['id']}/samples/9/0.png").status_code == 404
    assert client.get(f"/api/datasets/{created['id']}/samples/0/99.png").status_code == 404
    listed = client.get("/api/datasets").json()
    assert [d["id"] for d in listed] == [created["id"]]


def test_multipart_and_text_bodies_are_refused_before_reading(
    client: TestClient, shapes_zip: bytes
) -> None:
    """Form parsers spool the whole body before a route can count it: only the raw zip goes."""
    multipart = client.post("/api/datasets", files={"file": ("my data.zip", shapes_zip)})
    assert multipart.status_code == 415 and "application/zip" in multipart.json()["detail"]
    text = client.post("/api/datasets", content=shapes_zip, headers={"content-type": "text/plain"})
    assert text.status_code == 415
    assert client.get("/api/datasets").json() == []


def test_skipped_files_are_listed_with_reasons(client: TestClient, shapes_dir: Path) -> None:
    entries = {
        f"{p.parent.name}/{p.name}": p.read_bytes() for p in sorted(shapes_dir.rglob("*.png"))
    }
    entries["circle/broken.png"] = b"\x89PNG not really"
    found = wait_ready(client, upload(client, _zip(entries)).json()["id"])
    skipped = found["report"]["skipped"]
    assert [s["path"] for s in skipped] == ["circle/broken.png"]
    assert skipped[0]["reason"]


BOMB = _zip({"a/huge.png": b"\0" * (300 * 1024**2)})


@pytest.mark.parametrize(
    ("body", "status", "words"),
    [
        (b"this is not a zip at all", 400, "not a zip file"),
        (_zip({}), 400, "empty"),
        (_zip({"a/.DS_Store": b"x", "__MACOSX/a/b.png": b"x"}), 400, "empty"),
        (_zip({"../evil/a.png": b"x", "b/c.png": b"y"}), 400, "climbs out"),
        (_zip({"/etc/passwd.png": b"x"}), 400, "refused entry"),
        (BOMB, 400, "ratio"),
        (b"PK\x03\x04" + b"\0" * 100, 400, "corrupt"),
    ],
    ids=["not-zip", "empty", "only-metadata", "zip-slip", "absolute", "bomb", "corrupt"],
)
def test_bad_uploads_are_refused_and_the_server_keeps_serving(
    make_client: Callable[..., TestClient], tmp_path: Path, body: bytes, status: int, words: str
) -> None:
    client = make_client()
    answer = upload(client, body, name="bad.zip")
    assert answer.status_code == status, answer.text
    detail = answer.json()["detail"]
    assert words in detail.lower() and "bad.zip" in detail
    assert str(tmp_path) not in detail  # no server paths in messages
    assert client.get("/api/health").json()["status"] == "ok"
    assert client.get("/api/datasets").json() == []
    leftovers = [p for p in (tmp_path / "home").rglob("*") if p.is_file()]
    assert not [p for p in leftovers if "web" in p.parts and p.suffix != ".log"]
    assert not (tmp_path / "outside").exists() and not (tmp_path / "evil").exists()


def test_over_the_size_limit_is_refused(
    make_client: Callable[..., TestClient], shapes_zip: bytes, tmp_path: Path
) -> None:
    client = make_client(max_upload_bytes=10_000)
    answer = upload(client, shapes_zip)
    assert answer.status_code == 413
    assert (
        "limit of" in answer.json()["detail"] and "IMGREC_MAX_UPLOAD_MB" in answer.json()["detail"]
    )

    def chunks() -> object:  # no Content-Length: the limit applies while streaming
        for start in range(0, len(shapes_zip), 4096):
            yield shapes_zip[start : start + 4096]

    streamed = client.post(
        "/api/datasets", content=chunks(), headers={"content-type": "application/zip"}
    )
    assert streamed.status_code == 413
    assert not list((tmp_path / "home" / "web" / "datasets").glob(".*.part"))
    assert client.get("/api/health").status_code == 200


def test_dataset_ids_are_checked_before_any_file_access(client: TestClient) -> None:
    for bad in ("..%2F..%2Fetc", "ABCDEF123456", "0123456789ab", "x" * 12):
        assert client.get(f"/api/datasets/{bad}").status_code == 404
