"""The plots write PNG files that Pillow opens, for small and large class counts."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from imgrec.evaluation.plots import (
    plot_confusion_matrix,
    plot_learning_curves,
    plot_reliability_diagram,
    plot_worst_mistakes,
)


def assert_png(path: Path, *, min_side: int = 100) -> None:
    assert path.is_file() and path.stat().st_size > 0
    with Image.open(path) as image:
        assert image.format == "PNG"
        assert image.mode == "RGBA"
        assert min(image.size) >= min_side


@pytest.mark.parametrize("normalized", [False, True])
@pytest.mark.parametrize("k", [3, 30, 80])
def test_confusion_matrix(tmp_path: Path, k: int, normalized: bool) -> None:
    rng = np.random.default_rng(0)
    counts = rng.integers(0, 20, size=(k, k))
    matrix = counts / counts.sum(axis=1, keepdims=True) if normalized else counts
    classes = [f"a rather long class name for category number {i}" for i in range(k)]
    path = plot_confusion_matrix(
        matrix, classes, tmp_path / "sub" / "cm.png", normalized=normalized
    )
    assert path == tmp_path / "sub" / "cm.png"
    assert_png(path)


def test_confusion_matrix_shape_mismatch_raises(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match=r"\(3, 3\)"):
        plot_confusion_matrix(
            np.zeros((2, 2)), ["a", "b", "c"], tmp_path / "x.png", normalized=False
        )


def test_learning_curves_with_all_keys(tmp_path: Path) -> None:
    history = [
        {
            "epoch": e,
            "train_loss": 1 / (e + 1),
            "val_loss": 1.2 / (e + 1),
            "train_accuracy": e / 10,
            "val_accuracy": e / 12,
            "lr": 0.1 * 0.5**e,
        }
        for e in range(8)
    ]
    assert_png(plot_learning_curves(history, tmp_path / "curves.png"))


def test_learning_curves_with_some_keys_and_gaps(tmp_path: Path) -> None:
    history: list[dict[str, float]] = [{"train_loss": 1.0}, {"train_loss": 0.5, "val_loss": 0.7}]
    history.append({"train_loss": float("nan"), "val_loss": 0.6})
    assert_png(plot_learning_curves(history, tmp_path / "curves.png"))


def test_learning_curves_without_history(tmp_path: Path) -> None:
    assert_png(plot_learning_curves([], tmp_path / "curves.png"), min_side=50)


def test_worst_mistakes(tmp_path: Path) -> None:
    rng = np.random.default_rng(0)
    images = rng.integers(0, 256, size=(20, 32, 24, 3), dtype=np.uint8)
    classes = [f"class with a long name {i}" for i in range(5)]
    true = [i % 5 for i in range(20)]
    pred = [(i + 1) % 5 for i in range(20)]
    probs = [0.9] * 20
    path = plot_worst_mistakes(images, true, pred, probs, classes, tmp_path / "worst.png")
    assert_png(path)


def test_worst_mistakes_grey_and_empty(tmp_path: Path) -> None:
    grey = np.zeros((3, 16, 16), dtype=np.uint8)
    assert_png(
        plot_worst_mistakes(
            grey, [0, 1, 0], [1, 0, 0], [0.6, 0.7, 0.8], ["a", "b"], tmp_path / "grey.png"
        )
    )
    empty = np.zeros((0, 16, 16, 3), dtype=np.uint8)
    assert_png(
        plot_worst_mistakes(empty, [], [], [], ["a", "b"], tmp_path / "empty.png"), min_side=50
    )


def test_worst_mistakes_mismatch_raises(tmp_path: Path) -> None:
    images = np.zeros((2, 8, 8, 3), dtype=np.uint8)
    with pytest.raises(ValueError, match="one to one"):
        plot_worst_mistakes(images, [0], [1], [0.5], ["a", "b"], tmp_path / "x.png")
    with pytest.raises(ValueError, match="uint8"):
        plot_worst_mistakes(
            images.astype(float), [0, 1], [1, 0], [0.5, 0.5], ["a", "b"], tmp_path / "x.png"
        )


def test_reliability_diagram(tmp_path: Path) -> None:
    rng = np.random.default_rng(0)
    confidences = rng.uniform(0.2, 1.0, size=500)
    correct = rng.uniform(size=500) < confidences
    assert_png(plot_reliability_diagram(confidences, correct, tmp_path / "rel.png", bins=10))
    with pytest.raises(ValueError, match="correctness"):
        plot_reliability_diagram([0.5, 0.6], [True], tmp_path / "bad.png")
