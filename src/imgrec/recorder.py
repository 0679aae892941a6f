"""Recording a training run in the run database: the bridge between ``engine`` and ``store``.

:class:`StoreRecorder` is the :class:`~imgrec.engine.observer.RunObserver` that ``imgrec train``
and every search trial use. It writes the run's state, every epoch's metrics as it happens, the
final metrics and artifacts, and beats a heartbeat from a background thread so that a run whose
process dies is found and marked failed (``Store.reap_stale_runs``) instead of staying "running".
A database hiccup during training is reported once and never stops the training itself: the run
directory holds the same information.
"""

from __future__ import annotations

import sys
import threading
import time
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from imgrec.engine.observer import RunObserver
from imgrec.errors import StoreError
from imgrec.store import Store

__all__ = ["StoreRecorder", "run_summary"]

_FILES = (
    "model.safetensors",
    "card.json",
    "metrics.json",
    "history.csv",
    "config.yaml",
    "checkpoints/last.ckpt",
)


def run_summary(metrics: Mapping[str, Any], *, task: str = "classify") -> dict[str, Any]:
    """The run row's columns and its final metrics by name (``scores``) from ``metrics.json``.

    Every top-level number of ``metrics.json`` is a score (``accuracy``, ``macro_f1``, ``loss``,
    ``map``, ``map50``, ...); the task's summary metric is the run's primary metric.
    """
    from imgrec.tasks.registry import get_task

    training = metrics.get("training") or {}
    inference = metrics.get("inference") or {}
    latency = inference.get("latency_batch1") or {}
    throughput = inference.get("throughput") or {}
    scores = {
        k: v for k, v in metrics.items() if isinstance(v, int | float) and not isinstance(v, bool)
    }
    keys = ("accuracy", "macro_f1", "weighted_f1", "loss", "map", "map50", "map75")
    compact = {k: metrics[k] for k in (*keys, "split", "training", "inference") if k in metrics}
    primary = get_task(task).summary_metric
    return {
        "primary_metric": primary,
        "primary_value": scores.get(primary),
        "scores": scores,
        "train_time_s": training.get("wall_time_s"),
        "epochs_completed": training.get("epochs_completed") or 0,
        "best_epoch": training.get("best_epoch"),
        "best_val": training.get("best_val"),
        "latency_ms": latency.get("p50_ms"),
        "throughput": throughput.get("images_per_second"),
        "metrics": compact,
    }


class StoreRecorder(RunObserver):
    """Records one run (already inserted as ``run_id``) while it trains.

    Attributes:
        store_seconds: Wall time spent in database calls on the training thread (for the
            overhead benchmark).
    """

    def __init__(
        self, store: Store, run_id: int, *, task: str = "classify", heartbeat_s: float = 10.0
    ) -> None:
        self.store = store
        self.run_id = run_id
        self.task = task
        self.heartbeat_s = heartbeat_s
        self.store_seconds = 0.0
        self._warned = False
        self._stop = threading.Event()
        self._thread = threading.Thread(
            target=self._beat, name=f"imgrec-heartbeat-{run_id}", daemon=True
        )
        self._thread.start()

    def _call(self, what: str, action: Any, *args: Any, **kwargs: Any) -> None:
        started = time.perf_counter()
        try:
            action(*args, **kwargs)
        except StoreError as exc:
            if not self._warned:
                sys.stderr.write(
                    f"warning: could not record {what} of run {self.run_id} in the run "
                    f"database ({exc}); training goes on, the run directory has everything.\n"
                )
                self._warned = True
        finally:
            self.store_seconds += time.perf_counter() - started

    def _beat(self) -> None:
        while not self._stop.wait(self.heartbeat_s):
            try:
                self.store.heartbeat(self.run_id)
            except StoreError:
                continue  # the next beat tries again; a long outage reaps the run

    def started(
        self, *, run_dir: Path, config: Mapping[str, Any], dataset: Mapping[str, Any]
    ) -> None:
        def start() -> None:
            dataset_id = self.store.upsert_dataset(
                fingerprint=str(dataset["fingerprint"]),
                source=str(dataset["source"]),
                layout=str(dataset["layout"]),
                num_classes=int(dataset["num_classes"]),
                num_images=int(dataset["num_images"]),
                counts=dataset["counts"],
                report=dataset["report"],
            )
            self.store.start_run(
                self.run_id, run_dir=run_dir.resolve(), name=run_dir.name, dataset_id=dataset_id
            )

        self._call("the start", start)

    def epoch(self, row: Mapping[str, float]) -> None:
        self._call("an epoch", self.store.record_epoch, self.run_id, row)

    def finished(
        self,
        *,
        status: str,
        metrics: Mapping[str, Any] | None,
        error: str | None,
        run_dir: Path | None,
    ) -> None:
        self._stop.set()
        summary = run_summary(metrics, task=self.task) if metrics else {}
        artifacts: dict[str, tuple[str, int | None]] = {}
        if run_dir is not None:
            named = dict((metrics or {}).get("artifacts") or {})
            named.update({name: name for name in _FILES})
            for kind, relative in named.items():
                path = run_dir / str(relative)
                if path.is_file():
                    artifacts[kind] = (str(relative), path.stat().st_size)
        self._call(
            "the end",
            self.store.finish_run,
            self.run_id,
            status=status,
            error=error,
            summary=summary,
            artifacts=artifacts,
        )
        self._thread.join(timeout=self.heartbeat_s + 5)
