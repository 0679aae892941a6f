"""What recording a run in the database costs: a short training run with and without the store.

Two measurements, because a 2-core machine's wall times vary by more than the effect:

- direct: the time spent in database calls on the training thread (opening the store, queueing
  the run, recording the start, every epoch and the end), as a share of the run's wall time;
- A/B: median wall time of ``imgrec.train`` with ``record=False`` against ``record=True``,
  in alternating order, after one untimed warm-up run.

Target (issue 3): under 2% of the wall time of a short training run.

    python benchmarks/store_overhead.py [--repeats 5] [--db postgresql://...]

Writes benchmarks/results/store_overhead.json.
"""

from __future__ import annotations

import argparse
import os
import statistics
import tempfile
import time
from pathlib import Path
from typing import Any

from _common import machine, write_result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--epochs", type=int, default=20)
    parser.add_argument("--db", default=None, help="Database URL (default: SQLite in a temp dir)")
    args = parser.parse_args()

    import imgrec
    import imgrec.api as api
    from imgrec.recorder import StoreRecorder

    recorders: list[StoreRecorder] = []
    queue_seconds: list[float] = []
    original_init = StoreRecorder.__init__
    original_queue = api.queue_run

    def remember(self: StoreRecorder, *a: Any, **k: Any) -> None:
        original_init(self, *a, **k)
        recorders.append(self)

    def timed_queue(*a: Any, **k: Any) -> Any:
        started = time.perf_counter()
        try:
            return original_queue(*a, **k)
        finally:
            queue_seconds.append(time.perf_counter() - started)

    StoreRecorder.__init__ = remember  # type: ignore[method-assign]
    api.queue_run = timed_queue

    with tempfile.TemporaryDirectory(prefix="imgrec-store-") as tmp:
        work = Path(tmp)
        os.environ["IMGREC_HOME"] = str(work / "home")
        db = args.db or f"sqlite:///{work / 'bench.db'}"
        data = imgrec.synth_data(work / "shapes", per_class=100, img_size=32, seed=2)
        options: dict[str, Any] = {
            "epochs": args.epochs,
            "img_size": 32,
            "out": str(work / "runs"),
            "show_progress": False,
            "db": db,
        }
        imgrec.train(data, record=True, **options)  # warm-up: caches, imports, schema
        recorders.clear()
        queue_seconds.clear()
        plain, recorded, direct = [], [], []
        for repeat in range(args.repeats):
            for record in (False, True) if repeat % 2 == 0 else (True, False):
                started = time.perf_counter()
                imgrec.train(data, record=record, **options)
                wall = time.perf_counter() - started
                if record:
                    recorded.append(wall)
                    direct.append((recorders[-1].store_seconds + queue_seconds[-1]) / wall)
                else:
                    plain.append(wall)
    a, b = statistics.median(plain), statistics.median(recorded)
    result = {
        "database": "PostgreSQL" if args.db else "SQLite (WAL)",
        "run": f"simple_cnn, 400 images of 32 px, {args.epochs} epochs",
        "repeats": args.repeats,
        "direct_share_percent": round(100 * statistics.median(direct), 3),
        "direct_share_max_percent": round(100 * max(direct), 3),
        "wall_without_store_s": round(a, 3),
        "wall_with_store_s": round(b, 3),
        "ab_overhead_percent": round(100 * (b - a) / a, 2),
        "ab_spread_percent": round(100 * (max(plain) - min(plain)) / a, 2),
        "meets_target": statistics.median(direct) < 0.02,
        "machine": machine(),
    }
    name = "store_overhead" + ("_postgres" if args.db else "")
    write_result(name, result)
    print(result)


if __name__ == "__main__":
    main()
