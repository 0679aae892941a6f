"""What the plots say, not only that they exist (issue 18): file names on the worst-mistakes
tiles, a caption on saved heatmaps, and the best epoch marked on the learning curves."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pytest
import torch
from matplotlib.axes import Axes
from matplotlib.lines import Line2D
from PIL import Image
from torch import nn

from imgrec.engine import detect_runner, evaluate
from imgrec.evaluation import plots, writers
from imgrec.evaluation.classification import classification_report
from imgrec.evaluation.plots import (
    BestEpoch,
    best_epoch,
    file_label,
    learning_curves_figure,
    plot_learning_curves,
    plot_worst_mistakes,
    worst_mistakes_figure,
)
from imgrec.explain.overlay import add_caption, explanation_caption, save_explanation
from imgrec.models.card import Preprocessing
from imgrec.tasks.registry import MetricSpec

# --- worst mistakes: file names on the tiles -------------------------------------------------


def test_file_label_is_the_name_without_folders() -> None:
    assert file_label("/data/pets/test/cat/cat_001.png") == "cat_001.png"
    assert file_label(Path("dogs") / "d.jpg") == "d.jpg"
    assert file_label("C:\\data\\cats\\c.png") == "c.png"
    assert file_label("<ndarray>") == "<ndarray>"


def test_file_label_elides_the_middle_of_a_long_name() -> None:
    name = "a_very_long_descriptive_photo_name_from_the_camera_00042.jpeg"
    label = file_label(f"/deep/folder/{name}", limit=24)
    assert len(label) == 24 and "…" in label
    assert label.startswith("a_very_long") and label.endswith("00042.jpeg")
    assert "/" not in label


def _mistakes(n: int) -> dict[str, Any]:
    rng = np.random.default_rng(0)
    return {
        "images": rng.integers(0, 256, size=(n, 16, 16, 3), dtype=np.uint8),
        "true_labels": [i % 3 for i in range(n)],
        "pred_labels": [(i + 1) % 3 for i in range(n)],
        "probs": [0.5 + i / 100 for i in range(n)],
        "classes": ["cat", "dog", "bird"],
    }


def test_each_tile_shows_its_file_name_labels_and_probability() -> None:
    names = [f"/data/test/cat/img_{i:03d}.png" for i in range(5)]
    names[2] = "/data/test/dog/" + "x" * 60 + "_tail.png"
    fig = worst_mistakes_figure(**_mistakes(5), names=names)
    titles = [ax.get_title() for ax in fig.axes]
    assert len(titles) == 5
    assert titles[0] == "img_000.png\ncat / dog (0.50)"
    assert titles[1] == "img_001.png\ndog / bird (0.51)"
    long_name, labels = titles[2].split("\n")
    assert "…" in long_name and long_name.endswith("_tail.png") and "/data" not in long_name
    assert labels == "bird / cat (0.52)"
    assert "file" in fig.get_suptitle()


def test_tiles_without_names_keep_their_old_titles() -> None:
    fig = worst_mistakes_figure(**_mistakes(2))
    assert [ax.get_title() for ax in fig.axes] == ["cat / dog (0.50)", "dog / bird (0.51)"]


def test_names_must_match_the_images(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="2 file names"):
        plot_worst_mistakes(**_mistakes(3), path=tmp_path / "w.png", names=["a.png", "b.png"])


def test_plot_worst_mistakes_with_names_writes_the_png(tmp_path: Path) -> None:
    path = plot_worst_mistakes(**_mistakes(3), path=tmp_path / "w.png", names=["a", "b", "c"])
    with Image.open(path) as image:
        assert image.format == "PNG" and min(image.size) >= 100


def test_the_artifacts_pass_the_sources_of_the_worst_samples(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """evaluate_classifier -> write_classification_artifacts -> plot_worst_mistakes: the
    names reach the plot in the order of the top losses."""
    seen: dict[str, Any] = {}

    def spy(*args: Any, **kwargs: Any) -> Path:
        seen.update(kwargs)
        return plots.plot_worst_mistakes(*args, **kwargs)

    monkeypatch.setattr(writers, "plot_worst_mistakes", spy)
    torch.manual_seed(0)
    model = nn.Sequential(nn.Flatten(), nn.Linear(3 * 4 * 4, 3))
    rng = np.random.default_rng(1)
    images = rng.integers(0, 256, size=(6, 4, 4, 3), dtype=np.uint8)
    labels = np.array([0, 1, 2, 0, 1, 2])
    sources = [f"/data/test/{i}.png" for i in range(6)]
    metrics = evaluate.evaluate_classifier(
        model,
        images,
        labels,
        ["a", "b", "c"],
        preprocessing=Preprocessing(size=(4, 4)),
        out_dir=tmp_path,
        sources=sources,
        measure_speed=False,
    )
    worst = [t["index"] for t in metrics["top_losses"]]
    assert seen["names"] == [sources[i] for i in worst]
    assert (tmp_path / "worst_mistakes.png").is_file()
    with pytest.raises(ValueError, match="2 sources for 6 images"):
        evaluate.evaluate_classifier(
            model,
            images,
            labels,
            ["a", "b", "c"],
            preprocessing=Preprocessing(size=(4, 4)),
            out_dir=tmp_path,
            sources=sources[:2],
            measure_speed=False,
        )


# --- heatmaps: a caption in the PNG ----------------------------------------------------------


def test_explanation_caption_names_file_method_class_and_probability() -> None:
    text = explanation_caption(
        source="/data/shapes/triangle/triangle_00001.png",
        method="gradcam",
        label="triangle",
        probability=0.9349,
    )
    assert text == "triangle_00001.png · gradcam · class triangle (p=0.93)"
    assert explanation_caption(source="<ndarray>", method="lime", label="cat") == (
        "<ndarray> · lime · class cat"
    )
    long = explanation_caption(source="/x/" + "n" * 80 + ".png", method="gradcam", label="a")
    name = long.split(" · ")[0]
    assert len(name) == 40 and "…" in name and name.endswith(".png")


def _band(png: np.ndarray, image_height: int) -> np.ndarray:
    return png[image_height:]


def test_add_caption_puts_dark_text_on_a_band_below() -> None:
    image = np.full((60, 200, 3), 128, dtype=np.uint8)
    out = add_caption(image, "cat_001.png · gradcam · class cat (p=0.93)")
    assert out.shape[0] > 60 and out.shape[1:] == (200, 3)
    assert np.array_equal(out[:60], image)
    band = _band(out, 60)
    assert band.max() == 255 and band.min() < 100  # white band with dark glyphs on it


def test_add_caption_wraps_a_long_caption_onto_more_lines() -> None:
    image = np.zeros((40, 120, 3), dtype=np.uint8)
    short = add_caption(image, "a.png · gradcam")
    long = add_caption(image, "a_long_name.png · gradcampp · class something (p=0.50)")
    assert long.shape[0] > short.shape[0] and long.shape[1] == 120


def test_saved_heatmap_png_carries_the_caption_and_the_npy_is_raw(tmp_path: Path) -> None:
    rng = np.random.default_rng(0)
    pixels = rng.integers(0, 256, size=(32, 32, 3), dtype=np.uint8)
    heatmap = rng.random((32, 32)).astype(np.float32)
    png, npy = save_explanation(
        pixels,
        heatmap,
        tmp_path,
        source="/data/cat/cat_001.png",
        index=0,
        method="gradcam",
        label="cat",
        probability=0.93,
    )
    with Image.open(png) as opened:
        picture = np.asarray(opened.convert("RGB"))
    panel_height = 224  # 32 px enlarged 7x; image | overlay side by side above the caption
    assert picture.shape[0] > panel_height and picture.shape[1] == 2 * 224 + 4
    band = _band(picture, panel_height)
    assert (band == 255).mean() > 0.5 and band.min() < 100  # a white band, with text on it
    assert np.array_equal(np.load(npy), heatmap)


def test_saved_heatmap_without_probability_still_has_a_caption(tmp_path: Path) -> None:
    pixels = np.zeros((224, 224, 3), dtype=np.uint8)
    png, _ = save_explanation(
        pixels,
        np.zeros((224, 224), np.float32),
        tmp_path,
        source="<ndarray>",
        index=1,
        method="occlusion",
        label="dog",
    )
    with Image.open(png) as opened:
        picture = np.asarray(opened.convert("RGB"))
    assert picture.shape[0] > 224
    assert _band(picture, 224).min() < 100


# --- learning curves: the best epoch ---------------------------------------------------------


def _history(key: str, values: list[float], **more: list[float]) -> list[dict[str, float]]:
    rows = []
    for i, value in enumerate(values):
        row = {"epoch": float(i + 1), "train_loss": 1.0 / (i + 1), key: value}
        row |= {k: v[i] for k, v in more.items()}
        rows.append(row)
    return rows


@pytest.mark.parametrize(
    ("history", "expected"),
    [
        (_history("val_accuracy", [0.5, 0.8, 0.7]), BestEpoch("val_accuracy", 2.0, 0.8)),
        (_history("val_miou", [0.1, 0.2, 0.4]), BestEpoch("val_miou", 3.0, 0.4)),
        (_history("val_map", [0.3, 0.1, 0.2]), BestEpoch("val_map", 1.0, 0.3)),
        (
            _history("val_map", [0.9, 0.1, 0.1], val_mask_map=[0.1, 0.2, 0.6]),
            BestEpoch("val_mask_map", 3.0, 0.6),  # an instance run monitors masks
        ),
    ],
)
def test_best_epoch_finds_each_tasks_monitor(
    history: list[dict[str, float]], expected: BestEpoch
) -> None:
    assert best_epoch(history) == expected


def test_best_epoch_follows_the_monitor_given_and_its_direction() -> None:
    history = _history("val_accuracy", [0.5, 0.8, 0.7], val_loss=[0.9, 0.4, 0.3])
    assert best_epoch(history, monitor=("val_loss", "min")) == BestEpoch("val_loss", 3.0, 0.3)
    assert best_epoch(history, monitor=("val_f1", "max")) is None


def test_best_epoch_skips_gaps_takes_the_first_tie_and_counts_rows_without_epochs() -> None:
    history: list[dict[str, float]] = [
        {"val_accuracy": float("nan")},
        {"val_accuracy": 0.6},
        {"train_loss": 0.5},
        {"val_accuracy": 0.6},
    ]
    assert best_epoch(history) == BestEpoch("val_accuracy", 1.0, 0.6)
    assert best_epoch([{"epoch": 1.0, "train_loss": 0.3}]) is None
    assert best_epoch([]) is None


def _dashed_verticals(ax: Axes) -> list[float]:
    found = []
    for line in ax.lines:
        xs = np.asarray(line.get_xdata(), dtype=float)
        if line.get_linestyle() == "--" and len(xs) == 2 and xs[0] == xs[1]:
            found.append(float(xs[0]))
    return found


def _best_texts(ax: Axes) -> list[str]:
    return [t.get_text() for t in ax.texts if t.get_text().startswith("best epoch")]


def _panel(fig: Any, title: str) -> Axes:
    [ax] = [ax for ax in fig.axes if ax.get_title() == title]
    return ax


def test_learning_curves_mark_the_best_epoch_on_every_panel() -> None:
    history = _history("val_accuracy", [0.5, 0.8333, 0.7], val_loss=[0.9, 0.4, 0.3], lr=[1, 1, 1])
    fig = learning_curves_figure(history)
    assert [ax.get_title() for ax in fig.axes] == ["Loss", "Accuracy", "Learning rate"]
    for ax in fig.axes:
        assert _dashed_verticals(ax) == [2.0]
    accuracy = _panel(fig, "Accuracy")
    assert _best_texts(accuracy) == ["best epoch 2: 0.8333"]
    points = [
        np.asarray(line.get_ydata(), dtype=float)
        for line in accuracy.lines
        if isinstance(line, Line2D) and line.get_marker() == "*"
    ]
    assert len(points) == 1 and points[0].tolist() == [pytest.approx(0.8333)]
    assert _best_texts(_panel(fig, "Loss")) == []
    assert _best_texts(_panel(fig, "Learning rate")) == []


@pytest.mark.parametrize(
    ("key", "panel"),
    [("val_miou", "mAP / IoU"), ("val_map", "mAP / IoU"), ("val_mask_map", "mAP / IoU")],
)
def test_learning_curves_mark_other_tasks_monitors(key: str, panel: str) -> None:
    fig = learning_curves_figure(_history(key, [0.2, 0.5, 0.4, 0.1]))
    assert _best_texts(_panel(fig, panel)) == ["best epoch 2: 0.5"]


def test_learning_curves_use_the_given_monitor() -> None:
    history = _history("val_accuracy", [0.5, 0.8, 0.7], val_loss=[0.9, 0.4, 0.3])
    fig = learning_curves_figure(history, monitor=("val_loss", "min"))
    assert _best_texts(_panel(fig, "Loss")) == ["best epoch 3: 0.3"]
    assert _best_texts(_panel(fig, "Accuracy")) == []
    assert all(_dashed_verticals(ax) == [3.0] for ax in fig.axes)


def test_a_monitor_outside_the_usual_panels_gets_its_own() -> None:
    history = _history("val_f1", [0.3, 0.6, 0.5])
    fig = learning_curves_figure(history, monitor=("val_f1", "max"))
    assert _best_texts(_panel(fig, "val_f1")) == ["best epoch 2: 0.6"]


def test_no_monitored_column_no_marker(tmp_path: Path) -> None:
    history = [{"epoch": 1.0, "train_loss": 0.9, "val_loss": 0.8, "lr": 0.1}]
    fig = learning_curves_figure(history)
    assert all(not _dashed_verticals(ax) and not _best_texts(ax) for ax in fig.axes)
    fig = learning_curves_figure(history, monitor=("val_accuracy", "max"))
    assert all(not _dashed_verticals(ax) and not _best_texts(ax) for ax in fig.axes)
    assert plot_learning_curves(history, tmp_path / "c.png").is_file()
    assert plot_learning_curves([], tmp_path / "empty.png").is_file()


def test_the_runs_monitor_reaches_the_learning_curves(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A detection run's monitor (and a classification run's, via the writers) is passed on."""
    seen: list[Any] = []

    def spy(history: Any, path: Any, *, monitor: Any = None) -> Path:
        seen.append(monitor)
        return Path(path)

    monkeypatch.setattr(plots, "plot_learning_curves", spy)
    monkeypatch.setattr(writers, "plot_learning_curves", spy)
    spec = MetricSpec("val_map50", "max", True, "Val AP50")
    detect_runner.learning_curves([{"epoch": 1.0, "val_map50": 0.2}], tmp_path, monitor=spec)
    detect_runner.learning_curves([{"epoch": 1.0, "val_map": 0.2}], tmp_path)
    report = classification_report(torch.eye(3), torch.arange(3), ["a", "b", "c"])
    writers.write_classification_artifacts(
        report, tmp_path, history=[{"epoch": 1.0}], monitor=("val_loss", "min")
    )
    assert seen == [("val_map50", "max"), None, ("val_loss", "min")]
