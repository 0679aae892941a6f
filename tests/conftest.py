"""Shared fixtures: isolated IMGREC_HOME, fixed seeds, a GPU skip, small synthetic images."""

from __future__ import annotations

import random
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest


@pytest.fixture(autouse=True)
def _isolated_home(
    tmp_path_factory: pytest.TempPathFactory, monkeypatch: pytest.MonkeyPatch
) -> Path:
    """Every test gets its own IMGREC_HOME so caches and databases never leak between tests."""
    home = tmp_path_factory.mktemp("imgrec-home")
    monkeypatch.setenv("IMGREC_HOME", str(home))
    monkeypatch.setenv("IMGREC_OFFLINE", "1")
    return home


@pytest.fixture(autouse=True)
def _fixed_random_state() -> Iterator[None]:
    """Seed every RNG and restore the previous state afterwards (no leaks between tests)."""
    import torch

    py_state, np_state, torch_state = (
        random.getstate(),
        np.random.get_state(),
        torch.get_rng_state(),
    )
    random.seed(0)
    np.random.seed(0)
    torch.manual_seed(0)
    yield
    random.setstate(py_state)
    np.random.set_state(np_state)
    torch.set_rng_state(torch_state)


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Skip `gpu` tests when CUDA is absent, with the reason."""
    try:
        import torch

        has_cuda = torch.cuda.is_available()
    except Exception:  # a broken torch install should not hide the other tests
        has_cuda = False
    if has_cuda:
        return
    skip = pytest.mark.skip(reason="needs a CUDA GPU (torch.cuda.is_available() is False)")
    for item in items:
        if "gpu" in item.keywords:
            item.add_marker(skip)


@pytest.fixture(scope="session")
def shapes_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A small synthetic shapes dataset (4 classes x 30 images, 32 px), made once per session."""
    from imgrec.data.synth import write_shapes_dataset

    return write_shapes_dataset(
        tmp_path_factory.mktemp("data") / "shapes", per_class=30, img_size=32, seed=0
    )


@pytest.fixture(scope="session")
def trained_run(shapes_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A run directory trained for two epochs on ``shapes_dir`` (shared by read-only tests)."""
    import imgrec

    home = tmp_path_factory.mktemp("session-home")
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("IMGREC_HOME", str(home))
        result = imgrec.train(
            shapes_dir,
            epochs=2,
            img_size=16,
            batch_size=16,
            out=str(home / "runs"),
            show_progress=False,
            **{"model.options.width": 8},
        )
    return result.run_dir


@pytest.fixture(scope="session")
def postgres_admin_url() -> Iterator[str]:
    """Admin URL of a real PostgreSQL server (see tests/services.py); skips/fails without."""
    from tests.services import postgres_admin, skip_or_fail

    with postgres_admin() as url:
        if url is None:
            skip_or_fail(
                "no PostgreSQL server: none on 127.0.0.1:5432 or IMGREC_TEST_PG_URL, and Debian's "
                "postgresql binaries (initdb) could not start one"
            )
        assert url is not None
        yield url


@pytest.fixture
def postgres_url(postgres_admin_url: str) -> Iterator[str]:
    """A fresh, empty PostgreSQL database for one test, dropped afterwards."""
    from tests.services import fresh_database

    with fresh_database(postgres_admin_url) as url:
        yield url


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def db_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """The run database URL, once for SQLite and once for PostgreSQL (the store contract)."""
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'imgrec.db'}"
    return str(request.getfixturevalue("postgres_url"))
