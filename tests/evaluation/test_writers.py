"""Writers round-trip through the json and csv modules; the artifact set lands in the run dir."""

from __future__ import annotations

import csv
import json
import math
from pathlib import Path

import numpy as np
import pytest
import torch

from imgrec.evaluation.classification import ClassificationReport, classification_report
from imgrec.evaluation.writers import (
    write_classification_artifacts,
    write_confusion_csv,
    write_history_csv,
    write_json,
    write_per_class_csv,
)

CLASSES = ["cat", "dog", "a class, with a comma"]


@pytest.fixture
def report() -> ClassificationReport:
    targets = torch.tensor([0, 0, 1, 1, 2, 2, 2, 0])
    logits = torch.randn(8, 3) + 2.0 * torch.nn.functional.one_hot(targets, 3)
    return classification_report(logits, targets, CLASSES, num_top_losses=4)


def read_csv(path: Path) -> list[list[str]]:
    with path.open(newline="", encoding="utf-8") as handle:
        return list(csv.reader(handle))


def test_write_json_nan_becomes_null_and_numpy_is_converted(tmp_path: Path) -> None:
    data = {
        "a": math.nan,
        "b": [1.5, math.inf, -math.inf],
        "c": {"nested": np.float32(0.25), "arr": np.arange(3), "n": np.int64(7)},
        "d": tmp_path,
        "e": "naïve",
    }
    path = write_json(tmp_path / "out" / "metrics.json", data)
    assert json.loads(path.read_text(encoding="utf-8")) == {
        "a": None,
        "b": [1.5, None, None],
        "c": {"nested": 0.25, "arr": [0, 1, 2], "n": 7},
        "d": str(tmp_path),
        "e": "naïve",
    }
    assert path.read_text(encoding="utf-8").startswith('{\n  "a": null')
    assert sorted(p.name for p in path.parent.iterdir()) == ["metrics.json"]  # no temp left


def test_write_json_replaces_and_keeps_old_file_on_failure(tmp_path: Path) -> None:
    path = write_json(tmp_path / "m.json", {"v": 1})
    write_json(path, {"v": 2})
    assert json.loads(path.read_text()) == {"v": 2}
    with pytest.raises(TypeError):
        write_json(path, {"v": object()})
    assert json.loads(path.read_text()) == {"v": 2}
    assert [p.name for p in tmp_path.iterdir()] == ["m.json"]


def test_write_json_of_report(tmp_path: Path, report: ClassificationReport) -> None:
    path = write_json(tmp_path / "metrics.json", report.to_dict())
    assert json.loads(path.read_text())["accuracy"] == report.accuracy


def test_per_class_csv_round_trip(tmp_path: Path, report: ClassificationReport) -> None:
    rows = read_csv(write_per_class_csv(report, tmp_path / "per_class.csv"))
    assert rows[0] == ["class", "precision", "recall", "f1", "support"]
    assert [r[0] for r in rows[1:]] == [*CLASSES, "macro avg", "weighted avg"]
    for row, expected in zip(rows[1:4], report.per_class, strict=True):
        assert float(row[1]) == expected.precision
        assert float(row[2]) == expected.recall
        assert float(row[3]) == expected.f1
        assert int(row[4]) == expected.support
    assert float(rows[4][3]) == report.macro_avg.f1
    assert float(rows[5][1]) == report.weighted_avg.precision
    assert int(rows[5][4]) == 8


def test_history_csv_union_of_keys_epoch_first(tmp_path: Path) -> None:
    history = [
        {"train_loss": 1.0, "epoch": 0, "lr": 0.1},
        {"train_loss": 0.5, "epoch": 1, "val_loss": 0.7, "lr": None},
    ]
    rows = read_csv(write_history_csv(history, tmp_path / "history.csv"))
    assert rows == [
        ["epoch", "train_loss", "lr", "val_loss"],
        ["0", "1.0", "0.1", ""],
        ["1", "0.5", "", "0.7"],
    ]


def test_confusion_csv(tmp_path: Path) -> None:
    matrix = [[2, 1, 0], [0, 3, 0], [1, 0, 4]]
    rows = read_csv(write_confusion_csv(matrix, CLASSES, tmp_path / "cm.csv"))
    assert rows[0] == ["true\\pred", *CLASSES]
    assert [r[0] for r in rows[1:]] == CLASSES
    assert [[int(v) for v in r[1:]] for r in rows[1:]] == matrix
    with pytest.raises(ValueError, match=r"\(2, 2\)"):
        write_confusion_csv(matrix, CLASSES[:2], tmp_path / "bad.csv")


def test_classification_artifacts(tmp_path: Path, report: ClassificationReport) -> None:
    history = [{"epoch": e, "train_loss": 1.0 / (e + 1), "val_accuracy": e / 3} for e in range(3)]
    images = np.zeros((len(report.top_losses), 16, 16, 3), dtype=np.uint8)
    paths = write_classification_artifacts(
        report, tmp_path / "run", history=history, mistake_images=images
    )
    assert set(paths) == {
        "per_class.csv",
        "confusion_matrix.csv",
        "confusion_matrix.png",
        "confusion_matrix_normalized.png",
        "reliability.png",
        "learning_curves.png",
        "worst_mistakes.png",
    }
    for name, path in paths.items():
        assert path == tmp_path / "run" / name
        assert path.stat().st_size > 0


def test_classification_artifacts_minimal_and_mismatch(
    tmp_path: Path, report: ClassificationReport
) -> None:
    paths = write_classification_artifacts(report, tmp_path)
    assert "learning_curves.png" not in paths and "worst_mistakes.png" not in paths
    with pytest.raises(ValueError, match="top_losses"):
        write_classification_artifacts(
            report, tmp_path, mistake_images=np.zeros((1, 8, 8, 3), dtype=np.uint8)
        )
