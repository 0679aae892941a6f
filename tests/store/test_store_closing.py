"""Every short-lived store is closed: the commands and the api release their connection pools
(a long search or a web server must not collect one open pool per request)."""

from __future__ import annotations

import pytest
from typer.testing import CliRunner

from imgrec import api
from imgrec.cli import app
from imgrec.store import Store


@pytest.fixture
def closings(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    seen: list[str] = []
    real_close = Store.close

    def spy(self: Store) -> None:
        seen.append(self.url)
        real_close(self)

    monkeypatch.setattr(Store, "close", spy)
    return seen


def test_a_store_used_as_a_context_manager_is_closed_and_can_reconnect(
    tmp_path, closings: list[str]
) -> None:
    url = f"sqlite:///{tmp_path / 'runs.db'}"
    with Store(url) as store:
        run_id = store.create_run(name="a", model="simple_cnn", config={})
    assert closings == [url]
    assert store.get_run(str(run_id)).name == "a"  # a closed store reconnects on demand
    store.close()


@pytest.mark.parametrize(
    "args",
    [["runs", "list"], ["runs", "experiments"], ["runs", "export", "--format", "json"]],
)
def test_the_runs_commands_close_their_store(tmp_path, closings: list[str], args) -> None:
    db = f"sqlite:///{tmp_path / 'runs.db'}"
    result = CliRunner().invoke(app, [*args, "--db", db])
    assert result.exit_code == 0, result.output
    assert closings == [db]


def test_a_failing_command_still_closes_its_store(tmp_path, closings: list[str]) -> None:
    db = f"sqlite:///{tmp_path / 'runs.db'}"
    result = CliRunner().invoke(app, ["runs", "show", "no-such-run", "--db", db])
    assert result.exit_code != 0 and "no-such-run" in result.output
    assert closings == [db]


def test_cancelling_an_unknown_experiment_closes_the_store(tmp_path, closings: list[str]) -> None:
    db = f"sqlite:///{tmp_path / 'runs.db'}"
    with pytest.raises(Exception, match="nope"):
        api.cancel_experiment("nope", db=db)
    assert closings == [db]
