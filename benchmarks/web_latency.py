"""How fast the web workbench answers with 1,000 runs in the database (pages and JSON API).

A fresh run database (SQLite in a temporary folder, and/or a fresh PostgreSQL database) gets
1,000 runs through :class:`imgrec.store.Store`: 10 experiments of trials (one still open, with
trials running) and standalone runs, each with 10-20 epochs and final metrics; plus one real
training run (run directory with metrics, confusion matrix, plots) and one uploaded dataset.
A real ``imgrec serve --workers 0`` then answers every page and endpoint ``--repeats`` times
(after warm-ups), one request at a time from one client on the same machine.

Target (issue 4): p95 under 200 ms for every page and endpoint.

    python benchmarks/web_latency.py [--backend sqlite|postgres|both] [--repeats 50]

Writes benchmarks/results/web_latency.json. web_watchers.py reuses the server helpers here.
"""

from __future__ import annotations

import argparse
import contextlib
import io
import math
import os
import random
import socket
import subprocess
import sys
import tempfile
import time
import uuid
import zipfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
from websockets.sync.client import connect as ws_connect

from _common import machine, write_result

PG_ADMIN = "postgresql://postgres@127.0.0.1:5432/postgres"
TARGET_MS = 200.0
MODELS = ("simple_cnn", "resnet18", "mlp", "vit_tiny")
PATHS = (  # noqa: SIM905  # a list of 19 paths, one a line, would be longer than it says
    "/ /datasets /datasets/{d} /runs /runs?sort=-accuracy /runs/{run} /experiments/{exp} "
    "/experiments/new /api/runs /api/runs?sort=-accuracy&status=completed "
    "/api/runs?q=trial&offset=500 /api/runs/{run} /api/experiments /api/experiments/{exp} "
    "/api/experiments/{exp}/history /api/datasets /api/datasets/{d} "
    "/api/datasets/{d}/samples/0/0.png /openapi.json /ws/experiments/{exp}"
).split()


def pg_reachable(admin: str) -> bool:
    import psycopg

    try:
        with psycopg.connect(admin, connect_timeout=3):
            return True
    except psycopg.Error:
        return False


@contextlib.contextmanager
def postgres_database(admin: str) -> Iterator[str]:
    """A fresh, empty database on the server of ``admin``; dropped afterwards."""
    import psycopg

    name = f"imgrec_bench_{uuid.uuid4().hex[:10]}"
    with psycopg.connect(admin, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    try:
        yield f"{admin.rsplit('/', 1)[0]}/{name}"
    finally:
        with psycopg.connect(admin, autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@contextlib.contextmanager
def serve(db: str, home: Path) -> Iterator[tuple[str, subprocess.Popen[bytes]]]:
    """``imgrec serve --workers 0`` on a free loopback port; yields (base URL, process)."""
    port = free_port()
    env = {**os.environ, "IMGREC_HOME": str(home)}
    env.pop("IMGREC_TOKEN", None)
    home.mkdir(parents=True, exist_ok=True)
    log_path = home / "server.log"
    command = [sys.executable, "-m", "imgrec", "serve", "--host", "127.0.0.1", "--port"]
    command += [str(port), "--workers", "0", "--db", db, "--log-level", "warning"]
    with log_path.open("wb") as log:
        process = subprocess.Popen(command, env=env, stdout=log, stderr=subprocess.STDOUT)
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 90
        while True:
            with contextlib.suppress(httpx.TransportError):
                if httpx.get(f"{base}/api/health", timeout=2).status_code == 200:
                    break
            if process.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"the server did not start:\n{log_path.read_text()[-3000:]}")
            time.sleep(0.2)
        yield base, process
    finally:
        process.terminate()
        try:
            process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


def run_config(rng: random.Random, model: str, params: dict[str, Any]) -> dict[str, Any]:
    from imgrec.config import RunConfig

    cfg = RunConfig().model_dump(mode="json")
    cfg["model"]["name"] = model
    cfg["data"]["path"] = "/data/shapes.zip"
    cfg["data"]["img_size"] = rng.choice([32, 64, 96])
    for key in ("lr", "batch_size", "weight_decay", "optimizer", "label_smoothing", "augment"):
        if key in params:
            cfg["train"][key] = params[key]
    return cfg


def add_run(store: Any, rng: random.Random, *, name: str, status: str, **ids: Any) -> int:
    """One run through the store as a worker records it: queue, start, epochs, finish."""
    params = {
        "lr": round(10 ** rng.uniform(-4, -2), 6),
        "batch_size": rng.choice([32, 64, 128]),
        "weight_decay": round(10 ** rng.uniform(-5, -1), 6),
        "optimizer": rng.choice(["adamw", "sgd"]),
        "label_smoothing": round(rng.uniform(0, 0.2), 3),
        "augment": rng.choice(["none", "light"]),
    }
    model = rng.choice(MODELS)
    cfg = run_config(rng, model, params)
    run_id = store.create_run(name=name, model=model, config=cfg, params=params, **ids)
    store.start_run(run_id, run_dir=f"/srv/imgrec/runs/{name}", name=name, dataset_id=None)
    epochs = rng.randint(10, 20) if status != "pruned" else rng.randint(2, 6)
    acc = rng.uniform(0.3, 0.6)
    for epoch in range(1, epochs + 1):
        acc = min(0.99, acc + rng.uniform(0, 0.05))
        row = {"epoch": epoch, "train_loss": 2.0 / epoch, "train_accuracy": acc + 0.02}
        row |= {"val_loss": 2.2 / epoch, "val_accuracy": acc, "lr": params["lr"]}
        store.record_epoch(run_id, row | {"epoch_time_s": rng.uniform(0.5, 3.0)})
    if status == "running":
        return run_id
    summary = {"epochs_completed": epochs, "best_epoch": epochs, "best_val": acc}
    if status == "completed":
        summary |= {"accuracy": acc - 0.01, "macro_f1": acc - 0.02, "test_loss": 0.5}
        summary |= {"latency_ms": rng.uniform(0.5, 9), "throughput": rng.uniform(200, 5000)}
        summary |= {"train_time_s": epochs * 1.7, "metrics": {"accuracy": acc - 0.01}}
    artifacts = {"model": ("model.safetensors", 1_400_000), "card": ("card.json", 2100)}
    error = "CUDA out of memory (simulated)" if status == "failed" else None
    if status != "completed":
        artifacts = {}
    store.finish_run(run_id, status=status, error=error, summary=summary, artifacts=artifacts)
    return run_id


def new_experiment(store: Any, name: str, archive: str, n_trials: int, config: Any) -> Any:
    """An experiment row as ``imgrec tune`` makes it (without its Optuna study)."""
    from imgrec.search.space import DEFAULT_SPACE

    spec = {"data_path": archive, "space": DEFAULT_SPACE, "base_config": config}
    spec |= {"objectives": [("val_accuracy", "maximize")], "sampler": "tpe", "pruner": "median"}
    return store.create_experiment(name=name, n_trials=n_trials, out_dir=f"/srv/{name}", **spec)


def seed(store: Any, *, runs: int, experiments: int, archive: str) -> dict[str, Any]:
    """``runs`` runs: 60% trials of ``experiments`` experiments (the last one open)."""
    rng = random.Random(4)
    per_exp = max(1, int(runs * 0.6) // experiments)
    exp_ids, made = [], 0
    for i in range(experiments):
        name = f"search-{i}"
        n_trials = per_exp + (5 if i == experiments - 1 else 0)
        exp = new_experiment(store, name, archive, n_trials, run_config(rng, "simple_cnn", {}))
        exp_ids.append(exp.id)
        for trial in range(per_exp):
            store.claim_trial(experiment=name)
            last = i == experiments - 1 and trial >= per_exp - 3
            status = (
                "running" if last else rng.choices(["completed", "pruned", "failed"], [15, 4, 1])[0]
            )
            ids = {"experiment_id": exp.id, "trial_number": trial}
            add_run(store, rng, name=f"{name}-trial-{trial}", status=status, **ids)
            made += 1
        if i < experiments - 1:
            store.finish_experiment(exp.id, best_run_id=None, summary={"trials": per_exp})
    while made < runs:
        status = rng.choices(["completed", "failed", "interrupted"], [18, 1, 1])[0]
        add_run(store, rng, name=f"{rng.choice(MODELS)}-run-{made}", status=status)
        made += 1
    return {"experiments": exp_ids, "runs": made, "trials_per_experiment": per_exp}


def upload_dataset(base: str, data: Path) -> str:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as zf:
        for path in sorted(data.rglob("*")):
            if path.is_file():
                zf.write(path, path.relative_to(data).as_posix())
    url, headers = f"{base}/api/datasets?name=shapes.zip", {"Content-Type": "application/zip"}
    answer = httpx.post(url, content=buffer.getvalue(), headers=headers, timeout=60)
    answer.raise_for_status()
    return str(answer.json()["id"])


def wait_ready(base: str, dataset_id: str, timeout_s: float = 120) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        meta = httpx.get(f"{base}/api/datasets/{dataset_id}", timeout=10).json()
        if meta["status"] != "checking":
            if meta["status"] != "ready":
                raise RuntimeError(f"dataset check failed: {meta.get('error')}")
            return
        time.sleep(0.3)
    raise RuntimeError("the dataset check did not finish")


def percentile(values: list[float], q: float) -> float:
    """Nearest-rank percentile."""
    ordered = sorted(values)
    return ordered[max(0, math.ceil(q / 100 * len(ordered)) - 1)]


def stats(values: list[float]) -> dict[str, float]:
    p50, p95 = percentile(values, 50), percentile(values, 95)
    return {"p50_ms": round(p50, 2), "p95_ms": round(p95, 2), "max_ms": round(max(values), 2)}


def measure(base: str, paths: list[str], repeats: int, warmup: int) -> dict[str, Any]:
    """Each path ``repeats`` times, round-robin (noise spreads over all paths alike)."""
    times: dict[str, list[float]] = {p: [] for p in paths}
    sizes: dict[str, int] = {}
    with httpx.Client(base_url=base, timeout=30) as client:
        for round_ in range(warmup + repeats):
            for path in paths:
                started = time.perf_counter()
                if path.startswith("/ws/"):  # a live page's first paint: connect + snapshot
                    with ws_connect(base.replace("http", "ws", 1) + path, max_size=None) as ws:
                        body = ws.recv()
                    ok = '"type": "snapshot"' in body
                else:
                    answer = client.get(path)
                    body, ok = answer.content, answer.status_code == 200
                elapsed = (time.perf_counter() - started) * 1000
                if not ok:
                    raise RuntimeError(f"GET {path}: {body[:300]!r}")
                sizes[path] = len(body)
                if round_ >= warmup:
                    times[path].append(elapsed)
    per_path = {
        p: {**stats(t), "bytes": sizes[p], "meets_target": percentile(t, 95) < TARGET_MS}
        for p, t in times.items()
    }
    every = [v for t in times.values() for v in t]
    return {"paths": per_path, "overall": stats(every), "requests": len(every)}


def bench_backend(label: str, db: str, args: argparse.Namespace, work: Path) -> dict[str, Any]:
    import imgrec
    from imgrec.store import Store

    home = work / label
    data = imgrec.synth_data(home / "shapes", per_class=40, img_size=32, seed=1)
    store = Store(db)  # creates the tables before the server starts
    with serve(db, home) as (base, _process):
        dataset_id = upload_dataset(base, data)
        archive = str((home / "web" / "datasets" / dataset_id / "upload.zip").resolve())
        started = time.perf_counter()
        real = args.real_run
        sizes = {"runs": args.runs - real, "experiments": args.experiments}
        info = seed(store, **sizes, archive=archive)
        seed_s = time.perf_counter() - started
        run_id = 1
        if real:
            result = imgrec.train(
                data, epochs=2, img_size=32, out=str(home / "runs"), db=db, show_progress=False
            )
            run_id = result.run_id or 1
        wait_ready(base, dataset_id)
        load = os.getloadavg()
        total = store.search_runs(limit=1)[0]
        ids = {"d": dataset_id, "run": run_id, "exp": info["experiments"][-1]}  # open search
        paths = [p.format(**ids) for p in PATHS]
        measured = measure(base, paths, args.repeats, args.warmup)
    store.close()
    slow = {p: v["p95_ms"] for p, v in measured["paths"].items() if not v["meets_target"]}
    worst = max(measured["paths"].items(), key=lambda item: item[1]["p95_ms"])
    print(
        f"{label}: {total} runs, overall p95 {measured['overall']['p95_ms']} ms; slowest "
        f"{worst[0]} p95 {worst[1]['p95_ms']} ms; over {TARGET_MS:.0f} ms: {slow or 'none'}"
    )
    return {
        "runs_in_database": total,
        "load_average_before_measuring": [round(v, 2) for v in load],
        "seeded": info | {"seconds": round(seed_s, 1), "real_training_run": bool(real)},
        **measured,
        "meets_target": not slow,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--backend", choices=("sqlite", "postgres", "both"), help="default: both")
    parser.add_argument("--db", default=None, help="measure this PostgreSQL URL (must be empty)")
    parser.add_argument("--pg-admin", default=PG_ADMIN, help="admin URL to create a database")
    parser.add_argument("--runs", type=int, default=1000)
    parser.add_argument("--experiments", type=int, default=10)
    parser.add_argument("--repeats", type=int, default=50)
    parser.add_argument("--warmup", type=int, default=3)
    parser.add_argument("--no-real-run", dest="real_run", action="store_false", help="no training")
    args = parser.parse_args()
    load = os.getloadavg()
    backend = args.backend or ("both" if args.db or pg_reachable(args.pg_admin) else "sqlite")
    results: dict[str, Any] = {}
    with tempfile.TemporaryDirectory(prefix="imgrec-web-") as tmp:
        work = Path(tmp)
        if backend in ("sqlite", "both"):
            db = f"sqlite:///{work / 'bench.db'}"
            results["sqlite"] = bench_backend("sqlite", db, args, work)
        if backend in ("postgres", "both"):
            with contextlib.ExitStack() as stack:
                db = args.db or stack.enter_context(postgres_database(args.pg_admin))
                results["postgres"] = bench_backend("postgres", db, args, work)
    result = {
        "target": f"p95 < {TARGET_MS:.0f} ms per page/endpoint with {args.runs} runs",
        "method": "one client, sequential requests round-robin over the paths, same machine "
        "as the server (imgrec serve --workers 0); times include the client's HTTP work",
        "repeats": args.repeats,
        "warmup": args.warmup,
        "load_average_at_start": [round(v, 2) for v in load],
        "backends": results,
        "meets_target": all(r["meets_target"] for r in results.values()),
        "machine": machine(),
    }
    write_result("web_latency", result)


if __name__ == "__main__":
    main()
