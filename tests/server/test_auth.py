"""Loopback-only by default; any other address needs a token for the API, the feed and pages."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from starlette.websockets import WebSocketDisconnect

from imgrec.errors import ConfigError
from imgrec.server import ServerConfig

TOKEN = "s3cret-token-for-tests"


def test_a_public_address_without_a_token_is_refused(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="IMGREC_TOKEN"):
        ServerConfig(db_url="sqlite://", home=tmp_path, host="0.0.0.0")
    ServerConfig(db_url="sqlite://", home=tmp_path, host="0.0.0.0", token=TOKEN)
    for host in ("127.0.0.1", "::1", "localhost", "127.0.0.2"):
        ServerConfig(db_url="sqlite://", home=tmp_path, host=host)


def test_settings_token_and_upload_limit_come_from_the_environment(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("IMGREC_TOKEN", TOKEN)
    monkeypatch.setenv("IMGREC_MAX_UPLOAD_MB", "3")
    config = ServerConfig.from_settings(host="0.0.0.0", workers=0)
    assert config.token == TOKEN and config.max_upload_bytes == 3 * 1024**2


def test_api_and_feed_need_the_token(make_client: Callable[..., TestClient]) -> None:
    client = make_client(token=TOKEN, host="0.0.0.0")
    for path in ("/api/health", "/api/runs", "/api/datasets", "/api/experiments"):
        answer = client.get(path)
        assert answer.status_code == 401 and "Bearer" in answer.json()["detail"], path
    assert client.get("/api/runs", headers={"Authorization": "Bearer wrong"}).status_code == 401
    good = {"Authorization": f"Bearer {TOKEN}"}
    assert client.get("/api/runs", headers=good).status_code == 200
    refused = client.post("/api/datasets", content=b"PK", headers={"content-type": "x"})
    assert refused.status_code == 401
    with (
        pytest.raises(WebSocketDisconnect) as closed,
        client.websocket_connect("ws://127.0.0.1/ws/experiments/1") as ws,
    ):
        ws.receive_json()
    assert closed.value.code == 4401
    with client.websocket_connect("ws://127.0.0.1/ws/runs/1", headers=good) as ws:
        assert ws.receive_json()["type"] == "error"  # let in; there is no run 1
    with (
        pytest.raises(WebSocketDisconnect) as closed,
        client.websocket_connect(
            f"ws://127.0.0.1/ws/runs/1?token={TOKEN}"  # not in URLs: they end up in logs
        ) as ws,
    ):
        ws.receive_json()
    assert closed.value.code == 4401


def test_no_token_on_loopback(make_client: Callable[..., TestClient]) -> None:
    assert make_client().get("/api/health").status_code == 200
