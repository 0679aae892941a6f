"""The web workbench: FastAPI app, JSON API, WebSocket live feed, pages, worker processes.

>>> from imgrec.server import ServerConfig, create_app
>>> app = create_app(ServerConfig.from_settings())  # doctest: +SKIP
"""

from __future__ import annotations

from imgrec.server.app import create_app
from imgrec.server.config import ServerConfig

__all__ = ["ServerConfig", "create_app"]
