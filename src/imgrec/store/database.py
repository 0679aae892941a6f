"""Connecting to the run database and bringing its schema up to date.

SQLite (the default: ``IMGREC_HOME/imgrec.db``, see ``Settings.database_url``) runs in WAL mode
with a busy timeout and foreign keys on, so one writer and many readers work at once.
PostgreSQL is chosen by URL (``postgresql://user@host/db``; the psycopg 3 driver is filled in).
The schema is created or upgraded by Alembic on first use; the migrations ship inside the
package.
"""

from __future__ import annotations

import contextlib
import hashlib
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from sqlalchemy import Engine, create_engine, event, text
from sqlalchemy.engine import URL, make_url
from sqlalchemy.exc import ArgumentError, SQLAlchemyError

from imgrec.errors import StoreError

__all__ = ["create_db_engine", "migrate", "normalise_url", "safe_url"]

MIGRATIONS_DIR = Path(__file__).with_name("migrations")
SQLITE_BUSY_TIMEOUT_S = 30.0


def normalise_url(url: str) -> str:
    """Parse ``url``; plain ``postgresql://`` gets the installed psycopg 3 driver."""
    try:
        parsed = make_url(url)
    except ArgumentError as exc:
        raise StoreError(
            f"database URL {url!r} is not valid: use sqlite:///path/to/imgrec.db or "
            "postgresql://user:password@host:5432/dbname (IMGREC_DB_URL or --db)."
        ) from exc
    if parsed.drivername in ("postgresql", "postgres"):
        parsed = parsed.set(drivername="postgresql+psycopg")
    if not parsed.drivername.startswith(("sqlite", "postgresql")):
        raise StoreError(
            f"database URL {safe_url(url)}: only SQLite and PostgreSQL are supported "
            f"(got '{parsed.drivername}')."
        )
    return parsed.render_as_string(hide_password=False)


def safe_url(url: str | URL) -> str:
    """The URL with its password masked, for messages."""
    try:
        return make_url(url).render_as_string(hide_password=True)
    except ArgumentError:
        return "<unparseable URL>"


def _sqlite_path(url: URL) -> Path | None:
    database = url.database
    if not database or database == ":memory:" or database.startswith("file:"):
        return None
    return Path(database)


def create_db_engine(url: str) -> Engine:
    """An engine for ``url`` with imgrec's connection settings (WAL etc. on SQLite)."""
    parsed = make_url(normalise_url(url))
    kwargs: dict[str, Any] = {"pool_pre_ping": True}
    if parsed.drivername.startswith("sqlite"):
        path = _sqlite_path(parsed)
        if path is not None:
            path.parent.mkdir(parents=True, exist_ok=True)
        kwargs["connect_args"] = {"timeout": SQLITE_BUSY_TIMEOUT_S, "check_same_thread": False}
    engine = create_engine(parsed, **kwargs)
    if engine.dialect.name == "sqlite":
        event.listen(engine, "connect", _sqlite_pragmas)
    return engine


def _sqlite_pragmas(dbapi_connection: Any, _record: Any) -> None:
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute(f"PRAGMA busy_timeout={int(SQLITE_BUSY_TIMEOUT_S * 1000)}")
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.execute("PRAGMA synchronous=NORMAL")
    cursor.close()


def migrate(engine: Engine) -> str:
    """Create or upgrade imgrec's tables to the newest revision; returns that revision.

    Several processes may call this at once (workers starting together): SQLite serialises them
    with a lock file next to the database, PostgreSQL with an advisory lock.
    """
    from alembic import command
    from alembic.config import Config
    from alembic.script import ScriptDirectory

    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS_DIR))
    head = ScriptDirectory.from_config(config).get_current_head() or ""
    try:
        with _migration_lock(engine), engine.begin() as connection:
            if _current_revision(connection) == head:
                return head
            config.attributes["connection"] = connection
            command.upgrade(config, "head")
    except SQLAlchemyError as exc:
        raise StoreError(
            f"cannot create or upgrade the run database at {safe_url(engine.url)}: "
            f"{type(exc).__name__}: {getattr(exc, 'orig', exc)}"
        ) from exc
    return head


def _current_revision(connection: Any) -> str | None:
    from alembic.runtime.migration import MigrationContext

    context = MigrationContext.configure(
        connection, opts={"version_table": "imgrec_alembic_version"}
    )
    return context.get_current_revision()


@contextlib.contextmanager
def _migration_lock(engine: Engine) -> Iterator[None]:
    if engine.dialect.name == "postgresql":
        key = int.from_bytes(hashlib.sha256(b"imgrec-migrate").digest()[:7], "big")
        with engine.connect() as connection:
            connection.execute(text("SELECT pg_advisory_lock(:k)"), {"k": key})
            try:
                yield
            finally:
                connection.execute(text("SELECT pg_advisory_unlock(:k)"), {"k": key})
                connection.commit()
        return
    path = _sqlite_path(engine.url)
    if path is None:
        yield
        return
    try:
        import fcntl
    except ImportError:  # Windows: one process at a time is the user's job there
        yield
        return
    with Path(f"{path}.migrate-lock").open("w") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)
