"""Search spaces: bounds people write, and clear errors for bad ones."""

from __future__ import annotations

from pathlib import Path

import optuna
import pytest

from imgrec.errors import ConfigError
from imgrec.search.space import DEFAULT_SPACE, SearchSpace, default_space, parse_space


def test_ranges_choices_and_fixed_values_are_understood() -> None:
    space = parse_space(
        {
            "lr": {"low": 1e-4, "high": 1e-2, "log": True},
            "batch_size": [16, 32],
            "epochs": 6,
            "freeze_epochs": {"low": 0, "high": 2},
            "model": ["simple_cnn", "mlp"],
            "fixed": {"train.scheduler": "none"},
        }
    )
    assert set(space.searched) == {"lr", "batch_size", "freeze_epochs", "model"}
    assert space.max_epochs == 6
    values = space.suggest(
        optuna.trial.FixedTrial({"lr": 1e-3, "batch_size": 32, "freeze_epochs": 1, "model": "mlp"})
    )
    overrides = space.config_overrides(values)
    assert overrides == {
        "train.scheduler": "none",
        "train.lr": 1e-3,
        "train.batch_size": 32,
        "model.freeze_epochs": 1,
        "model.name": "mlp",
        "train.epochs": 6,
    }
    assert SearchSpace.from_dict(space.to_dict()).to_dict() == space.to_dict()


def test_an_empty_space_is_the_documented_default() -> None:
    assert parse_space(None).to_dict() == parse_space(DEFAULT_SPACE).to_dict()
    assert "epochs" not in default_space(user_keys={"train.epochs"})


@pytest.mark.parametrize(
    ("raw", "message"),
    [
        ({"batch_size": []}, "parameter 'batch_size' has an empty choice list"),
        ({"lr": {"low": 0.1, "high": 0.01}}, r"low \(0.1\) is greater than high \(0.01\)"),
        ({"lrr": [0.1]}, "unknown search parameter 'lrr'. Did you mean 'lr'?"),
        ({"lr": {"low": 0.0, "high": 0.1, "log": True}}, "a log range needs low > 0"),
        ({"lr": {"high": 0.1}}, "a range needs 'low' and 'high'"),
        ({"optimizer": {"low": 1, "high": 2}}, "takes a list of choices, not a range"),
        ({"optimizer": ["adamw", "adam"]}, "parameter 'optimizer' value 'adam'"),
        ({"batch_size": [16, 16.5]}, "must be a whole number"),
        ({"batch_size": [0, 16]}, "parameter 'batch_size' value 0"),
        ({"model": ["simple_cnn", "resnet1800"]}, "parameter 'model' value 'resnet1800'"),
        ({"lr": "fast"}, "'fast' is not a number"),
        ({"fixed": {"train.nope": 1}}, "unknown key 'train.nope'"),
        ({"augment": ["none", "none"]}, "lists a choice twice"),
    ],
)
def test_bad_spaces_name_the_parameter_and_the_problem(raw: dict, message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        parse_space(raw, origin="space.yaml")


def test_bad_space_files_fail_on_the_command_line_before_any_trial(
    shapes_dir: Path, tmp_path: Path
) -> None:
    from typer.testing import CliRunner

    from imgrec.cli import app

    space = tmp_path / "space.yaml"
    space.write_text("lr: {low: 0.1, high: 0.001}\n")
    result = CliRunner().invoke(app, ["tune", str(shapes_dir), "--space", str(space)])
    assert result.exit_code == 2
    assert f"{space}: parameter 'lr': low (0.1) is greater than high (0.001)" in result.output
    space.write_text("- not a mapping\n")
    result = CliRunner().invoke(app, ["tune", str(shapes_dir), "--space", str(space)])
    assert result.exit_code == 2 and "must be a mapping" in result.output
