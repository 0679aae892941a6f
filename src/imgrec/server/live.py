"""Live updates over WebSocket, with the run database as the only message bus.

One :class:`Feed` per watched experiment (or run) polls the database every ``poll_s`` seconds for
epoch rows past its cursor and for runs whose state changed, builds one message, serialises it
once and hands it to every page watching (so 20 pages cost one query, not 20). A page connects
with ``?after=<cursor>`` and first gets a snapshot of everything past it, so a page that
reconnects (or a restarted server) continues where it left off. Epoch ids are the cursor; on
PostgreSQL concurrent writers can commit ids out of order, so each poll looks back
``LOOKBACK`` ids and drops the ones it already sent, and a snapshot starts ``LOOKBACK`` ids before
the page's cursor: pages ignore epoch ids they already have.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from dataclasses import dataclass, field
from typing import Any

from fastapi import APIRouter, WebSocket, WebSocketDisconnect
from fastapi.concurrency import run_in_threadpool

from imgrec.errors import ImgrecError, NotFoundError
from imgrec.server.deps import has_valid_token
from imgrec.server.guards import safe_dumps
from imgrec.server.progress import experiment_out
from imgrec.server.schemas import RunOut
from imgrec.store import Store

__all__ = ["LOOKBACK", "Feed", "LiveHub", "router"]

router = APIRouter()
log = logging.getLogger("imgrec.server")
LOOKBACK = 500
PING_S = 15.0
QUEUE_LIMIT = 256
CLOSE = "__close__"
REFRESH_S = 2.0  # the experiment's elapsed time and ETA are resent at least this often


@dataclass
class Feed:
    """What one experiment (``kind="experiment"``) or run (``kind="run"``) feed has sent."""

    kind: str
    ident: int
    cursor: int = 0
    sent: set[int] = field(default_factory=set)
    states: dict[int, tuple[Any, ...]] = field(default_factory=dict)
    queues: set[asyncio.Queue[str]] = field(default_factory=set)
    task: asyncio.Task[None] | None = None
    refreshed: float = 0.0
    open: bool = True  # a finished experiment's ETA and elapsed time need no refresh
    # Set once the poller knows where "now" is; a page's snapshot is read after that, so
    # nothing falls between the snapshot and the first update.
    primed: asyncio.Event = field(default_factory=asyncio.Event)

    def scope(self) -> dict[str, int]:
        return {"experiment_id" if self.kind == "experiment" else "run_id": self.ident}


def build_message(
    store: Store, feed: Feed, *, after: int, kind: str, uploads: Any = None
) -> dict[str, Any] | None:
    """Epochs past ``after`` and changed runs of ``feed`` (all runs when ``kind`` is snapshot).

    Updates ``feed``'s cursor and fingerprints unless this is a page's own snapshot.
    """
    snapshot = kind == "snapshot"
    epochs = store.epochs_after(max(0, after - LOOKBACK), **feed.scope())
    if not snapshot:
        epochs = [e for e in epochs if e.id not in feed.sent]
    states = store.run_states(**feed.scope())
    changed = (
        list(states) if snapshot else [i for i, s in states.items() if feed.states.get(i) != s]
    )
    now = time.monotonic()
    stale = feed.kind == "experiment" and feed.open and now - feed.refreshed >= REFRESH_S
    if not snapshot and not epochs and not changed and not stale:
        return None
    runs = store.runs_by_ids(changed)
    experiment = None
    if feed.kind == "experiment":
        exp = store.get_experiment(feed.ident)
        all_runs = store.run_briefs([exp.id])[exp.id]
        experiment = experiment_out(store, exp, all_runs, uploads_dir=uploads).model_dump(
            mode="json"
        )
        feed.open = exp.status == "open"
    cursor = max([after, *(e.id for e in epochs)])
    if not snapshot:
        feed.states = states
        feed.refreshed = now
        feed.sent.update(e.id for e in epochs)
        feed.cursor = max(feed.cursor, cursor)
        feed.sent = {i for i in feed.sent if i > feed.cursor - LOOKBACK}
    return {
        "type": kind,
        "cursor": cursor,
        "experiment": experiment,
        "runs": [RunOut.of(r).model_dump(mode="json") for r in runs],
        "epochs": [e.model_dump(mode="json") for e in epochs],
    }


class LiveHub:
    """The feeds of this server process: created on the first watcher, stopped after the last."""

    def __init__(self, store: Store, *, poll_s: float = 0.25, uploads: Any = None) -> None:
        self.store = store
        self.poll_s = poll_s
        self.uploads = uploads
        self.feeds: dict[tuple[str, int], Feed] = {}

    def subscribe(self, kind: str, ident: int) -> tuple[Feed, asyncio.Queue[str]]:
        """A queue of the feed's messages (no await in here: no race with unsubscribe)."""
        key = (kind, ident)
        feed = self.feeds.get(key)
        if feed is None:
            feed = self.feeds[key] = Feed(kind, ident)
            feed.task = asyncio.create_task(self._poll(feed), name=f"live-{kind}-{ident}")
            feed.task.add_done_callback(lambda task: self._ended(feed, task))
        queue: asyncio.Queue[str] = asyncio.Queue(maxsize=QUEUE_LIMIT)
        feed.queues.add(queue)
        return feed, queue

    def _prime(self, feed: Feed) -> None:
        """Start from "now": what came before reaches each page through its own snapshot."""
        recent = self.store.last_epoch_ids(LOOKBACK, **feed.scope())
        feed.sent = set(recent)
        feed.cursor = max(recent, default=0)
        feed.states = self.store.run_states(**feed.scope())

    def unsubscribe(self, feed: Feed, queue: asyncio.Queue[str]) -> None:
        feed.queues.discard(queue)
        if not feed.queues:
            if self.feeds.get((feed.kind, feed.ident)) is feed:
                del self.feeds[(feed.kind, feed.ident)]
            if feed.task is not None:
                feed.task.cancel()

    def _ended(self, feed: Feed, task: asyncio.Task[None]) -> None:
        """A poller that died (not cancelled) closes its pages; they reconnect to a new one."""
        if task.cancelled():
            return
        if task.exception() is not None:
            log.error("live feed %s %d stopped", feed.kind, feed.ident, exc_info=task.exception())
        if self.feeds.get((feed.kind, feed.ident)) is feed:
            del self.feeds[(feed.kind, feed.ident)]
        for queue in list(feed.queues):
            _close_queue(queue)
        feed.queues.clear()

    async def _tick(self, feed: Feed, primed: bool) -> bool:
        """One poll; returns whether the feed is primed. Errors are logged and retried."""
        try:
            if not primed:
                await run_in_threadpool(self._prime, feed)
                feed.primed.set()
                return True
            message = await run_in_threadpool(
                build_message,
                self.store,
                feed,
                after=feed.cursor,
                kind="update",
                uploads=self.uploads,
            )
        except Exception:  # database briefly unreachable, or a bug: log, try again next tick
            log.warning("live feed %s %d: poll failed", feed.kind, feed.ident, exc_info=True)
            await asyncio.sleep(min(5.0, 10 * self.poll_s))
            return primed
        if message is not None:
            text = safe_dumps(message)
            for queue in list(feed.queues):
                if queue.full():  # a page that stopped reading: close it, it reconnects
                    feed.queues.discard(queue)
                    _close_queue(queue)
                else:
                    queue.put_nowait(text)
        return True

    async def _poll(self, feed: Feed) -> None:
        primed = False
        while True:
            primed = await self._tick(feed, primed)
            await asyncio.sleep(self.poll_s)

    async def close(self) -> None:
        for feed in list(self.feeds.values()):
            for queue in list(feed.queues):
                self.unsubscribe(feed, queue)
            if feed.task is not None:
                with contextlib.suppress(asyncio.CancelledError, Exception):
                    await feed.task


def _close_queue(queue: asyncio.Queue[str]) -> None:
    while not queue.empty():
        queue.get_nowait()
    queue.put_nowait(CLOSE)


def _exists(store: Store, kind: str, ident: int) -> bool:
    try:
        if kind == "experiment":
            store.get_experiment(ident)
        else:
            store.get_run(ident)
    except NotFoundError:
        return False
    return True


async def _serve(websocket: WebSocket, kind: str, ident: int, after: int) -> None:
    app = websocket.app
    hub: LiveHub = app.state.hub
    await websocket.accept()  # accept first: a close code before accepting reads as 403/1006
    if not has_valid_token(websocket, app.state.config.token):
        await websocket.close(code=4401, reason="token required")
        return
    try:
        if not await run_in_threadpool(_exists, hub.store, kind, ident):
            await websocket.send_json({"type": "error", "detail": f"no {kind} {ident}"})
            await websocket.close(code=4404, reason=f"no {kind} {ident}")
            return
        feed, queue = hub.subscribe(kind, ident)
    except ImgrecError:  # the database is down: 1011, the page tries again
        await websocket.close(code=1011, reason="run database not available")
        return
    try:
        await asyncio.wait_for(feed.primed.wait(), timeout=PING_S)
        snapshot = await run_in_threadpool(
            build_message, hub.store, feed, after=after, kind="snapshot", uploads=hub.uploads
        )
        await websocket.send_text(safe_dumps(snapshot))
        while True:
            try:
                text = await asyncio.wait_for(queue.get(), timeout=PING_S)
            except TimeoutError:
                text = '{"type": "ping"}'
            if text == CLOSE:
                await websocket.close(code=4408, reason="reconnect with ?after=cursor")
                return
            await websocket.send_text(text)
    except (WebSocketDisconnect, RuntimeError):
        pass
    except (ImgrecError, TimeoutError):
        with contextlib.suppress(RuntimeError, WebSocketDisconnect):
            await websocket.close(code=1011, reason="run database not available")
    finally:
        hub.unsubscribe(feed, queue)


@router.websocket("/ws/experiments/{experiment_id}")
async def watch_experiment(websocket: WebSocket, experiment_id: int, after: int = 0) -> None:
    """Snapshot, then every new epoch, trial state change and progress/ETA of an experiment."""
    await _serve(websocket, "experiment", experiment_id, after)


@router.websocket("/ws/runs/{run_id}")
async def watch_run(websocket: WebSocket, run_id: int, after: int = 0) -> None:
    """Snapshot, then every new epoch and state change of one run."""
    await _serve(websocket, "run", run_id, after)
