"""20 pages watching one experiment live: does every update reach every page, at what CPU cost?

A real ``imgrec serve --workers 0`` (fresh SQLite database, or PostgreSQL with ``--backend
postgres``) and an experiment with 8 trials made through :class:`imgrec.store.Store`. This process
plays both sides: ``--clients`` WebSocket clients on ``/ws/experiments/{id}`` (asyncio), and a
worker thread that writes epoch rows to the 4 running trials at ``--rate`` epochs/s for
``--duration`` s, finishing a trial and starting a queued one at 1/4, 1/2 and 3/4 of the time and
finishing everything at the end. Each write's time (taken just before ``record_epoch``) and each
client's first arrival of that epoch give the delivery latency. Mid-run one client disconnects
for 2 s and reconnects with ``?after=<its cursor>``; it must still end with every epoch (it
dedups by epoch id, as the pages do; duplicates are counted).

The server's CPU is read from /proc/<pid>/stat (utime + stime) over the write period, over
``--idle`` s with no watcher, and over ``--idle`` s with every watcher connected but no writes.

    python benchmarks/web_watchers.py [--clients 20] [--rate 4] [--duration 60]

Writes benchmarks/results/web_watchers.json (web_watchers_postgres.json for PostgreSQL).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import tempfile
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from websockets.asyncio.client import ClientConnection, connect

from _common import machine, write_result
from web_latency import PG_ADMIN, new_experiment, postgres_database, serve, stats

TRIALS, RUNNING = 8, 4


def cpu_seconds(pid: int) -> float:
    """utime + stime of a process, in seconds."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


@dataclass
class Watcher:
    """What one page received: first arrival of each epoch id and run state."""

    index: int
    arrivals: dict[int, float] = field(default_factory=dict)
    keys: dict[int, tuple[int, int]] = field(default_factory=dict)  # epoch id -> (run, epoch)
    states: dict[tuple[int, str], float] = field(default_factory=dict)
    duplicates: int = 0
    from_snapshots: int = 0  # new epochs that came in a snapshot (after a reconnect)
    messages: int = 0
    bytes: int = 0
    cursor: int = 0
    connections: int = 0
    socket: ClientConnection | None = None

    async def listen(self, url: str) -> None:
        async with connect(f"{url}?after={self.cursor}", max_size=None) as ws:
            self.socket, self.connections = ws, self.connections + 1
            async for text in ws:
                now = time.monotonic()
                message = json.loads(text)
                self.messages, self.bytes = self.messages + 1, self.bytes + len(text)
                if message["type"] not in ("snapshot", "update"):
                    continue
                self.cursor = max(self.cursor, int(message["cursor"]))
                for row in message["epochs"]:
                    if row["id"] in self.arrivals:
                        self.duplicates += 1
                        continue
                    self.arrivals[row["id"]] = now
                    self.from_snapshots += message["type"] == "snapshot"
                    self.keys[row["id"]] = (row["run_id"], row["epoch"])
                for run in message["runs"]:
                    self.states.setdefault((run["id"], run["status"]), now)


@dataclass
class Writer:
    """The worker's side: epochs and state changes written, with the time of each write."""

    store: Any
    queued: list[int]
    running: list[int]
    epochs: dict[tuple[int, int], float] = field(default_factory=dict)
    states: dict[tuple[int, str], float] = field(default_factory=dict)
    next_epoch: dict[int, int] = field(default_factory=dict)

    def start(self, run_id: int) -> None:
        self.states[(run_id, "running")] = time.monotonic()
        self.store.start_run(
            run_id, run_dir=f"/srv/runs/trial-{run_id}", name=f"trial-{run_id}", dataset_id=None
        )
        self.running.append(run_id)

    def finish(self, run_id: int, status: str) -> None:
        self.states[(run_id, status)] = time.monotonic()
        epochs = self.next_epoch.get(run_id, 1) - 1
        summary = {"accuracy": 0.8 + run_id / 1000, "best_val": 0.8, "train_time_s": epochs * 2.0}
        self.store.finish_run(run_id, status=status, summary=summary)
        self.running.remove(run_id)

    def run(self, rate: float, duration: float) -> None:
        total = int(rate * duration)
        changes = {total * k // 4: "pruned" if k == 2 else "completed" for k in (1, 2, 3)}
        origin = time.monotonic()
        for k in range(total):
            time.sleep(max(0.0, origin + k / rate - time.monotonic()))
            if k in changes:
                self.finish(self.running[0], changes[k])
                self.start(self.queued.pop(0))
            run_id = self.running[k % len(self.running)]
            epoch = self.next_epoch.get(run_id, 1)
            self.next_epoch[run_id] = epoch + 1
            row = {"epoch": epoch, "train_loss": 1 / epoch, "train_accuracy": 0.5, "lr": 1e-3}
            self.epochs[(run_id, epoch)] = time.monotonic()
            self.store.record_epoch(run_id, row | {"val_loss": 1.1 / epoch, "val_accuracy": 0.6})
        for run_id in list(self.running):
            self.finish(run_id, "completed")


def make_experiment(store: Any) -> tuple[int, list[int]]:
    from imgrec.config import RunConfig

    config = RunConfig().model_dump(mode="json")
    exp = new_experiment(store, "watched", "/data/shapes.zip", TRIALS, config)
    runs = []
    for trial in range(TRIALS):
        store.claim_trial(experiment="watched")
        params = {"lr": 10 ** (-4 + trial / 4), "batch_size": 64, "optimizer": "adamw"}
        ids = {"experiment_id": exp.id, "trial_number": trial, "params": params}
        runs.append(store.create_run(name=f"t{trial}", model="simple_cnn", config=config, **ids))
    return exp.id, runs


async def cpu_over(pid: int, seconds: float) -> float:
    """The process's CPU use over ``seconds`` as % of one core."""
    c0, t0 = cpu_seconds(pid), time.monotonic()
    await asyncio.sleep(seconds)
    return round(100 * (cpu_seconds(pid) - c0) / (time.monotonic() - t0), 2)


async def drain(watchers: list[Watcher], writer: Writer, timeout_s: float) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        keys = [set(w.keys.values()) for w in watchers]
        states = [set(w.states) for w in watchers]
        if all(
            k >= writer.epochs.keys() and s >= writer.states.keys()
            for k, s in zip(keys, states, strict=True)
        ):
            return
        await asyncio.sleep(0.1)


async def bench(args: argparse.Namespace, db: str, home: Path) -> dict[str, Any]:
    from imgrec.store import Store

    store = Store(db)
    exp_id, runs = make_experiment(store)
    writer = Writer(store, queued=runs[RUNNING:], running=[])
    for run_id in runs[:RUNNING]:
        writer.start(run_id)
    writer.states.clear()  # written before any page watched: not counted as updates
    with serve(db, home) as (base, process):
        pid = process.pid
        idle_cpu = await cpu_over(pid, args.idle)
        url = base.replace("http", "ws", 1) + f"/ws/experiments/{exp_id}"
        watchers = [Watcher(i) for i in range(args.clients)]
        tasks = {w.index: asyncio.create_task(w.listen(url)) for w in watchers}
        while not all(w.messages for w in watchers):  # every snapshot is in
            await asyncio.sleep(0.05)
        watching_idle_cpu = await cpu_over(pid, args.idle)
        before = {w.index: w.messages for w in watchers}
        cpu0, bench_cpu0, t0 = cpu_seconds(pid), time.process_time(), time.monotonic()
        thread = threading.Thread(target=writer.run, args=(args.rate, args.duration))
        thread.start()
        await asyncio.sleep(args.duration / 2)
        reconnecting = watchers[0]
        assert reconnecting.socket is not None
        await reconnecting.socket.close()
        await tasks[0]
        await asyncio.sleep(2.0)
        tasks[0] = asyncio.create_task(reconnecting.listen(url))
        await asyncio.to_thread(thread.join)
        wall = time.monotonic() - t0
        write_cpu = round(100 * (cpu_seconds(pid) - cpu0) / wall, 2)
        bench_cpu = round(100 * (time.process_time() - bench_cpu0) / wall, 2)
        await drain(watchers, writer, timeout_s=10)
        received = {w.index: w.messages - before[w.index] for w in watchers}
        for w in watchers:
            if w.socket is not None:
                await w.socket.close()
        for task in tasks.values():
            with contextlib.suppress(Exception):
                await task
    store.close()
    per_client, latencies, state_latencies = [], [], []
    for w in watchers:
        got = {key: w.arrivals[i] for i, key in w.keys.items() if key in writer.epochs}
        states = {k: t for k, t in w.states.items() if k in writer.states}
        lat = [1000 * (got[k] - t) for k, t in writer.epochs.items() if k in got]
        if w.index != 0:  # the reconnecting client's gap is not delivery latency
            latencies += lat
            state_latencies += [
                1000 * (states[k] - t) for k, t in writer.states.items() if k in states
            ]
        per_client.append(
            {
                "client": w.index,
                "epochs_received": len(got),
                "states_received": len(states),
                "duplicates": w.duplicates,
                "connections": w.connections,
                "messages": received[w.index],
                "latency": stats(lat) if lat else None,
            }
        )
    written, changes = len(writer.epochs), len(writer.states)
    complete = all(
        c["epochs_received"] == written and c["states_received"] == changes for c in per_client
    )
    messages = sum(received.values())
    return {
        "clients": args.clients,
        "write_seconds": round(wall, 2),
        "epochs_written": written,
        "state_changes_written": changes,
        "every_update_reached_every_page": complete,
        "reconnect_check": {
            "client": 0,
            "reconnected_with_after": True,
            "connections": per_client[0]["connections"],
            "every_epoch_once_after_dedup": per_client[0]["epochs_received"] == written,
            "duplicates_received": per_client[0]["duplicates"],
            "epochs_recovered_from_reconnect_snapshot": watchers[0].from_snapshots,
        },
        "delivery_latency_epochs": stats(latencies),
        "delivery_latency_states": stats(state_latencies) if state_latencies else None,
        "messages_received_per_s": round(messages / wall, 1),
        "messages_per_client_per_s": round(messages / wall / args.clients, 2),
        "mean_message_bytes": round(
            sum(w.bytes for w in watchers) / max(1, sum(w.messages for w in watchers))
        ),
        "server_cpu_percent_of_one_core": {
            "idle_no_watchers": idle_cpu,
            "watchers_connected_no_writes": watching_idle_cpu,
            "watchers_and_writes": write_cpu,
        },
        "benchmark_process_cpu_percent": bench_cpu,
        "per_client": per_client,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--backend", choices=["sqlite", "postgres"], default="sqlite")
    parser.add_argument("--pg-admin", default=PG_ADMIN, help="admin URL to create a database")
    parser.add_argument("--clients", type=int, default=20)
    parser.add_argument("--rate", type=float, default=4.0, help="epochs written per second")
    parser.add_argument("--duration", type=float, default=60.0, help="seconds of writing")
    parser.add_argument("--idle", type=float, default=10.0, help="seconds per idle CPU window")
    args = parser.parse_args()
    load = os.getloadavg()
    with (
        tempfile.TemporaryDirectory(prefix="imgrec-watch-") as tmp,
        contextlib.ExitStack() as stack,
    ):
        work = Path(tmp)
        db = (
            stack.enter_context(postgres_database(args.pg_admin))
            if args.backend == "postgres"
            else f"sqlite:///{work / 'bench.db'}"
        )
        result = asyncio.run(bench(args, db, work / "home"))
    summary = {
        "target": "every update reaches every page; the server's CPU stays modest",
        "database": "PostgreSQL" if args.backend == "postgres" else "SQLite (WAL)",
        "rate_epochs_per_s": args.rate,
        "load_average_at_start": [round(v, 2) for v in load],
        **result,
        "machine": machine(),
    }
    write_result("web_watchers" + ("_postgres" if args.backend == "postgres" else ""), summary)
    cpu = result["server_cpu_percent_of_one_core"]
    print(
        f"{result['epochs_written']} epochs, {result['state_changes_written']} state changes to "
        f"{args.clients} pages; all delivered: {result['every_update_reached_every_page']}; "
        f"latency p50/p95/max {result['delivery_latency_epochs']} ; server CPU {cpu} % of a core; "
        f"reconnect {result['reconnect_check']}"
    )


if __name__ == "__main__":
    main()
