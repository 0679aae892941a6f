"""Request bodies read with a cap: what the client sends never grows past the limit on disk or in
memory, whether or not it announced its length (chunked uploads count as they arrive)."""

from __future__ import annotations

from pathlib import Path

from fastapi import HTTPException, Request

__all__ = ["read_capped", "require_raw_body", "stream_to_file"]


def too_big(limit: int, what: str, setting: str | None = None) -> HTTPException:
    hint = f" or raise {setting}" if setting else ""
    return HTTPException(
        413,
        detail=f"the {what} is larger than this server's limit of {limit / 1024**2:.0f} MiB; "
        f"send a smaller one{hint}.",
    )


def require_raw_body(request: Request, allowed: tuple[str, ...], example: str) -> None:
    """415 unless the body is sent as-is with one of the ``allowed`` content types.

    Multipart is refused on purpose: form parsers spool the whole body before a route can count
    it, which would put the size limit after the disk has filled.
    """
    kind = request.headers.get("content-type", "").split(";")[0].strip().lower()
    if not any(kind == a or (a.endswith("/*") and kind.startswith(a[:-1])) for a in allowed):
        raise HTTPException(
            415,
            detail=f"send the file itself as the request body with Content-Type {allowed[0]} "
            f"(got '{kind or 'none'}'), e.g. {example}",
        )


def _check_declared(request: Request, limit: int, what: str, setting: str | None) -> None:
    declared = request.headers.get("content-length")
    if declared and declared.isdigit() and int(declared) > limit:
        raise too_big(limit, what, setting)


async def stream_to_file(
    request: Request, path: Path, limit: int, *, what: str, setting: str | None = None
) -> int:
    """Write the body to ``path``; 413 as soon as it passes ``limit`` bytes. Returns its size."""
    _check_declared(request, limit, what, setting)
    written = 0
    with path.open("wb") as out:
        async for chunk in request.stream():
            written += len(chunk)
            if written > limit:
                raise too_big(limit, what, setting)
            out.write(chunk)
    return written


async def read_capped(request: Request, limit: int, *, what: str) -> bytes:
    """The body in memory (for small things such as one image); 413 past ``limit`` bytes."""
    _check_declared(request, limit, what, None)
    data = bytearray()
    async for chunk in request.stream():
        data += chunk
        if len(data) > limit:
            raise too_big(limit, what)
    return bytes(data)
