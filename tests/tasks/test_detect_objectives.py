"""Detection on the engine's task-neutral parts: objectives, default space, epoch history."""

from __future__ import annotations

import pytest

from imgrec.errors import ConfigError
from imgrec.search.objectives import objective_value, per_epoch_metrics, resolve_objectives
from imgrec.search.space import default_space


def test_a_detection_search_optimises_val_map_by_default_and_can_prune_on_it() -> None:
    assert resolve_objectives([], task="detect") == [("val_map", "maximize")]
    assert resolve_objectives([], task="classify") == [("val_accuracy", "maximize")]
    assert resolve_objectives(["map50", "latency_ms"], task="detect") == [
        ("map50", "maximize"),
        ("latency_ms", "minimize"),
    ]
    assert "val_map" in per_epoch_metrics("detect")
    with pytest.raises(ConfigError, match=r"for task 'detect'.*val_map"):
        resolve_objectives(["val_accuracy"], task="detect")


def test_a_detection_objective_is_the_best_epoch_or_the_final_metric() -> None:
    history = [{"epoch": 1, "val_map": 0.2}, {"epoch": 2, "val_map": 0.5}, {"epoch": 3}]
    assert objective_value("val_map", {}, history, task="detect") == 0.5
    assert objective_value("map50", {"map50": 0.8}, history, task="detect") == 0.8
    history_loss = [{"train_loss": 2.0}, {"train_loss": 1.5}]
    assert objective_value("train_loss", {}, history_loss, task="detect") == 1.5


def test_the_default_detection_space_has_no_classification_knobs() -> None:
    space = default_space(task="detect")
    assert "label_smoothing" not in space and max(space["batch_size"]) <= 16
    assert "label_smoothing" in default_space(task="classify")


def test_the_epoch_history_keeps_every_scalar_the_task_logged() -> None:
    import torch

    from imgrec.engine.callbacks import EpochHistory

    rows: list[dict[str, float]] = []
    history = EpochHistory(rows.append)

    class Trainer:
        sanity_checking = False
        current_epoch = 0
        is_global_zero = True

        def __init__(self) -> None:
            self.optimizers: list[object] = []
            self.callback_metrics = {
                "train_loss": torch.tensor(1.5),
                "train_bbox_regression": torch.tensor(0.4),
                "val_map": torch.tensor(0.25),
                "val_map50": torch.tensor(0.5),
                "train_loss_step": torch.tensor(9.0),
            }

    history.on_train_epoch_start(Trainer(), None)  # type: ignore[arg-type]
    history.on_train_epoch_end(Trainer(), None)  # type: ignore[arg-type]
    assert rows[0]["val_map"] == 0.25 and rows[0]["val_map50"] == 0.5
    assert rows[0]["train_bbox_regression"] == pytest.approx(0.4)
    assert "train_loss_step" not in rows[0]
