"""Truncated images are found when a dataset is checked: named, left out of training, and the
user's files are left byte-identical (``imgrec data check`` and the training preparation)."""

from __future__ import annotations

import io
import json
from pathlib import Path

import numpy as np
import pytest
from PIL import Image, ImageFile, JpegImagePlugin
from typer.testing import CliRunner

from imgrec.cli import app
from imgrec.data.images import load_rgb, probe_image
from imgrec.data.prepare import prepare_dataset
from imgrec.errors import DatasetError
from tests.data.corpus import tree_digest

GOOD_PER_CLASS = 6


def _jpeg(*, size: tuple[int, int] = (96, 64), seed: int = 0, **save: object) -> bytes:
    rng = np.random.default_rng(seed)
    y, x = np.mgrid[0 : size[1], 0 : size[0]]
    arr = np.stack([x * 2 % 256, y * 3 % 256, rng.integers(0, 256, x.shape)], -1)
    buf = io.BytesIO()
    Image.fromarray(arr.astype(np.uint8)).save(buf, format="JPEG", quality=90, **save)
    return buf.getvalue()


def _png(*, seed: int) -> bytes:
    arr = np.random.default_rng(seed).integers(0, 256, (48, 64, 3), dtype=np.uint8)
    buf = io.BytesIO()
    Image.fromarray(arr).save(buf, format="PNG")
    return buf.getvalue()


def _dataset(root: Path) -> dict[str, str]:
    """Class folders of good JPEGs plus truncated files; returns {relative path: expected}."""
    for c, name in enumerate(("cat", "dog")):
        (root / name).mkdir(parents=True)
        for i in range(GOOD_PER_CLASS):
            (root / name / f"{i:02d}.jpg").write_bytes(_jpeg(seed=10 * c + i))
    cut = {
        "cat/half.jpg": _jpeg(seed=90)[: len(_jpeg(seed=90)) // 2],
        "cat/tail.jpg": _jpeg(seed=91)[:-40],  # only the last bytes (and the EOI) missing
        "dog/progressive.jpg": _jpeg(seed=92, progressive=True)[:-200],
        "dog/half.png": _png(seed=93)[: len(_png(seed=93)) // 2],
    }
    for rel, data in cut.items():
        (root / rel).write_bytes(data)
    return dict.fromkeys(cut, "truncated")


def test_data_check_names_truncated_files_and_leaves_them_alone(tmp_path: Path) -> None:
    root = tmp_path / "user" / "photos"
    expected = _dataset(root)
    before = tree_digest(tmp_path / "user")

    result = CliRunner().invoke(app, ["data", "check", str(root), "--json"])
    assert result.exit_code == 0, result.output  # usable: the broken files are only left out
    report = json.loads(result.stdout)
    skipped = {Path(k["path"]).relative_to(root).as_posix(): k["reason"] for k in report["skipped"]}
    assert {k: v.split(" ")[0] for k, v in skipped.items()} == expected
    assert report["num_images"] == 2 * GOOD_PER_CLASS
    assert any("4 file(s) skipped" in w for w in report["warnings"])

    text = CliRunner().invoke(app, ["data", "check", str(root)])
    assert text.exit_code == 0, text.output
    for rel in expected:
        assert f"  {rel}: truncated (image file is truncated" in text.stdout
    assert tree_digest(tmp_path / "user") == before  # same bytes, and nothing written beside
    assert not ImageFile.LOAD_TRUNCATED_IMAGES


def test_truncated_images_are_left_out_of_training(tmp_path: Path) -> None:
    root = tmp_path / "user" / "photos"
    expected = _dataset(root)
    before = tree_digest(tmp_path / "user")
    data = prepare_dataset(
        root, datasets_dir=tmp_path / "datasets", cache_dir=tmp_path / "cache", img_size=16
    )
    used = {s.path.relative_to(root).as_posix() for s in data.manifest.samples}
    assert not used & set(expected) and len(used) == 2 * GOOD_PER_CLASS
    assert sum(len(v) for v in data.images.values()) == 2 * GOOD_PER_CLASS
    assert {k.path.relative_to(root).as_posix() for k in data.report.skipped} == set(expected)
    assert tree_digest(tmp_path / "user") == before


@pytest.mark.parametrize("orientation", [1, 3, 6, 8])
def test_probe_decodes_jpeg_at_reduced_scale_but_reports_the_full_size(
    tmp_path: Path, orientation: int, monkeypatch: pytest.MonkeyPatch
) -> None:
    exif = Image.Exif()
    exif[0x0112] = orientation
    path = tmp_path / "photo.jpg"
    path.write_bytes(_jpeg(size=(96, 64), exif=exif.tobytes()))
    scales: list[tuple[int, int]] = []
    draft = JpegImagePlugin.JpegImageFile.draft

    def spy(self: JpegImagePlugin.JpegImageFile, mode: str | None, size: object) -> object:
        out = draft(self, mode, size)  # type: ignore[arg-type]  # passed through unchanged
        scales.append(self.size)
        return out

    monkeypatch.setattr(JpegImagePlugin.JpegImageFile, "draft", spy)
    info = probe_image(path)
    assert scales == [(12, 8)]  # decoded at 1/8 scale
    monkeypatch.undo()
    full = load_rgb(path)  # the training path decodes at full size and applies the EXIF turn
    assert (info.width, info.height) == full.size
    assert full.size == ((64, 96) if orientation in (6, 8) else (96, 64))
    assert (info.mode, info.format) == ("RGB", "JPEG")


def test_probe_raises_for_a_truncated_jpeg_the_full_decode_also_refuses(tmp_path: Path) -> None:
    path = tmp_path / "cut.jpg"
    path.write_bytes(_jpeg(size=(640, 480))[:-1000])
    for decode in (probe_image, load_rgb):
        with pytest.raises(DatasetError, match=r"cut\.jpg: truncated \(image file is truncated"):
            decode(path)
    with Image.open(path) as img:
        img.verify()  # what verify() alone would have let through
