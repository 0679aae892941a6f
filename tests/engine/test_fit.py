"""Training through Lightning: history, best weights, early stopping, exact resume."""

from __future__ import annotations

from pathlib import Path

import lightning.pytorch as pl
import numpy as np
import pytest
import torch
from lightning.pytorch.callbacks import Callback
from safetensors.torch import load_file

from imgrec.config import TrainConfig
from imgrec.data.loaders import ArrayDataset, make_loader
from imgrec.engine.checkpoint_io import load_tree
from imgrec.engine.fit import BEST_WEIGHTS, CHECKPOINT, fit
from imgrec.errors import RunError
from imgrec.models.registry import create_model
from imgrec.tasks.classify import ClassificationTask

pytestmark = pytest.mark.slow


def _toy_arrays(n: int = 96, size: int = 16, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """Class 0: dark images, class 1: bright images with a little noise."""
    rng = np.random.default_rng(seed)
    labels = np.arange(n) % 2
    base = np.where(labels[:, None, None, None] == 1, 170, 70)
    images = np.clip(base + rng.normal(0, 30, (n, size, size, 3)), 0, 255).astype(np.uint8)
    return images, labels


def _task(cfg: TrainConfig, steps: int) -> ClassificationTask:
    pl.seed_everything(cfg.seed, verbose=False)
    model = create_model("simple_cnn", num_classes=2, img_size=16, width=4)
    return ClassificationTask(
        model,
        num_classes=2,
        train_config=cfg,
        steps_per_epoch=steps,
        mean=(0.5, 0.5, 0.5),
        std=(0.25, 0.25, 0.25),
    )


def _loaders(cfg: TrainConfig):  # type: ignore[no-untyped-def]
    images, labels = _toy_arrays()
    train = make_loader(
        ArrayDataset(images[:64], labels[:64]), batch_size=16, train=True, seed=cfg.seed
    )
    val = make_loader(ArrayDataset(images[64:], labels[64:]), batch_size=32, train=False)
    return train, val


class _CrashAtEpoch(Callback):
    """Simulates a crash (power cut, OOM kill) at the start of an epoch."""

    def __init__(self, epoch: int) -> None:
        self.epoch = epoch

    def on_train_epoch_start(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        if trainer.current_epoch == self.epoch:
            raise _CrashError(f"simulated crash at epoch {self.epoch}")


class _CrashError(RuntimeError):
    pass


def _run(tmp: Path, cfg: TrainConfig, *, resume: bool = False, crash_at: int | None = None):  # type: ignore[no-untyped-def]
    train, val = _loaders(cfg)
    task = _task(cfg, len(train))
    extra = [_CrashAtEpoch(crash_at)] if crash_at is not None else None
    result = fit(
        task,
        train,
        val,
        config=cfg,
        run_dir=tmp,
        resume=resume,
        show_progress=False,
        extra_callbacks=extra,
    )
    return task, result


def test_fit_records_history_checkpoint_and_best_weights(tmp_path: Path) -> None:
    cfg = TrainConfig(epochs=3, lr=5e-3, device="cpu", warmup_epochs=1)
    task, result = _run(tmp_path, cfg)
    assert result.epochs_completed == 3
    assert [row["epoch"] for row in result.history] == [1.0, 2.0, 3.0]
    assert {"train_loss", "val_loss", "val_accuracy", "lr", "train_time_s"} <= set(
        result.history[0]
    )
    assert (tmp_path / CHECKPOINT).is_file()
    assert (tmp_path / BEST_WEIGHTS).is_file()
    assert result.best_epoch is not None and 1 <= result.best_epoch <= 3
    best = load_file(str(tmp_path / BEST_WEIGHTS))
    assert set(best) == set(task.model.state_dict())
    assert result.history[-1]["val_accuracy"] > 0.9  # the toy task is easy


def test_checkpoint_holds_no_pickle_and_all_state(tmp_path: Path) -> None:
    cfg = TrainConfig(epochs=1, device="cpu")
    _run(tmp_path, cfg)
    raw = (tmp_path / CHECKPOINT).read_bytes()
    assert b"\x80\x04" not in raw[:16]  # not a pickle stream
    tree = load_tree(tmp_path / CHECKPOINT)
    assert tree["epoch"] == 0
    assert tree["optimizer_states"] and tree["lr_schedulers"]
    callbacks = " ".join(tree["callbacks"])
    assert "RNGState" in callbacks and "EpochHistory" in callbacks


@pytest.mark.parametrize("scheduler", ["cosine", "onecycle"])
def test_resume_continues_exactly(tmp_path: Path, scheduler: str) -> None:
    """4 epochs straight == 2 epochs, stop, resume to 4 (weights, history, optimiser, RNG)."""
    full_cfg = TrainConfig(epochs=4, lr=5e-3, device="cpu", scheduler=scheduler, mixup=0.2)
    straight, straight_result = _run(tmp_path / "straight", full_cfg)

    with pytest.raises(_CrashError):
        _run(tmp_path / "split", full_cfg, crash_at=2)
    assert load_tree(tmp_path / "split" / CHECKPOINT)["epoch"] == 1  # epochs 1-2 saved
    # The resumed run rebuilds everything from scratch, as a new process would.
    resumed, resumed_result = _run(tmp_path / "split", full_cfg, resume=True)
    assert resumed_result.epochs_completed == 4
    for key, value in straight.model.state_dict().items():
        torch.testing.assert_close(resumed.model.state_dict()[key], value, msg=key)
    assert len(resumed_result.history) == 4
    for a, b in zip(straight_result.history, resumed_result.history, strict=True):
        assert a["train_loss"] == pytest.approx(b["train_loss"], rel=1e-5)


def test_resume_without_checkpoint_raises(tmp_path: Path) -> None:
    cfg = TrainConfig(epochs=1, device="cpu")
    train, val = _loaders(cfg)
    with pytest.raises(RunError, match="nothing to resume"):
        fit(_task(cfg, len(train)), train, val, config=cfg, run_dir=tmp_path, resume=True)


def test_early_stopping_stops_and_resume_allows_more_patience(tmp_path: Path) -> None:
    cfg = TrainConfig(
        epochs=30, lr=1e-9, device="cpu", early_stopping_patience=1, monitor="val_loss"
    )
    _, result = _run(tmp_path, cfg)
    assert result.stopped_early
    assert result.epochs_completed < 30
    stopped_at = result.epochs_completed
    more = cfg.model_copy(update={"early_stopping_patience": 3})
    _, again = _run(tmp_path, more, resume=True)
    assert again.epochs_completed > stopped_at
