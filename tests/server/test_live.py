"""The live feed: a snapshot, then every new epoch and state change within a second; reconnects."""

from __future__ import annotations

import threading
import time
from typing import Any

from fastapi.testclient import TestClient

from imgrec.store import Store
from tests.store.test_store_contract import _experiment


def _trial(store: Store) -> tuple[int, int]:
    exp = _experiment(store, "live", n_trials=2)
    store.claim_trial()
    run_id = store.create_run(name="trial-000", model="m", config={}, experiment_id=exp.id)
    return exp.id, run_id


def _receive_until(ws: Any, predicate: Any, timeout_s: float = 5.0) -> list[dict[str, Any]]:
    messages: list[dict[str, Any]] = []
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        message = ws.receive_json()
        messages.append(message)
        if predicate(message):
            return messages
    raise AssertionError(f"not received within {timeout_s} s: {messages}")


def test_epochs_and_states_arrive_within_a_second(client: TestClient) -> None:
    store: Store = client.app.state.store  # type: ignore[attr-defined]
    exp_id, run_id = _trial(store)
    store.record_epoch(run_id, {"epoch": 1, "val_accuracy": 0.5})
    with client.websocket_connect(f"ws://127.0.0.1/ws/experiments/{exp_id}") as ws:
        snapshot = ws.receive_json()
        assert snapshot["type"] == "snapshot"
        assert [e["epoch"] for e in snapshot["epochs"]] == [1]
        assert [r["status"] for r in snapshot["runs"]] == ["queued"]
        assert snapshot["experiment"]["progress"]["total"] == 2
        store.start_run(run_id, run_dir="/r", name="trial-000", dataset_id=None)
        written = time.monotonic()
        store.record_epoch(run_id, {"epoch": 2, "val_accuracy": 0.6, "train_loss": 0.9})
        got = _receive_until(ws, lambda m: any(e["epoch"] == 2 for e in m.get("epochs", [])))
        assert time.monotonic() - written < 1.0
        update = got[-1]
        assert update["type"] == "update" and update["cursor"] > snapshot["cursor"]
        assert update["runs"][0]["status"] == "running"
        assert update["experiment"]["progress"]["running"] == 1
        store.finish_run(run_id, status="completed", summary={"accuracy": 0.7})
        done = _receive_until(ws, lambda m: any(r["status"] == "completed" for r in m["runs"]))
        assert done[-1]["experiment"]["best_value"] == 0.6
        cursor = update["cursor"]
    store.record_epoch(run_id, {"epoch": 3, "val_accuracy": 0.65})  # while nobody watches
    with client.websocket_connect(f"ws://127.0.0.1/ws/experiments/{exp_id}?after={cursor}") as ws:
        again = ws.receive_json()
        # continues where it left off: the look-back repeats ids the page has (it drops them)
        assert [e["epoch"] for e in again["epochs"] if e["id"] > cursor] == [3]


def test_many_watchers_get_every_update(client: TestClient) -> None:
    store: Store = client.app.state.store  # type: ignore[attr-defined]
    exp_id, run_id = _trial(store)
    store.start_run(run_id, run_dir="/r", name="trial-000", dataset_id=None)
    received: dict[int, set[int]] = {}
    ready = threading.Barrier(6)

    def watch(index: int) -> None:
        seen: set[int] = set()
        received[index] = seen
        with client.websocket_connect(f"ws://127.0.0.1/ws/experiments/{exp_id}") as ws:
            ws.receive_json()
            ready.wait()
            while len(seen) < 10:
                message = ws.receive_json()
                seen.update(e["epoch"] for e in message.get("epochs", []))

    threads = [threading.Thread(target=watch, args=(i,)) for i in range(5)]
    for thread in threads:
        thread.start()
    ready.wait()
    for epoch in range(1, 11):
        store.record_epoch(run_id, {"epoch": epoch, "val_accuracy": epoch / 10})
        time.sleep(0.05)
    for thread in threads:
        thread.join(timeout=20)
    assert all(received[i] == set(range(1, 11)) for i in range(5)), received
    assert client.app.state.hub.feeds == {}  # type: ignore[attr-defined]  # stopped after the last


def test_run_feed_and_unknown_experiment(client: TestClient) -> None:
    store: Store = client.app.state.store  # type: ignore[attr-defined]
    _, run_id = _trial(store)
    with client.websocket_connect(f"ws://127.0.0.1/ws/runs/{run_id}") as ws:
        assert ws.receive_json()["runs"][0]["id"] == run_id
        store.record_epoch(run_id, {"epoch": 1, "train_loss": 2.0})
        got = _receive_until(ws, lambda m: bool(m.get("epochs")))
        assert got[-1]["epochs"][0]["train_loss"] == 2.0 and got[-1]["experiment"] is None
    with client.websocket_connect("ws://127.0.0.1/ws/experiments/999") as ws:
        message = ws.receive_json()
        assert message["type"] == "error" and "999" in message["detail"]
