"""Opening user inputs: one function for every predictor, one error per broken input."""

from __future__ import annotations

import io
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from imgrec.engine.detect_predictor import DetectionPredictor, draw_detections
from imgrec.engine.inputs import image_tensor, input_name, open_input
from imgrec.engine.predictor import Predictor
from imgrec.engine.zoo_predictor import ZooPredictor
from imgrec.errors import DatasetError
from tests.data import corpus
from tests.engine.test_run_weights import save_run

_ORIENTATION = 0x0112


def _rotated_jpeg(path: Path) -> Path:
    """A 30 x 10 JPEG whose EXIF says "rotate 90 degrees clockwise" (shown 10 x 30)."""
    image = Image.new("RGB", (30, 10), (250, 10, 10))
    exif = image.getexif()
    exif[_ORIENTATION] = 6
    image.save(path, format="JPEG", exif=exif.tobytes())
    return path


def _broken(folder: Path) -> dict[str, Path]:
    return {
        "truncated": corpus.truncated_jpeg(folder / "cut.jpg"),
        "not an image": corpus.text_as_jpg(folder / "text.png"),
        "zero bytes": corpus.zero_byte(folder / "empty.jpg"),
    }


def test_every_kind_of_input_becomes_the_same_rgb_image(tmp_path: Path) -> None:
    pixels = np.random.default_rng(0).integers(0, 256, (12, 10, 3), dtype=np.uint8)
    path = tmp_path / "noise.png"
    Image.fromarray(pixels).save(path)
    inputs = [
        path,
        str(path),
        Image.open(path),
        pixels,
        torch.from_numpy(pixels).permute(2, 0, 1),  # torchvision's (C, H, W), uint8
        torch.from_numpy(pixels).permute(2, 0, 1).float() / 255,  # ... and float in [0, 1]
        path.read_bytes(),
    ]
    for item in inputs:
        opened = open_input(item)
        assert opened.mode == "RGB" and opened.size == (10, 12), input_name(item)
        assert np.array_equal(np.asarray(opened), pixels), input_name(item)


def test_modes_are_converted_as_for_training(tmp_path: Path) -> None:
    gray = open_input(np.full((4, 6), 77, np.uint8))
    assert gray.mode == "RGB" and gray.getpixel((0, 0)) == (77, 77, 77)
    assert open_input(np.full((4, 6, 1), 5, np.uint8)).getpixel((1, 1)) == (5, 5, 5)
    clear = np.zeros((4, 6, 4), np.uint8)  # transparent black: composited on white
    assert open_input(clear).getpixel((0, 0)) == (255, 255, 255)
    rgba = tmp_path / "rgba.png"
    Image.new("RGBA", (5, 5), (0, 0, 0, 0)).save(rgba)
    assert open_input(rgba).getpixel((2, 2)) == (255, 255, 255)
    floats = np.array([[-3.0, 12.4, 300.0]])  # other dtypes: values 0-255, clipped
    assert [open_input(floats).getpixel((x, 0))[0] for x in range(3)] == [0, 12, 255]
    assert open_input(torch.ones(1, 2, 3)).getpixel((0, 0)) == (255, 255, 255)


def test_exif_orientation_is_applied_to_files_pil_images_and_bytes(tmp_path: Path) -> None:
    path = _rotated_jpeg(tmp_path / "rotated.jpg")
    for item in (path, Image.open(path), path.read_bytes()):
        assert open_input(item).size == (10, 30), input_name(item)
    once = open_input(path)
    assert open_input(once).size == (10, 30)  # an opened image is not turned a second time


def test_broken_files_raise_one_error_naming_the_file(tmp_path: Path) -> None:
    for reason, path in _broken(tmp_path).items():
        with pytest.raises(DatasetError, match=f"^{path}: {reason}"):
            open_input(path)
    with pytest.raises(DatasetError, match=r"missing\.png: no such file"):
        open_input(tmp_path / "missing.png")
    with pytest.raises(DatasetError, match="a folder, not an image file"):
        open_input(tmp_path)


def test_broken_bytes_and_lazily_opened_images_raise_the_same_reasons(tmp_path: Path) -> None:
    for reason, path in _broken(tmp_path).items():
        with pytest.raises(DatasetError, match=f"^<bytes>: {reason}"):
            open_input(path.read_bytes())
    lazy = Image.open(tmp_path / "cut.jpg")  # opens: the header is intact
    with pytest.raises(DatasetError, match=r"cut\.jpg: truncated"):
        open_input(lazy)


def test_bad_arrays_tensors_and_types_say_what_is_accepted() -> None:
    with pytest.raises(DatasetError, match=r"<ndarray>: array image must be \(H, W\)"):
        open_input(np.zeros((4, 4, 2), np.uint8))
    with pytest.raises(DatasetError, match=r"<ndarray>: array image must be"):
        open_input(np.zeros((2, 4, 4, 3), np.uint8))
    with pytest.raises(DatasetError, match=r"<Tensor>: a tensor image must be .*\(C, H, W\)"):
        open_input(torch.zeros(8, 8, 3))
    with pytest.raises(DatasetError, match="cannot read an image from int; pass a file path"):
        open_input(3)  # the wrong type on purpose


def test_in_memory_images_get_the_pixel_limit_of_files(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(Image, "MAX_IMAGE_PIXELS", 500)
    with pytest.raises(DatasetError, match=r"<ndarray>: too large in pixels \(40x30 = 1200"):
        open_input(np.zeros((30, 40, 3), np.uint8))
    with pytest.raises(DatasetError, match=r"<Image>: too large in pixels"):
        open_input(Image.new("RGB", (40, 30)))
    assert open_input(np.zeros((20, 25, 3), np.uint8)).size == (25, 20)


def test_image_tensor_is_what_detectors_take() -> None:
    tensor = image_tensor(open_input(np.full((3, 5, 3), 255, np.uint8)))
    assert tensor.shape == (3, 3, 5) and tensor.dtype == torch.float32
    assert float(tensor.min()) == float(tensor.max()) == 1.0


def test_every_predictor_reports_broken_inputs_the_same_way(tmp_path: Path) -> None:
    broken = list(_broken(tmp_path / "in").values())
    good = tmp_path / "in" / "good.png"
    Image.new("RGB", (20, 16), (0, 120, 255)).save(good)
    inputs = [*broken, good, tmp_path / "in" / "missing.png", np.zeros((4, 4, 2), np.uint8)]
    expected: list[str | None] = []
    for item in inputs:
        try:
            open_input(item)
            expected.append(None)
        except DatasetError as exc:
            expected.append(str(exc))
    predictors = [
        Predictor.from_run_dir(save_run(tmp_path / "classify"), device="cpu"),
        DetectionPredictor.from_run_dir(save_run(tmp_path / "detect", task="detect"), device="cpu"),
        ZooPredictor.load("zoo:nanodet-coco"),
    ]
    for predictor in predictors:
        results = predictor.predict(inputs)
        assert [r.error for r in results] == expected, type(predictor).__name__
        assert [r.source for r in results] == [input_name(i) for i in inputs]


def test_draw_detections_opens_its_image_as_the_detector_did(tmp_path: Path) -> None:
    path = _rotated_jpeg(tmp_path / "rotated.jpg")
    detector = DetectionPredictor.from_run_dir(
        save_run(tmp_path / "run", task="detect"), device="cpu"
    )
    [found] = detector.predict([Image.open(path)], conf=0.0, max_detections=3)
    assert (found.width, found.height) == (10, 30)
    assert draw_detections(path, found).size == draw_detections(Image.open(path), found).size
    assert draw_detections(io.BytesIO(path.read_bytes()).getvalue(), found).size == (10, 30)
