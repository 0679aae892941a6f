"""The web server's settings: where the data lives, who may connect, how big an upload may be."""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass
from pathlib import Path

from imgrec.config import Settings
from imgrec.errors import ConfigError

__all__ = ["ServerConfig", "is_loopback"]


def is_loopback(host: str) -> bool:
    """True for 127.0.0.0/8, ::1 and ``localhost``: the only hosts served without a token."""
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


@dataclass
class ServerConfig:
    """What ``imgrec serve`` runs with.

    Attributes:
        db_url: Run database (SQLite file by default, PostgreSQL for several machines).
        home: imgrec's data folder; uploads go to ``home/web/datasets``, experiments to
            ``home/experiments``.
        host: Address to bind. Anything but loopback requires ``token``.
        port: TCP port.
        token: Shared secret for the API (``Authorization: Bearer``) and the pages (login).
        max_upload_bytes: Larger uploads are refused while they stream in (413).
        workers: Worker processes the server starts; 0 relies on external ``imgrec worker``.
        live_poll_s: How often the live feed reads the database for news.
    """

    db_url: str
    home: Path
    host: str = "127.0.0.1"
    port: int = 8000
    token: str | None = None
    max_upload_bytes: int = 2 * 1024**3
    workers: int = 1
    live_poll_s: float = 0.25

    def __post_init__(self) -> None:
        if self.workers < 0:
            raise ConfigError(f"--workers must be 0 or more (got {self.workers}).")
        if self.max_upload_bytes <= 0:
            raise ConfigError("IMGREC_MAX_UPLOAD_MB must be positive.")
        if not is_loopback(self.host) and not self.token:
            raise ConfigError(
                f"binding {self.host} exposes imgrec beyond this machine; set IMGREC_TOKEN to a "
                "long random secret first (the API then needs 'Authorization: Bearer <token>' "
                "and the pages a login), or bind 127.0.0.1."
            )

    @classmethod
    def from_settings(
        cls, settings: Settings | None = None, *, db_url: str | None = None, **values: object
    ) -> ServerConfig:
        settings = settings or Settings()
        return cls(
            db_url=db_url or settings.database_url,
            home=settings.home,
            token=settings.token,
            max_upload_bytes=settings.max_upload_mb * 1024**2,
            **values,  # type: ignore[arg-type]
        )

    @property
    def uploads_dir(self) -> Path:
        return self.home / "web" / "datasets"

    @property
    def experiments_dir(self) -> Path:
        return self.home / "experiments"
