"""Images above Pillow's pixel limit: refused in imgrec's words (file, pixels, limit, the setting
that accepts them), accepted with ``IMGREC_MAX_IMAGE_PIXELS`` and then decoded reduced, never a
raw ``DecompressionBombWarning``; ``imgrec explain`` on a folder reports such an image and
explains the others, as ``imgrec predict`` does.

The limit is lowered in each test (``PIL.Image.MAX_IMAGE_PIXELS``), so a 120 x 100 file stands
for a 169-megapixel one.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
import warnings
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image, JpegImagePlugin
from typer.testing import CliRunner

from imgrec.api import explain
from imgrec.cli import app
from imgrec.config import Settings
from imgrec.data import images
from imgrec.data.detection._common import image_size
from imgrec.data.segmentation.masks import decode_mask
from imgrec.engine.inputs import open_input
from imgrec.engine.predictor import Predictor
from imgrec.errors import DatasetError
from imgrec.explain.explainer import (
    Explanation,
    UnexplainedImage,
    explain_each,
    explain_images,
)
from imgrec.models.card import ModelCard, Preprocessing
from imgrec.models.registry import create_model

LIMIT = 10_000  # Pillow's limit here: 32 px shapes (and overlay captions) pass, 120 x 100 does not
SIDE = 40  # REDUCED_SIDE in these tests


@pytest.fixture(autouse=True)
def _small_limits(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(Image, "MAX_IMAGE_PIXELS", LIMIT)
    monkeypatch.setattr(images, "REDUCED_SIDE", SIDE)
    monkeypatch.delenv("IMGREC_MAX_IMAGE_PIXELS", raising=False)
    monkeypatch.setattr(images, "_OVERRIDE", images._Override())  # read the environment again


def _allow(monkeypatch: pytest.MonkeyPatch, pixels: int) -> None:
    """``IMGREC_MAX_IMAGE_PIXELS=pixels`` as a user sets it (read on the next decode)."""
    monkeypatch.setenv("IMGREC_MAX_IMAGE_PIXELS", str(pixels))
    monkeypatch.setattr(images, "_OVERRIDE", images._Override())


@contextmanager
def _no_bomb_warning(capsys: pytest.CaptureFixture[str]) -> Iterator[None]:
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        yield
    bombs = [w for w in caught if issubclass(w.category, Image.DecompressionBombWarning)]
    assert not bombs, [str(w.message) for w in bombs]
    assert "DecompressionBomb" not in capsys.readouterr().err


def _write(path: Path, width: int, height: int, *, seed: int = 0) -> Path:
    rng = np.random.default_rng(seed)
    Image.fromarray(rng.integers(0, 255, (height, width, 3), dtype=np.uint8)).save(path)
    return path


def test_an_image_above_the_limit_is_refused_naming_file_pixels_limit_and_setting(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    big = _write(tmp_path / "clipart.png", 120, 100)
    with _no_bomb_warning(capsys):
        for read in (open_input, images.load_rgb, images.probe_image):
            with pytest.raises(DatasetError) as info:
                read(big)
            message = str(info.value)
            assert message.startswith(f"{big}: too large in pixels (120x100 = 12000 exceeds the ")
            assert "limit of 10000" in message
            assert "set IMGREC_MAX_IMAGE_PIXELS=12000 or more to accept it" in message
            assert f"at most {SIDE} px on its longer side" in message
        with pytest.raises(DatasetError, match=r"<bytes>: too large .*IMGREC_MAX_IMAGE_PIXELS"):
            open_input(big.read_bytes())


def test_past_pillows_hard_limit_no_setting_helps(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    huge = _write(tmp_path / "huge.png", 150, 150)  # 22500 > 2 x 10000: Pillow refuses it itself
    _allow(monkeypatch, 10**9)
    with _no_bomb_warning(capsys), pytest.raises(DatasetError) as info:
        open_input(huge)
    message = str(info.value)
    assert message.startswith(f"{huge}: too large in pixels (22500 exceeds the limit of 20000)")
    assert "Pillow's hard limit of 20000" in message and "downscale the image first" in message
    assert images.pixel_limits() == (LIMIT, 2 * LIMIT)


def test_the_override_accepts_it_decoded_reduced(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    big = _write(tmp_path / "clipart.png", 240, 50)  # 12000 pixels, longer side 240
    _allow(monkeypatch, 12000)
    assert Settings().max_image_pixels == 12000
    with _no_bomb_warning(capsys):
        assert open_input(big).size == (SIDE, 8)  # aspect kept
        assert open_input(big.read_bytes()).size == (SIDE, 8)
        assert images.load_rgb(big).size == (SIDE, 8)
        info = images.probe_image(big)  # the dataset reader still sees the file's own size
        assert (info.width, info.height) == (240, 50)
        small = _write(tmp_path / "small.png", 40, 30)
        assert open_input(small).size == (40, 30)  # below Pillow's limit: full size


def test_a_jpeg_above_the_limit_is_never_decoded_at_full_size(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    photo = tmp_path / "photo.jpg"
    Image.new("RGB", (300, 40), (200, 30, 30)).save(photo)  # 12000 pixels
    drafted: list[tuple[int, int]] = []
    draft = JpegImagePlugin.JpegImageFile.draft

    def spy(
        self: JpegImagePlugin.JpegImageFile, mode: str | None, size: tuple[int, int] | None
    ) -> object:
        done = draft(self, mode, size)
        drafted.append(self.size)
        return done

    monkeypatch.setattr(JpegImagePlugin.JpegImageFile, "draft", spy)
    _allow(monkeypatch, 12000)
    with _no_bomb_warning(capsys):
        out = open_input(photo)
    assert drafted and drafted[0][0] < 300  # libjpeg decoded it at a fraction of the size
    assert max(out.size) <= SIDE
    assert out.getpixel((5, 2))[0] > 150  # still the picture


def test_in_memory_images_follow_the_same_rule(monkeypatch: pytest.MonkeyPatch) -> None:
    picture = Image.new("RGB", (120, 100))
    with pytest.raises(DatasetError, match=r"<Image>: too large in pixels \(120x100 = 12000"):
        open_input(picture)
    _allow(monkeypatch, 15000)
    assert open_input(picture).size == (SIDE, 33)
    assert picture.size == (120, 100)  # the caller's image is left as it was
    assert open_input(np.zeros((160, 80, 3), np.uint8)).size == (20, SIDE)  # 12800 pixels


def test_a_smaller_setting_lowers_the_limit(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    _allow(monkeypatch, 500)
    image = _write(tmp_path / "a.png", 30, 30)
    with pytest.raises(DatasetError, match=r"900 exceeds the limit of 500\); set IMGREC_MAX"):
        images.load_rgb(image)
    assert images.pixel_limits() == (500, 500)


def test_no_raw_warning_reaches_a_users_terminal(tmp_path: Path) -> None:
    big = _write(tmp_path / "clipart.png", 120, 100)
    code = (
        "from PIL import Image\n"
        "from imgrec.data.images import load_rgb\n"
        f"Image.MAX_IMAGE_PIXELS = {LIMIT}\n"
        "try:\n"
        f"    load_rgb({str(big)!r})\n"
        "except Exception as exc:\n"
        "    print(exc)\n"
    )
    done = subprocess.run(
        [sys.executable, "-W", "default", "-c", code],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
        env={"PATH": "/usr/bin:/bin", "HOME": str(tmp_path)},
    )
    assert done.returncode == 0, done.stderr
    assert "DecompressionBomb" not in done.stderr and "decompression bomb" not in done.stderr
    assert done.stdout.startswith(f"{big}: too large in pixels (120x100 = 12000")


def test_masks_and_detection_sizes_are_read_quietly(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    mask = tmp_path / "mask.png"
    Image.fromarray(np.ones((100, 120), np.uint8)).save(mask)
    huge = _write(tmp_path / "huge.png", 150, 150)
    with _no_bomb_warning(capsys):
        with pytest.raises(DatasetError, match=r"mask\.png: too large .*IMGREC_MAX_IMAGE_PIXELS"):
            decode_mask(mask)
        assert image_size(mask) == (120, 100)  # detection readers accept it, silently
        assert str(image_size(huge)).startswith("too large in pixels")  # not a crash
        _allow(monkeypatch, 12000)
        assert decode_mask(mask).shape == (100, 120)  # accepted, and never reduced


# --- explain over a folder with one bad image ------------------------------------------------


def _tiny_predictor() -> Predictor:
    torch.manual_seed(0)
    model = create_model("simple_cnn", num_classes=3, img_size=32, width=8)
    card = ModelCard(
        architecture="simple_cnn",
        options={"width": 8},
        classes=["a", "b", "c"],
        preprocessing=Preprocessing(size=(32, 32)),
    )
    return Predictor(model, card)


@pytest.fixture
def mixed_folder(shapes_dir: Path, tmp_path: Path) -> Path:
    """Two good shapes images, one above the (lowered) pixel limit, one that is not an image."""
    folder = tmp_path / "mixed"
    folder.mkdir()
    for source in sorted(shapes_dir.glob("circle/*.png"))[:2]:
        shutil.copy(source, folder / source.name)
    _write(folder / "clipart.png", 120, 100)
    (folder / "notes.png").write_bytes(b"not a png")
    return folder


def test_explain_each_reports_a_bad_image_and_explains_the_rest(
    mixed_folder: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    files = sorted(mixed_folder.iterdir())
    predictor = _tiny_predictor()
    with _no_bomb_warning(capsys):
        found = explain_each(predictor, files, method="gradcam")
    assert [type(e) for e in found] == [
        Explanation,
        Explanation,
        UnexplainedImage,
        UnexplainedImage,
    ]
    assert [e.source for e in found] == [str(f) for f in files]  # in the order given
    big, broken = found[2], found[3]
    assert isinstance(big, UnexplainedImage) and isinstance(broken, UnexplainedImage)
    assert big.error.startswith(f"{files[2]}: too large in pixels (120x100 = 12000")
    assert "IMGREC_MAX_IMAGE_PIXELS" in big.error
    reason = f"{files[3]}: not an image (Pillow cannot identify it)"
    assert broken.to_dict() == {"source": str(files[3]), "error": reason}
    with pytest.raises(DatasetError, match=r"clipart\.png: too large in pixels"):
        explain_images(predictor, files, method="gradcam")  # the strict form stops


def test_api_explain_of_a_folder_writes_the_good_ones_and_lists_the_bad(
    trained_run: Path, mixed_folder: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "explained"
    with _no_bomb_warning(capsys):
        results = explain(trained_run, [mixed_folder], out=out)
    assert [isinstance(e, Explanation) for e in results] == [True, True, False, False]
    assert len(list(out.glob("*.png"))) == 2
    rows = json.loads((out / "explanations.json").read_text())
    assert [Path(r["source"]).name for r in rows if "error" in r] == ["clipart.png", "notes.png"]
    assert "too large in pixels" in rows[2]["error"]


def test_cli_explain_reports_the_bad_image_and_exits_0(
    trained_run: Path, mixed_folder: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    runner = CliRunner()
    with _no_bomb_warning(capsys):
        done = runner.invoke(
            app, ["explain", str(trained_run), str(mixed_folder), "--out", str(tmp_path / "x")]
        )
    assert done.exit_code == 0, done.output
    lines = done.output.splitlines()
    [big] = [line for line in lines if line.startswith("clipart.png")]
    assert "ERROR" in big and "too large in pixels (120x100 = 12000" in big
    assert "IMGREC_MAX_IMAGE_PIXELS=12000" in big
    assert any(line.startswith("notes.png") and "not an image" in line for line in lines)
    assert "2 overlay(s)" in lines[-1] and "2 image(s) could not be read" in lines[-1]
    assert "DecompressionBomb" not in done.output


def test_cli_explain_with_nothing_readable_exits_2(
    trained_run: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    folder = tmp_path / "bad"
    folder.mkdir()
    _write(folder / "clipart.png", 120, 100)
    (folder / "notes.png").write_bytes(b"not a png")
    with _no_bomb_warning(capsys):
        done = CliRunner().invoke(app, ["explain", str(trained_run), str(folder)])
    assert done.exit_code == 2, done.output
    assert "error: none of the 2 images could be explained" in done.output
    assert "clipart.png: too large in pixels" in done.output and "Traceback" not in done.output


def test_cli_explain_with_the_override_explains_the_big_image_too(
    trained_run: Path,
    mixed_folder: Path,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    _allow(monkeypatch, 12000)
    with _no_bomb_warning(capsys):
        done = CliRunner().invoke(
            app, ["explain", str(trained_run), str(mixed_folder), "--out", str(tmp_path / "x")]
        )
    assert done.exit_code == 0, done.output
    [big] = [line for line in done.output.splitlines() if line.startswith("clipart.png")]
    assert "ERROR" not in big
    assert "3 overlay(s)" in done.output and "1 image(s) could not be read" in done.output
