"""What protects the server from browsers on other sites, and JSON from NaN.

- In loopback mode (no token) only the loopback host names are served (Starlette's
  ``TrustedHostMiddleware``): a DNS-rebinding page that points its own name at 127.0.0.1 gets 400.
- :class:`OriginGuard` refuses requests that change something (any method but GET, HEAD and
  OPTIONS) and WebSocket handshakes whose ``Origin`` is another site: a page elsewhere cannot
  start, cancel or upload, nor read the live feed. Requests without ``Origin`` (curl, scripts)
  pass; the token guards those where one is set.
- Diverged trials record NaN and infinite losses; JSON has no such numbers and browsers refuse
  the whole message, so every answer, feed message and page payload carries ``null`` instead.
"""

from __future__ import annotations

import json
import math
from typing import Any
from urllib.parse import urlsplit

from fastapi.responses import JSONResponse
from starlette.types import ASGIApp, Receive, Scope, Send

__all__ = ["LOOPBACK_HOSTS", "OriginGuard", "SafeJSONResponse", "finite", "safe_dumps"]

LOOPBACK_HOSTS = ("127.0.0.1", "localhost", "::1", "[::1]")
_SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})


def finite(value: Any) -> Any:
    """``value`` with every NaN or infinite float (at any depth) replaced by None."""
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, dict):
        return {k: finite(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [finite(v) for v in value]
    return value


def safe_dumps(value: Any, **kwargs: Any) -> str:
    """``json.dumps`` that writes null for NaN/infinity (the feed, Jinja's ``tojson``)."""
    return json.dumps(finite(value), allow_nan=False, **kwargs)


class SafeJSONResponse(JSONResponse):
    """The API's default response: JSON with null where a number is NaN or infinite."""

    def render(self, content: Any) -> bytes:
        return safe_dumps(content, ensure_ascii=False, separators=(",", ":")).encode("utf-8")


class OriginGuard:
    """Refuse cross-site state changes and WebSocket handshakes (ASGI middleware)."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        kind = scope["type"]
        if kind in ("http", "websocket") and not self._same_site(scope):
            if kind == "http" and scope["method"] not in _SAFE_METHODS:
                response = JSONResponse(
                    {"detail": "cross-site request refused: use imgrec from its own pages"},
                    status_code=403,
                )
                await response(scope, receive, send)
                return
            if kind == "websocket":
                await send({"type": "websocket.close", "code": 4403})
                return
        await self.app(scope, receive, send)

    @staticmethod
    def _same_site(scope: Scope) -> bool:
        headers = dict(scope.get("headers") or [])
        origin = headers.get(b"origin")
        if origin is None:
            return True  # not a browser page (curl, scripts): the token decides
        if origin == b"null":
            return False  # sandboxed frames and file:// pages
        host = headers.get(b"host", b"").decode("latin-1").lower()
        return urlsplit(origin.decode("latin-1")).netloc.lower() == host
