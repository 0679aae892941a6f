"""Every training option trains; transfer learning freezes and scales the backbone."""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import lightning.pytorch as pl
import numpy as np
import pytest
import torch

from imgrec.config import TrainConfig
from imgrec.data.augment import sample_policy
from imgrec.data.loaders import ArrayDataset, make_loader
from imgrec.engine.fit import fit
from imgrec.models.base import ImageClassifier
from imgrec.models.registry import create_model
from imgrec.tasks.classify import ClassificationTask, inverse_frequency_weights

pytestmark = pytest.mark.slow


def _data(n: int = 48) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(0)
    labels = np.arange(n) % 3
    images = np.clip(labels[:, None, None, None] * 80 + rng.normal(40, 20, (n, 16, 16, 3)), 0, 255)
    return images.astype(np.uint8), labels


def _task(
    model: ImageClassifier, cfg: TrainConfig, steps: int, **options: Any
) -> ClassificationTask:
    return ClassificationTask(
        model,
        num_classes=3,
        train_config=cfg,
        steps_per_epoch=steps,
        mean=(0.5,) * 3,
        std=(0.25,) * 3,
        **options,
    )


def _train(tmp: Path, *, model_options: dict[str, Any] | None = None, **train: Any):  # type: ignore[no-untyped-def]
    cfg = TrainConfig(device="cpu", epochs=train.pop("epochs", 1), **train)
    images, labels = _data()
    pl.seed_everything(0, verbose=False)
    model = create_model("simple_cnn", num_classes=3, img_size=16, width=4, **(model_options or {}))
    dataset = ArrayDataset(images[:36], labels[:36], sample_transform=sample_policy(cfg.augment))
    loader = make_loader(dataset, batch_size=12, train=True, balanced=cfg.class_weights)
    val = make_loader(ArrayDataset(images[36:], labels[36:]), batch_size=12, train=False)
    weights = inverse_frequency_weights(labels[:36].tolist(), 3) if cfg.class_weights else None
    task = _task(model, cfg, len(loader), class_weights=weights)
    return task, fit(task, loader, val, config=cfg, run_dir=tmp, show_progress=False)


@pytest.mark.parametrize(
    "options",
    [
        {"optimizer": "sgd", "lr": 0.05},
        {"scheduler": "onecycle"},
        {"scheduler": "none"},
        {"label_smoothing": 0.1},
        {"mixup": 0.4, "cutmix": 1.0},
        {"augment": "randaugment"},
        {"augment": "trivialaugment"},
        {"augment": "none"},
        {"class_weights": True},
        {"precision": "bf16"},
        {"channels_last": True},
        {"warmup_epochs": 0.5},
    ],
    ids=lambda o: "-".join(f"{k}={v}" for k, v in o.items()),
)
def test_every_training_option_trains(tmp_path: Path, options: dict[str, Any]) -> None:
    _, result = _train(tmp_path, **options)
    row = result.history[-1]
    assert math.isfinite(row["train_loss"]) and math.isfinite(row["val_loss"])
    if options.get("precision") == "bf16":
        assert result.precision == "bf16-mixed"


def test_inverse_frequency_weights() -> None:
    weights = inverse_frequency_weights([0, 0, 0, 1], 3)
    torch.testing.assert_close(weights, torch.tensor([4 / 9, 4 / 3, 0.0]))


def test_backbone_is_frozen_for_the_first_epochs_then_trains(tmp_path: Path) -> None:
    images, labels = _data()
    cfg = TrainConfig(device="cpu", epochs=2, lr=1e-2)
    pl.seed_everything(0, verbose=False)
    model = create_model("simple_cnn", num_classes=3, img_size=16, width=4)
    start = {k: v.clone() for k, v in model.state_dict().items()}
    loader = make_loader(ArrayDataset(images, labels), batch_size=12, train=True)
    task = _task(model, cfg, len(loader))
    seen: dict[int, dict[str, torch.Tensor]] = {}

    class Snapshot(pl.Callback):
        def on_train_epoch_end(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
            seen[trainer.current_epoch] = {k: v.clone() for k, v in model.state_dict().items()}

    from imgrec.engine.callbacks import FreezeBackbone

    fit(
        task,
        loader,
        None,
        config=cfg,
        run_dir=tmp_path,
        show_progress=False,
        extra_callbacks=[FreezeBackbone(1), Snapshot()],
    )
    conv = "stages.0.0.weight"
    assert torch.equal(seen[0][conv], start[conv])  # frozen in epoch 1
    assert not torch.equal(seen[0]["fc.weight"], start["fc.weight"])  # head trained
    assert not torch.equal(seen[1][conv], seen[0][conv])  # unfrozen in epoch 2


def test_pretrained_backbone_gets_a_smaller_learning_rate(tmp_path: Path) -> None:
    cfg = TrainConfig(device="cpu", lr=1e-2, scheduler="none")
    model = create_model("simple_cnn", num_classes=3, img_size=16, width=4)
    task = _task(model, cfg, 1, backbone_lr_scale=0.1)
    optimizer = task.configure_optimizers()
    head_ids = {id(p) for p in model.head_parameters()}
    for group in optimizer.param_groups:
        is_head = all(id(p) in head_ids for p in group["params"])
        assert group["lr"] == pytest.approx(1e-2 if is_head else 1e-3)
    decays = {group["weight_decay"] for group in optimizer.param_groups}
    assert decays == {0.0, cfg.weight_decay}  # no decay on norms and biases
