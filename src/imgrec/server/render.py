"""What every page handler shares: rendering a template, the 404 page, the login dependency."""

from __future__ import annotations

from typing import Any

from fastapi import Depends, Request
from fastapi.responses import HTMLResponse

from imgrec.server.deps import page_auth

__all__ = ["AUTH", "PALETTE", "not_found", "render"]

AUTH = [Depends(page_auth)]
# The series colours of the charts (static/common.js has the same list), by class index.
PALETTE = (
    "#3b5bdb", "#e8590c", "#2b8a3e", "#c2255c", "#7048e8", "#0c8599",
    "#f08c00", "#5c940d", "#862e9c", "#1971c2", "#d6336c", "#495057",
)  # fmt: skip


def render(request: Request, name: str, status_code: int = 200, **context: Any) -> HTMLResponse:
    """The template ``name`` rendered with ``context`` (autoescaped)."""
    templates = request.app.state.templates
    return templates.TemplateResponse(request, name, context, status_code=status_code)


def not_found(request: Request, message: str, back: tuple[str, str]) -> HTMLResponse:
    """The 404 page with ``message`` and a link ``back`` (href, label)."""
    href, label = back
    return render(request, "not_found.html", 404, message=message, back_href=href, back_label=label)
