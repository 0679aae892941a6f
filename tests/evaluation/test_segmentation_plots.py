"""Segmentation plots write PNGs for normal, empty and all-n/a inputs; bad inputs raise."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pytest
import torch
from PIL import Image

from imgrec.evaluation.segmentation import SegmentationEvaluator, SegmentationReport
from imgrec.evaluation.segmentation_plots import (
    IGNORE_COLOUR,
    SegmentationSample,
    background_index,
    colourise,
    default_palette,
    overlay_mask,
    plot_class_iou,
    plot_mask_overlays,
    plot_segmentation_confusion,
    write_segmentation_plots,
)

NAMES = ["background", "a class with a rather long name indeed", "b", "never seen"]


def _png(path: Path) -> tuple[int, int]:
    assert path.is_file() and path.stat().st_size > 0
    with Image.open(path) as image:
        assert image.format == "PNG"
        return image.size


def _report(*, all_ignored: bool = False) -> SegmentationReport:
    rng = np.random.default_rng(0)
    target = torch.from_numpy(rng.integers(0, 3, size=(3, 8, 10)))
    pred = torch.where(torch.rand(3, 8, 10) < 0.7, target, torch.randint(0, 3, (3, 8, 10)))
    evaluator = SegmentationEvaluator(4, NAMES)
    evaluator.update(pred, torch.full_like(target, 255) if all_ignored else target)
    return evaluator.compute()


def _sample(h: int, w: int, *, seed: int = 0, iou: float | None = 0.5) -> SegmentationSample:
    rng = np.random.default_rng(seed)
    image = rng.integers(0, 256, size=(h, w, 3), dtype=np.uint8)
    target = rng.integers(0, 3, size=(h, w))
    target[: h // 4] = 255
    return SegmentationSample(image, target, rng.integers(0, 3, size=(h, w)), iou, f"img {seed}")


def test_default_palette_is_voc_and_distinct() -> None:
    palette = default_palette(256)
    assert palette.dtype == np.uint8 and palette.shape == (256, 3)
    assert palette[:5].tolist() == [[0, 0, 0], [128, 0, 0], [0, 128, 0], [128, 128, 0], [0, 0, 128]]
    assert len({tuple(c) for c in palette.tolist()}) == 256
    assert list(IGNORE_COLOUR) not in palette.tolist()
    assert default_palette(0).shape == (0, 3)


def test_colourise_and_overlay_keep_the_size() -> None:
    mask = np.array([[0, 1, 255], [2, 2, 0]], dtype=np.uint8)
    rgb = colourise(mask, default_palette(3))
    assert rgb.shape == (2, 3, 3) and rgb.dtype == np.uint8
    assert rgb[0, 1].tolist() == [128, 0, 0] and rgb[0, 2].tolist() == list(IGNORE_COLOUR)
    assert colourise(mask).tolist() == rgb.tolist()  # palette sized from the mask
    image = np.zeros((2, 3), dtype=np.uint8)  # grey images are accepted
    blended = overlay_mask(image, mask, alpha=1.0)
    assert blended.shape == (2, 3, 3) and blended.tolist() == rgb.tolist()
    with pytest.raises(ValueError, match="palette has 2 colours"):
        colourise(mask, default_palette(2))
    with pytest.raises(ValueError, match="integer"):
        colourise(mask.astype(np.float32))
    with pytest.raises(ValueError, match="image's size"):
        overlay_mask(np.zeros((3, 3, 3), dtype=np.uint8), mask)


def test_overlay_leaves_the_background_class_untinted() -> None:
    assert background_index(["_background_", "cat"]) == 0
    assert background_index(["cat", "Background"]) == 1
    assert background_index(["cat", "dog"]) is None
    image = np.full((2, 2, 3), 200, dtype=np.uint8)
    mask = np.array([[0, 1], [1, 0]], dtype=np.uint8)
    darkened = overlay_mask(image, mask, alpha=0.5)
    assert darkened[0, 0].tolist() == [100, 100, 100]  # class 0's black blended over the photo
    kept = overlay_mask(image, mask, alpha=0.5, untinted=0)
    assert kept[0, 0].tolist() == [200, 200, 200] and kept[1, 1].tolist() == [200, 200, 200]
    assert kept[0, 1].tolist() == darkened[0, 1].tolist() == [164, 100, 100]


def test_mask_overlays_normal_and_empty(tmp_path: Path) -> None:
    samples = [_sample(24, 32, seed=i, iou=v) for i, v in enumerate([0.1, None, float("nan")])]
    path = plot_mask_overlays(samples, tmp_path / "overlays.png", class_names=NAMES, max_images=2)
    assert path == tmp_path / "overlays.png"
    _png(path)
    _png(plot_mask_overlays([], tmp_path / "empty.png", class_names=NAMES))
    ignored = _sample(16, 16)
    ignored = SegmentationSample(ignored.image, np.full((16, 16), 255), ignored.prediction, None)
    _png(plot_mask_overlays([ignored], tmp_path / "ignored.png", class_names=NAMES))


def test_mask_overlays_keep_the_aspect(tmp_path: Path) -> None:
    wide = _png(plot_mask_overlays([_sample(20, 120)], tmp_path / "w.png", class_names=NAMES[:3]))
    tall = _png(plot_mask_overlays([_sample(120, 20)], tmp_path / "t.png", class_names=NAMES[:3]))
    assert wide[0] > 4 * wide[1]  # three 6:1 panels side by side
    assert tall[1] > tall[0]


@pytest.mark.parametrize(
    ("change", "match"),
    [
        ({"image": np.zeros((8, 8, 3), dtype=np.float32)}, "image must be uint8"),
        ({"image": np.zeros((8, 8, 4), dtype=np.uint8)}, "image must be uint8"),
        ({"target": np.zeros((8, 8), dtype=np.float64)}, "target must be an integer"),
        ({"prediction": np.zeros((8, 8), dtype=bool)}, "prediction must be an integer"),
        ({"prediction": np.zeros((8, 9), dtype=np.int64)}, "image's size"),
        ({"target": np.full((8, 8), 7)}, "classes 7 to 7, outside the 4"),
    ],
)
def test_mask_overlays_reject_bad_samples(
    tmp_path: Path, change: dict[str, Any], match: str
) -> None:
    good = _sample(8, 8)
    fields = {"image": good.image, "target": good.target, "prediction": good.prediction}
    sample = SegmentationSample(**{**fields, **change}, iou=0.5)
    with pytest.raises(ValueError, match=match):
        plot_mask_overlays([sample], tmp_path / "bad.png", class_names=NAMES)


@pytest.mark.parametrize("all_ignored", [False, True])
def test_class_iou_and_confusion(tmp_path: Path, all_ignored: bool) -> None:
    report = _report(all_ignored=all_ignored)
    _png(plot_class_iou(report, tmp_path / "iou.png"))
    _png(plot_segmentation_confusion(report, tmp_path / "cm.png"))


def test_write_segmentation_plots(tmp_path: Path) -> None:
    report = _report()
    paths = write_segmentation_plots(report, tmp_path, samples=[_sample(12, 16)])
    assert sorted(paths) == [
        "class_iou.png",
        "confusion_matrix_normalized.png",
        "mask_overlays.png",
    ]
    for path in paths.values():
        _png(path)
    assert "mask_overlays.png" not in write_segmentation_plots(report, tmp_path / "no-samples")
