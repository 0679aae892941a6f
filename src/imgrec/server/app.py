"""The FastAPI application: JSON API, live WebSocket feed, pages and the worker processes.

``create_app(config)`` builds everything from a :class:`ServerConfig`; ``imgrec serve`` runs it
with uvicorn. The run database is the only message bus (docs/ARCHITECTURE.md, "Watch"): workers
write epochs and states, the live feed reads them, so a restarted server picks up where it was.
"""

from __future__ import annotations

import asyncio
import gc
import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any
from urllib.parse import quote

from fastapi import Depends, FastAPI, Request
from fastapi.responses import JSONResponse, RedirectResponse
from fastapi.staticfiles import StaticFiles
from fastapi.templating import Jinja2Templates
from starlette.middleware.trustedhost import TrustedHostMiddleware

from imgrec import __version__
from imgrec.errors import ImgrecError, StoreError
from imgrec.server.config import ServerConfig
from imgrec.server.deps import LoginRequired, api_auth
from imgrec.server.filters import TEMPLATE_FILTERS
from imgrec.server.guards import LOOPBACK_HOSTS, OriginGuard, SafeJSONResponse, safe_dumps
from imgrec.server.library import DatasetLibrary
from imgrec.server.live import LiveHub
from imgrec.server.schemas import Health
from imgrec.server.workers import WorkerPool
from imgrec.store import Store

__all__ = ["create_app"]

HERE = Path(__file__).parent
log = logging.getLogger("imgrec.server")


def create_app(config: ServerConfig) -> FastAPI:
    """The imgrec web application for ``config`` (workers start with the app's lifespan)."""
    store = Store(config.db_url)
    pool = WorkerPool(config)

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        pool.start()  # before any thread starts: workers fork from a quiet process
        app.state.library.resume_checks()
        supervisor = asyncio.create_task(pool.supervise(), name="worker-supervisor")
        # Everything imported so far lives as long as the server: keep it out of the garbage
        # collector's full passes (each took ~70 ms over ~134k objects: a p95 outlier).
        gc.collect()
        gc.freeze()
        try:
            yield
        finally:
            supervisor.cancel()
            await app.state.hub.close()
            pool.stop()
            app.state.library.close()
            store.close()

    app = FastAPI(
        title="imgrec",
        version=__version__,
        description="Image recognition workbench: datasets, experiments, runs, models.",
        lifespan=lifespan,
        default_response_class=SafeJSONResponse,
    )
    app.add_middleware(OriginGuard)
    if config.token is None:  # loopback only: refuse other host names (DNS rebinding)
        app.add_middleware(TrustedHostMiddleware, allowed_hosts=[*LOOPBACK_HOSTS, config.host])
    app.state.config = config
    app.state.store = store
    app.state.library = DatasetLibrary(config.uploads_dir, settings_home=config.home)
    app.state.hub = LiveHub(store, poll_s=config.live_poll_s, uploads=config.uploads_dir.resolve())
    app.state.workers = pool
    app.state.templates = Jinja2Templates(directory=str(HERE / "templates"))
    app.state.templates.env.filters.update(TEMPLATE_FILTERS)
    app.state.templates.env.policies["json.dumps_function"] = safe_dumps
    app.mount("/static", StaticFiles(directory=str(HERE / "static")), name="static")

    from imgrec.server import (
        live,
        pages,
        pages_datasets,
        routes_datasets,
        routes_experiments,
        routes_models,
        routes_runs,
    )

    api = [Depends(api_auth)]
    app.include_router(routes_datasets.router, prefix="/api", dependencies=api)
    app.include_router(routes_experiments.router, prefix="/api", dependencies=api)
    app.include_router(routes_runs.router, prefix="/api", dependencies=api)
    app.include_router(routes_models.router, prefix="/api", dependencies=api)
    app.include_router(live.router)
    app.include_router(pages_datasets.router)  # before /experiments/{id}: /experiments/new
    app.include_router(pages.router)

    @app.get("/api/health", tags=["server"], dependencies=api, response_model=Health)
    def health() -> dict[str, Any]:
        """The server answers; how many of its worker processes are alive."""
        return {
            "status": "ok",
            "version": __version__,
            "workers": {"expected": config.workers, "alive": pool.alive()},
        }

    @app.exception_handler(LoginRequired)
    async def to_login(_request: Request, exc: LoginRequired) -> RedirectResponse:
        return RedirectResponse(f"/login?next={quote(exc.next_url)}", status_code=303)

    @app.exception_handler(StoreError)
    async def store_down(_request: Request, exc: StoreError) -> JSONResponse:
        log.warning("run database error: %s", exc)  # the details stay in the server's log
        return JSONResponse(
            {"detail": "the run database is not available right now; try again shortly"},
            status_code=503,
        )

    @app.exception_handler(ImgrecError)
    async def user_error(_request: Request, exc: ImgrecError) -> JSONResponse:
        return JSONResponse({"detail": str(exc)}, status_code=400)

    return app
