"""Config precedence, key forms, and errors that name the nearest valid key."""

from __future__ import annotations

from pathlib import Path

import pytest

from imgrec.config import RunConfig, Settings, build_config, flat_keys, load_yaml
from imgrec.errors import ConfigError


def test_defaults_are_valid() -> None:
    cfg = build_config()
    assert cfg.model.name == "simple_cnn"
    assert cfg.train.epochs == 10


def test_later_layers_win_and_all_key_forms_work(tmp_path: Path) -> None:
    yaml_file = tmp_path / "cfg.yaml"
    yaml_file.write_text("train:\n  epochs: 3\n  lr: 0.5\nmodel: resnet18\ndata:\n  img_size: 48\n")
    cfg = build_config(
        (str(yaml_file), load_yaml(yaml_file)),
        ("flags", {"lr": 0.01, "model.options.small_stem": True}),
        ("kwargs", {"train.batch_size": 8}),
    )
    assert cfg.train.epochs == 3  # from YAML
    assert cfg.train.lr == 0.01  # flag beats YAML
    assert cfg.model.name == "resnet18"  # flat alias 'model'
    assert cfg.model.options == {"small_stem": True}
    assert cfg.data.img_size == 48
    assert cfg.train.batch_size == 8


def test_round_trip_through_yaml(tmp_path: Path) -> None:
    cfg = build_config(("x", {"epochs": 2, "model": {"name": "mlp", "options": {"hidden": [8]}}}))
    path = tmp_path / "c.yaml"
    path.write_text(cfg.to_yaml())
    assert build_config((str(path), load_yaml(path))) == cfg


@pytest.mark.parametrize(
    ("overrides", "expected"),
    [
        ({"train.epoch": 3}, "Did you mean 'train.epochs'"),
        ({"lrr": 1.0}, "Did you mean 'lr'"),
        ({"model": {"nam": "x"}}, "Did you mean 'model.name'"),
        ({"optimiser": "sgd"}, "Did you mean 'optimizer'"),
        ({"data": {"img_size": 32, "colour": 1}}, "unknown key 'data.colour'"),
    ],
)
def test_unknown_keys_name_the_nearest_valid_key(overrides: dict, expected: str) -> None:
    with pytest.raises(ConfigError, match=expected) as info:
        build_config(("cfg.yaml", overrides))
    assert "cfg.yaml" in str(info.value)


@pytest.mark.parametrize(
    ("overrides", "key"),
    [
        ({"epochs": 0}, "train.epochs"),
        ({"optimizer": "adam"}, "train.optimizer"),
        ({"img_size": 4}, "data.img_size"),
        ({"val_fraction": 0.5, "test_fraction": 0.45}, "data"),
        ({"warmup_epochs": 5, "epochs": 5}, "train"),
    ],
)
def test_invalid_values_name_the_key(overrides: dict, key: str) -> None:
    with pytest.raises(ConfigError, match=f"invalid value for '{key}"):
        build_config(("flags", overrides))


def test_yaml_errors_give_file_and_line(tmp_path: Path) -> None:
    bad = tmp_path / "bad.yaml"
    bad.write_text("train:\n  epochs: [1,\n")
    with pytest.raises(ConfigError, match=r"bad.yaml line \d+: not valid YAML"):
        load_yaml(bad)
    listing = tmp_path / "list.yaml"
    listing.write_text("- 1\n- 2\n")
    with pytest.raises(ConfigError, match="top level must be a mapping"):
        load_yaml(listing)
    with pytest.raises(ConfigError, match="not found"):
        load_yaml(tmp_path / "missing.yaml")


def test_flat_keys_are_unambiguous_for_common_options() -> None:
    keys = flat_keys()
    assert keys["epochs"] == "train.epochs"
    assert keys["img_size"] == "data.img_size"
    assert keys["model"] == "model.name"


def test_settings_read_the_environment(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("IMGREC_HOME", str(tmp_path / "h"))
    monkeypatch.setenv("IMGREC_OFFLINE", "1")
    settings = Settings()
    assert settings.home == tmp_path / "h"
    assert settings.offline is True
    assert settings.cache_dir == tmp_path / "h" / "cache"


def test_run_config_rejects_unknown_top_level_keys() -> None:
    with pytest.raises(ConfigError, match="unknown key 'epochz'"):
        build_config(("kwargs", {"epochz": 1}))
    assert isinstance(build_config(), RunConfig)
