"""``imgrec serve``: the web workbench (pages, JSON API, live feed) and its workers."""

from __future__ import annotations

from types import FrameType
from typing import Annotated

import typer

__all__ = ["serve_command"]


def serve_command(
    host: Annotated[
        str, typer.Option(help="Address to bind; anything but loopback needs IMGREC_TOKEN.")
    ] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="TCP port.")] = 8000,
    workers: Annotated[
        int, typer.Option(help="Worker processes to start; 0 = use external 'imgrec worker'.")
    ] = 1,
    db: Annotated[
        str | None, typer.Option(help="Run database URL (default SQLite in IMGREC_HOME).")
    ] = None,
    log_level: Annotated[str, typer.Option(help="uvicorn log level.")] = "info",
) -> None:
    """Serve the web workbench: upload a zip, start a search, watch it live, download models.

    Open http://127.0.0.1:8000 (API documentation at /docs). On another address, set
    IMGREC_TOKEN first: the API then needs 'Authorization: Bearer <token>', the pages a login.
    """
    import uvicorn

    from imgrec.cli.common import run_or_exit
    from imgrec.server import ServerConfig, create_app

    def start() -> None:
        config = ServerConfig.from_settings(db_url=db, host=host, port=port, workers=workers)
        app = create_app(config)
        shown = f"[{host}]" if ":" in host else host
        typer.echo(
            f"imgrec serving on http://{shown}:{port} with {workers} worker(s); "
            f"database {app.state.store!r}",
            err=True,
        )
        server = uvicorn.Server(
            uvicorn.Config(
                app, host=host, port=port, log_level=log_level, timeout_graceful_shutdown=5
            )
        )
        handle_exit = server.handle_exit

        def stop_workers_first(sig: int, frame: FrameType | None) -> None:
            # Workers hand their trials back at once, not after the pages' connections close.
            app.state.workers.terminate()
            handle_exit(sig, frame)

        server.handle_exit = stop_workers_first  # type: ignore[method-assign]
        server.run()

    run_or_exit(start)
