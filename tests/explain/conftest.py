"""Fixtures for the explain tests: tiny untrained models, one CNN trained on 64 px shapes, and
one detection run (tinydet, one epoch) with a non-square test image."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from PIL import Image

from imgrec.data.synth import ShapesRecord, make_shapes
from imgrec.models.base import ImageClassifier
from imgrec.models.card import Preprocessing
from imgrec.models.registry import create_model

TINY = 32
TINY_MODELS = {
    "simple_cnn": {"width": 8},
    "resnet18": {},
    "vit_tiny": {"depth": 2},
}


@pytest.fixture(scope="session")
def tiny_pixels() -> np.ndarray:
    """Two 32 px shapes images, uint8 ``(2, 32, 32, 3)``."""
    return make_shapes(2, img_size=TINY, seed=3).images


@pytest.fixture(scope="session")
def tiny_pre() -> Preprocessing:
    return Preprocessing(size=(TINY, TINY))


@pytest.fixture(scope="session", params=sorted(TINY_MODELS))
def tiny_model(request: pytest.FixtureRequest) -> ImageClassifier:
    """An untrained registry model (a CNN, a ResNet and a ViT) for 32 px images, 4 classes."""
    torch.manual_seed(0)
    name = request.param
    return create_model(name, num_classes=4, img_size=TINY, **TINY_MODELS[name]).eval()


@dataclass
class TrainedShapes:
    """``simple_cnn`` trained on 64 px shapes, and held-out images with their records."""

    model: ImageClassifier
    preprocessing: Preprocessing
    pixels: np.ndarray
    labels: np.ndarray
    records: list[ShapesRecord]
    accuracy: float


@pytest.fixture(scope="session")
def trained_shapes() -> TrainedShapes:
    """About 20 s on two CPU cores: 2,400 training images, 10 epochs (accuracy ~0.9)."""
    torch.manual_seed(0)
    n_train, n_test = 2400, 200
    data = make_shapes(n_train + n_test, img_size=64, seed=1)
    pre = Preprocessing(size=(64, 64), mean=(0.5, 0.5, 0.5), std=(0.25, 0.25, 0.25))
    model = create_model("simple_cnn", num_classes=4, img_size=64, width=16)
    mean = torch.tensor(pre.mean).view(1, 3, 1, 1) * 255
    std = torch.tensor(pre.std).view(1, 3, 1, 1) * 255
    x = (torch.from_numpy(data.images[:n_train]).permute(0, 3, 1, 2).float() - mean) / std
    y = torch.from_numpy(data.labels[:n_train])
    epochs, batch = 10, 32
    optimizer = torch.optim.AdamW(model.parameters(), lr=2e-3, weight_decay=1e-4)
    steps = epochs * -(-n_train // batch)
    schedule = torch.optim.lr_scheduler.OneCycleLR(optimizer, max_lr=3e-3, total_steps=steps)
    for _ in range(epochs):
        model.train()
        order = torch.randperm(n_train)
        for start in range(0, n_train, batch):
            idx = order[start : start + batch]
            xb = x[idx]
            flip = torch.rand(len(idx)) < 0.5
            xb = torch.where(flip[:, None, None, None], xb.flip(3), xb)
            optimizer.zero_grad()
            F.cross_entropy(model(xb), y[idx]).backward()
            optimizer.step()
            schedule.step()
    model.eval()
    test_pixels, test_labels = data.images[n_train:], data.labels[n_train:]
    with torch.no_grad():
        xt = (torch.from_numpy(test_pixels).permute(0, 3, 1, 2).float() - mean) / std
        accuracy = float((model(xt).argmax(1).numpy() == test_labels).mean())
    return TrainedShapes(
        model=model,
        preprocessing=pre,
        pixels=test_pixels,
        labels=test_labels,
        records=data.records[n_train:],
        accuracy=accuracy,
    )


DETECTION_SIZE = 64


@pytest.fixture(scope="session")
def detection_run(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A tinydet run, one epoch on 24 images of 64 px shapes (as `imgrec train --task detect`)."""
    from imgrec import api
    from imgrec.data.detection import write_shapes_detection

    root = tmp_path_factory.mktemp("detect-cam")
    data = write_shapes_detection(root / "data", n=24, img_size=DETECTION_SIZE, seed=3)
    result = api.train(
        data, task="detect", epochs=1, img_size=DETECTION_SIZE, batch_size=4,
        out=str(root / "runs"), name="det-cam", show_progress=False,
        db=f"sqlite:///{root / 'runs.db'}",
    )  # fmt: skip
    assert result.task == "detect"
    return result.run_dir


@pytest.fixture(scope="session")
def shapes_image(detection_run: Path) -> Path:
    """A test image of the run's data, 80 x 64 (not square: the batch is padded)."""
    source = sorted((detection_run.parent.parent / "data" / "images" / "test").glob("*"))[0]
    pixels = np.asarray(Image.open(source).convert("RGB"))
    path = detection_run.parent.parent / "tall.png"
    Image.fromarray(np.concatenate([pixels, pixels[:16]], axis=0)).save(path)
    return path
