"""FastAPI dependencies, declared once as ``Annotated`` aliases (full-stack-fastapi-template)."""

from __future__ import annotations

import hmac
from typing import TYPE_CHECKING, Annotated

from fastapi import Depends, HTTPException, Request, WebSocket, status

from imgrec.server.config import ServerConfig
from imgrec.store import Store

if TYPE_CHECKING:
    from imgrec.server.library import DatasetLibrary

__all__ = [
    "TOKEN_COOKIE",
    "ConfigDep",
    "LibraryDep",
    "StoreDep",
    "api_auth",
    "has_valid_token",
    "page_auth",
]

TOKEN_COOKIE = "imgrec_token"


class LoginRequired(Exception):  # noqa: N818  # control flow: the page handler redirects
    """A page was asked for without a valid login; the app redirects to /login."""

    def __init__(self, next_url: str) -> None:
        super().__init__(next_url)
        self.next_url = next_url


def get_config(request: Request) -> ServerConfig:
    return request.app.state.config


def get_store(request: Request) -> Store:
    return request.app.state.store


def get_library(request: Request) -> DatasetLibrary:
    return request.app.state.library


ConfigDep = Annotated[ServerConfig, Depends(get_config)]
StoreDep = Annotated[Store, Depends(get_store)]
LibraryDep = Annotated["DatasetLibrary", Depends(get_library)]


def _same(given: str | None, token: str) -> bool:
    return given is not None and hmac.compare_digest(given.encode(), token.encode())


def has_valid_token(connection: Request | WebSocket, token: str | None) -> bool:
    """True when no token is configured, or the request carries it (header or cookie)."""
    if not token:
        return True
    header = connection.headers.get("authorization", "")
    if header.lower().startswith("bearer ") and _same(header[7:].strip(), token):
        return True
    # Not in the query string: URLs end up in access logs.
    return _same(connection.cookies.get(TOKEN_COOKIE), token)


def api_auth(request: Request) -> None:
    """401 unless the API request carries the token (when one is configured)."""
    if not has_valid_token(request, get_config(request).token):
        raise HTTPException(
            status.HTTP_401_UNAUTHORIZED,
            detail="this imgrec server needs its token: send 'Authorization: Bearer <token>'",
            headers={"WWW-Authenticate": "Bearer"},
        )


def page_auth(request: Request) -> None:
    """Send the browser to the login page unless it is logged in (when a token is configured)."""
    if not has_valid_token(request, get_config(request).token):
        query = f"?{request.url.query}" if request.url.query else ""
        raise LoginRequired(f"{request.url.path}{query}")
