"""The FastAPI application: JSON API, live WebSocket feed, pages and the worker processes.

``create_app(config)`` builds everything from a :class:`ServerConfig`; ``imgrec serve`` runs it
with uvicorn. The run database is the only message bus (ARCHITECTURE.md, "Watch"): workers write
epochs and states, the live feed reads them, so a restarted server picks up where it was.
"""

from __future__ import annotations

import gc
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from urllib.parse import quote

from fastapi import Depends, FastAPI, Request
from fastapi.responses import JSONResponse, RedirectResponse
from fastapi.staticfiles import StaticFiles
from fastapi.templating import Jinja2Templates

from imgrec import __version__
from imgrec.errors import ImgrecError, StoreError
from imgrec.server.config import ServerConfig
from imgrec.server.deps import LoginRequired, api_auth
from imgrec.server.filters import TEMPLATE_FILTERS
from imgrec.server.library import DatasetLibrary
from imgrec.server.live import LiveHub
from imgrec.server.workers import WorkerPool
from imgrec.store import Store

__all__ = ["create_app"]

HERE = Path(__file__).parent


def create_app(config: ServerConfig) -> FastAPI:
    """The imgrec web application for ``config`` (workers start with the app's lifespan)."""
    store = Store(config.db_url)
    pool = WorkerPool(config)

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        app.state.library.resume_checks()
        pool.start()
        # Everything imported so far lives as long as the server: keep it out of the garbage
        # collector's full passes (each took ~70 ms over ~134k objects: a p95 outlier).
        gc.collect()
        gc.freeze()
        try:
            yield
        finally:
            await app.state.hub.close()
            pool.stop()
            store.close()

    app = FastAPI(
        title="imgrec",
        version=__version__,
        description="Image recognition workbench: datasets, experiments, runs, models.",
        lifespan=lifespan,
    )
    app.state.config = config
    app.state.store = store
    app.state.library = DatasetLibrary(config.uploads_dir, settings_home=config.home)
    app.state.hub = LiveHub(store, poll_s=config.live_poll_s, uploads=config.uploads_dir.resolve())
    app.state.workers = pool
    app.state.templates = Jinja2Templates(directory=str(HERE / "templates"))
    app.state.templates.env.filters.update(TEMPLATE_FILTERS)
    app.mount("/static", StaticFiles(directory=str(HERE / "static")), name="static")

    from imgrec.server import live, pages, routes_datasets, routes_experiments, routes_runs

    api = [Depends(api_auth)]
    app.include_router(routes_datasets.router, prefix="/api", dependencies=api)
    app.include_router(routes_experiments.router, prefix="/api", dependencies=api)
    app.include_router(routes_runs.router, prefix="/api", dependencies=api)
    app.include_router(live.router)
    app.include_router(pages.router)

    @app.get("/api/health", tags=["server"], dependencies=api)
    def health() -> dict[str, str]:
        return {"status": "ok", "version": __version__}

    @app.exception_handler(LoginRequired)
    async def to_login(_request: Request, exc: LoginRequired) -> RedirectResponse:
        return RedirectResponse(f"/login?next={quote(exc.next_url)}", status_code=303)

    @app.exception_handler(StoreError)
    async def store_down(_request: Request, exc: StoreError) -> JSONResponse:
        return JSONResponse({"detail": str(exc)}, status_code=503)

    @app.exception_handler(ImgrecError)
    async def user_error(_request: Request, exc: ImgrecError) -> JSONResponse:
        return JSONResponse({"detail": str(exc)}, status_code=400)

    return app
