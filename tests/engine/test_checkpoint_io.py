"""Pickle-free checkpoints: round trip of every state type, atomic writes, damaged files."""

from __future__ import annotations

import random
from pathlib import Path

import numpy as np
import pytest
import torch
from safetensors.torch import save_file

from imgrec.engine.checkpoint_io import SafeCheckpointIO, load_tree, save_tree
from imgrec.errors import RunError


def test_round_trip_keeps_types(tmp_path: Path) -> None:
    tree = {
        "epoch": 3,
        "lr": 1e-3,
        "inf": float("inf"),
        "name": "x",
        "none": None,
        "flag": True,
        "state_dict": {"w": torch.randn(2, 3), "b": torch.zeros(3, dtype=torch.float16)},
        "optimizer": {
            "state": {0: {"step": torch.tensor(5.0)}},
            "groups": [{"betas": (0.9, 0.999)}],
        },
        "rng": {
            "python": random.getstate(),
            "numpy": np.random.get_state(),
            "torch": torch.get_rng_state(),
        },
        "path": Path("/a/b"),
    }
    path = tmp_path / "c.ckpt"
    save_tree(tree, path)
    back = load_tree(path)
    assert back["epoch"] == 3 and back["inf"] == float("inf") and back["none"] is None
    assert back["flag"] is True and back["path"] == Path("/a/b")
    torch.testing.assert_close(back["state_dict"]["w"], tree["state_dict"]["w"])
    assert back["state_dict"]["b"].dtype == torch.float16
    assert list(back["optimizer"]["state"]) == [0]  # int keys stay ints
    assert back["optimizer"]["groups"][0]["betas"] == (0.9, 0.999)
    np.random.set_state(back["rng"]["numpy"])
    random.setstate(
        (back["rng"]["python"][0], tuple(back["rng"]["python"][1]), back["rng"]["python"][2])
    )
    assert [p.name for p in tmp_path.iterdir()] == ["c.ckpt"]  # no temporary left behind


def test_unsupported_objects_are_refused_with_their_path(tmp_path: Path) -> None:
    with pytest.raises(RunError, match=r"checkpoint.callbacks.x"):
        save_tree({"callbacks": {"x": object()}}, tmp_path / "c.ckpt")
    assert not (tmp_path / "c.ckpt").exists()


def test_failed_write_keeps_the_previous_checkpoint(tmp_path: Path) -> None:
    path = tmp_path / "c.ckpt"
    save_tree({"epoch": 1}, path)
    with pytest.raises(RunError):
        save_tree({"epoch": 2, "bad": object()}, path)
    assert load_tree(path)["epoch"] == 1


def test_damaged_and_foreign_files_give_clear_errors(tmp_path: Path) -> None:
    damaged = tmp_path / "damaged.ckpt"
    save_tree({"w": torch.ones(100)}, damaged)
    damaged.write_bytes(damaged.read_bytes()[:40])
    with pytest.raises(RunError, match="damaged"):
        load_tree(damaged)
    foreign = tmp_path / "foreign.safetensors"
    save_file({"w": torch.ones(2)}, str(foreign))
    with pytest.raises(RunError, match="not an imgrec checkpoint"):
        load_tree(foreign)
    pickled = tmp_path / "pickled.ckpt"
    torch.save({"epoch": 1}, pickled)
    with pytest.raises(RunError):
        load_tree(pickled)
    with pytest.raises(RunError, match="not found"):
        load_tree(tmp_path / "missing.ckpt")


def test_lightning_plugin_delegates(tmp_path: Path) -> None:
    io = SafeCheckpointIO()
    path = tmp_path / "sub" / "last.ckpt"
    io.save_checkpoint({"epoch": 7, "w": torch.ones(1)}, path)
    assert io.load_checkpoint(path)["epoch"] == 7
    io.remove_checkpoint(path)
    assert not path.exists()
