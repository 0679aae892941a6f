"""write_shapes_segmentation: mask-folders layout whose masks are exactly the drawn shapes."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from imgrec.data.segmentation import read_segmentation, write_shapes_segmentation
from imgrec.data.synth import ShapesRecord, render_image, render_mask
from imgrec.errors import ConfigError, DatasetError


def test_masks_are_exactly_the_drawn_shapes(tmp_path: Path) -> None:
    out = write_shapes_segmentation(tmp_path / "shapes", n=10, img_size=48, seed=5)
    assert (out / "classes.txt").read_text().split() == [
        "background", "circle", "square", "triangle", "star",
    ]  # fmt: skip
    assert {p.name for p in (out / "images").iterdir()} == {"train", "val", "test"}
    ds = read_segmentation(out, work_dir=tmp_path / "work")
    assert ds.problems == [] and len(ds.images) == 10
    for img in ds.images:
        index = int(img.key.rsplit("_", 1)[1].removesuffix(".png"))
        split = img.key.split("/")[1]
        mask = np.asarray(Image.open(out / "masks" / split / f"shape_{index:05d}.png"))
        np.testing.assert_array_equal(
            np.asarray(Image.open(img.path)),
            np.asarray(Image.open(out / "images" / split / f"shape_{index:05d}.png")),
        )
        record = _record(img.path, index, seed=5, img_size=48)
        for k, obj in enumerate(record.objects):
            drawn = render_mask(record, object_index=k)
            assert (mask[drawn] == obj.label + 1).all()
            assert img.pixels[obj.label + 1] >= drawn.sum() > 0
        covered = sum(render_mask(record, object_index=k).sum() for k in range(len(record.objects)))
        assert int((mask > 0).sum()) == covered  # a pixel count: nothing outside the shapes


def _record(path: Path, index: int, *, seed: int, img_size: int) -> ShapesRecord:
    rng = np.random.default_rng(seed)
    counts = rng.integers(1, 4, size=10)
    pixels, record = render_image(
        index, label=index % 4, img_size=img_size, seed=seed, objects_per_image=int(counts[index])
    )
    np.testing.assert_array_equal(pixels, np.asarray(Image.open(path)))  # the same image
    return record


def test_per_class_and_refusals(tmp_path: Path) -> None:
    out = write_shapes_segmentation(
        tmp_path / "s", per_class=2, img_size=32, classes=["circle", "cross"]
    )
    assert len(list((out / "masks").rglob("*.png"))) == 4
    with pytest.raises(DatasetError, match="not an empty folder"):
        write_shapes_segmentation(out, n=1)
    with pytest.raises(ConfigError, match="either n or per_class"):
        write_shapes_segmentation(tmp_path / "t", n=1, per_class=1)
