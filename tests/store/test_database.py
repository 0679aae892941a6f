"""Opening databases: URLs, bad URLs, unreachable servers, no torch, concurrent first use."""

from __future__ import annotations

import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

from imgrec.errors import StoreError
from imgrec.store import Store, normalise_url, safe_url


def test_postgres_urls_get_the_psycopg_driver_and_passwords_stay_hidden() -> None:
    assert normalise_url("postgresql://u:pw@h/db").startswith("postgresql+psycopg://u:pw@h/db")
    assert "pw" not in safe_url("postgresql://u:pw@h/db")


@pytest.mark.parametrize(
    ("url", "message"),
    [
        ("not a url", "is not valid: use sqlite:///"),
        ("mysql://u@h/db", "only SQLite and PostgreSQL"),
    ],
)
def test_bad_urls_are_refused_with_what_to_write(url: str, message: str) -> None:
    with pytest.raises(StoreError, match=message):
        Store(url)


def test_an_unreachable_server_is_a_store_error_naming_it() -> None:
    with pytest.raises(StoreError, match=r"127\.0\.0\.1:1/imgrec.*\*\*\*|127\.0\.0\.1:1/imgrec"):
        Store("postgresql://user:secret@127.0.0.1:1/imgrec?connect_timeout=2")


def test_sqlite_runs_in_wal_mode_with_foreign_keys(tmp_path: Path) -> None:
    store = Store(f"sqlite:///{tmp_path / 'sub' / 'x.db'}")  # creates the folder
    with store.engine.connect() as conn:
        assert conn.exec_driver_sql("PRAGMA journal_mode").scalar() == "wal"
        assert conn.exec_driver_sql("PRAGMA foreign_keys").scalar() == 1
        assert conn.exec_driver_sql("PRAGMA busy_timeout").scalar() >= 10_000


def test_several_processes_may_create_the_schema_at_once(db_url: str) -> None:
    with ThreadPoolExecutor(4) as pool:
        stores = list(pool.map(lambda _: Store(db_url), range(4)))
    assert stores[0].list_runs() == []


def test_the_store_imports_no_torch() -> None:
    code = "import sys, imgrec.store, imgrec.store.reports; print('torch' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"
