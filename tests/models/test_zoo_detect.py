"""``zoo:nanodet-coco``: the shipped ONNX COCO detector on scikit-image's bundled photos.

The reference boxes were drawn by hand from the photos (xyxy, pixels of the original image).
"""

from __future__ import annotations

import sys

import numpy as np
import pytest
import skimage.data
from PIL import Image

from imgrec.errors import ConfigError, SetupError
from imgrec.models.zoo_detect import ZOO_DIR, ZooDetector, list_zoo_detectors

ASTRONAUT_PERSON = np.array([18, 15, 362, 512], np.float32)  # hair to the bottom edge
COFFEE_CUP = np.array([172, 18, 412, 290], np.float32)  # rim to the bottom of the handle


def _iou(a: np.ndarray, b: np.ndarray) -> float:
    iw = max(0.0, min(a[2], b[2]) - max(a[0], b[0]))
    ih = max(0.0, min(a[3], b[3]) - max(a[1], b[1]))
    inter = iw * ih
    union = (a[2] - a[0]) * (a[3] - a[1]) + (b[2] - b[0]) * (b[3] - b[1]) - inter
    return float(inter / union)


@pytest.fixture(scope="module")
def det() -> ZooDetector:
    return ZooDetector.load("zoo:nanodet-coco")


@pytest.fixture(scope="module")
def photos() -> dict[str, Image.Image]:
    return {
        "astronaut": Image.fromarray(skimage.data.astronaut()),
        "chelsea": Image.fromarray(skimage.data.chelsea()),
        "coffee": Image.fromarray(skimage.data.coffee()),
    }


def test_listed_and_shipped() -> None:
    assert "zoo:nanodet-coco" in list_zoo_detectors()
    assert (ZOO_DIR / "LICENSE-human-models.txt").read_text().count("MIT License") == 1
    assert (ZOO_DIR / "nanodet-coco.onnx").stat().st_size < 15_000_000


def test_unknown_name_lists_the_available_ones() -> None:
    with pytest.raises(ConfigError, match=r"zoo:nanodet-coco"):
        ZooDetector.load("zoo:yolo-nonexistent")


def test_missing_onnxruntime_is_a_setup_error(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "onnxruntime", None)  # makes `import onnxruntime` fail
    with pytest.raises(SetupError, match="onnxruntime"):
        ZooDetector.load("nanodet-coco")


def test_classes(det: ZooDetector) -> None:
    assert det.name == "zoo:nanodet-coco"
    assert len(det.classes) == 80
    assert det.classes[:3] == ["person", "bicycle", "car"]
    assert det.classes[15] == "cat" and det.classes[41] == "cup"


def test_astronaut_person(det: ZooDetector, photos: dict[str, Image.Image]) -> None:
    [(boxes, scores, labels)] = det.detect([photos["astronaut"]])
    assert det.classes[labels[0]] == "person" and scores[0] > 0.6
    assert _iou(boxes[0], ASTRONAUT_PERSON) > 0.8


def test_chelsea_cat_top1(det: ZooDetector, photos: dict[str, Image.Image]) -> None:
    [(boxes, scores, labels)] = det.detect([photos["chelsea"]])
    assert det.classes[labels[0]] == "cat" and scores[0] > 0.45
    w, h = photos["chelsea"].size
    assert _iou(boxes[0], np.array([0, 0, w, h], np.float32)) > 0.85  # the cat fills the photo


def test_coffee_cup(det: ZooDetector, photos: dict[str, Image.Image]) -> None:
    [(boxes, scores, labels)] = det.detect([photos["coffee"]], conf=0.2)
    cups = [i for i, label in enumerate(labels) if det.classes[label] == "cup"]
    assert cups, [(det.classes[label], float(s)) for label, s in zip(labels, scores, strict=True)]
    assert max(_iou(boxes[i], COFFEE_CUP) for i in cups) > 0.7


def test_output_contract(det: ZooDetector, photos: dict[str, Image.Image]) -> None:
    images = [*photos.values(), Image.fromarray(skimage.data.camera())]  # + a greyscale one
    results = det.detect(images, conf=0.1)
    assert len(results) == len(images)
    for image, (boxes, scores, labels) in zip(images, results, strict=True):
        w, h = image.size
        assert boxes.dtype == np.float32 and boxes.shape == (len(scores), 4)
        assert scores.dtype == np.float32 and labels.dtype == np.int64
        assert len(scores) > 0 and np.all(scores > 0.1) and np.all(np.diff(scores) <= 0)
        assert np.all((labels >= 0) & (labels < 80))
        assert np.all(boxes[:, :2] >= 0) and np.all(boxes[:, 2] <= w) and np.all(boxes[:, 3] <= h)
        assert np.all(boxes[:, 2] > boxes[:, 0]) and np.all(boxes[:, 3] > boxes[:, 1])


def test_conf_and_max_det_filter(det: ZooDetector, photos: dict[str, Image.Image]) -> None:
    image = photos["astronaut"]
    [(_, low, _)] = det.detect([image], conf=0.05)
    [(_, high, _)] = det.detect([image], conf=0.5)
    [(_, capped, _)] = det.detect([image], conf=0.05, max_det=3)
    [(none, _, _)] = det.detect([image], conf=0.99)
    assert len(low) > len(high) >= 1 and np.all(high > 0.5)
    assert len(capped) == 3 and np.allclose(capped, low[:3])
    assert none.shape == (0, 4)
