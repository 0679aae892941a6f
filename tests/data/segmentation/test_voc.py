"""Pascal VOC segmentation: palette masks with the void border, ImageSets splits, RGB masks
through the VOC palette, and a VOC folder that holds detection annotations too."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from imgrec.data.detection import detect_layout, read_detection
from imgrec.data.segmentation import (
    VOC_CLASSES,
    detect_segmentation_layout,
    load_mask,
    read_segmentation,
    voc_palette,
)
from tests.data.corpus import tree_digest
from tests.data.segmentation.builders import blocks, image, palette_mask, problems_of, rgb_mask

_XML = (
    "<annotation><filename>{stem}.jpg</filename><size><width>12</width><height>6</height>"
    "</size><object><name>cat</name><bndbox><xmin>1</xmin><ymin>1</ymin><xmax>6</xmax>"
    "<ymax>6</ymax></bndbox></object></annotation>"
)


def _voc(root: Path) -> Path:
    for stem, values in (("2007_000001", (0, 8, 255)), ("2007_000002", (0, 15)),
                         ("2007_000003", (12, 255))):  # fmt: skip
        image(root / "JPEGImages" / f"{stem}.jpg")
        palette_mask(root / "SegmentationClass" / f"{stem}.png", blocks(*values))
        (root / "Annotations").mkdir(parents=True, exist_ok=True)
        (root / "Annotations" / f"{stem}.xml").write_text(_XML.format(stem=stem))
    image(root / "JPEGImages" / "2007_000009.jpg")  # a detection-only image
    sets = root / "ImageSets" / "Segmentation"
    sets.mkdir(parents=True)
    (sets / "train.txt").write_text("2007_000001\n2007_000002\n")
    (sets / "val.txt").write_text("2007_000003\n2007_000404\n")
    return root


def test_reads_voc_segmentation_with_its_splits(tmp_path: Path) -> None:
    root = _voc(tmp_path / "VOC2012")
    before = tree_digest(root)
    ds = read_segmentation(root, work_dir=tmp_path / "work")
    assert ds.layout == "voc-seg" and ds.classes == list(VOC_CLASSES)
    assert {img.key: img.split for img in ds.images} == {
        "JPEGImages/2007_000001.jpg": "train",
        "JPEGImages/2007_000002.jpg": "train",
        "JPEGImages/2007_000003.jpg": "val",
    }
    first = next(img for img in ds.images if img.key.endswith("0001.jpg"))
    assert first.pixels[0] == first.pixels[8] == first.ignored == 24  # 255 is void
    assert set(np.unique(load_mask(first, ds)).tolist()) == {0, 8, 255}
    assert ds.palette is not None and ds.palette[255] == (224, 224, 192)
    (missing,) = problems_of(ds, "listed-missing")
    assert missing.startswith("ImageSets/Segmentation/val.txt: 1 listed id(s) have no")
    assert "'2007_000404' at line 2" in missing and missing.split(" — ")[1].startswith("file")
    assert any("1 image(s) in JPEGImages/ have no mask" in n for n in ds.notes)
    assert tree_digest(root) == before


def test_a_voc_folder_serves_detect_and_segment(tmp_path: Path) -> None:
    root = _voc(tmp_path / "VOC2012")
    assert detect_layout(root) == "voc"
    assert detect_segmentation_layout(root) == "voc-seg"
    assert detect_segmentation_layout(tmp_path) == "voc-seg"  # a wrapper folder
    assert read_detection(root, work_dir=tmp_path / "work").layout == "voc"
    assert read_segmentation(root, work_dir=tmp_path / "work").layout == "voc-seg"


def test_rgb_voc_masks_read_through_the_palette(tmp_path: Path) -> None:
    root = tmp_path / "voc"
    colours = dict(enumerate(voc_palette(21))) | {255: (224, 224, 192)}
    image(root / "JPEGImages" / "a.jpg")
    rgb_mask(root / "SegmentationClass" / "a.png", blocks(0, 15, 255), colours)
    image(root / "JPEGImages" / "b.jpg")
    rgb_mask(root / "SegmentationClass" / "b.png", blocks(0, 1), {0: (0, 0, 0), 1: (1, 2, 3)})
    rgb_mask(root / "SegmentationClass" / "orphan.png", blocks(0), {0: (0, 0, 0)})
    ds = read_segmentation(root, work_dir=tmp_path / "work")
    a = next(img for img in ds.images if img.key == "JPEGImages/a.jpg")
    assert a.encoding == "colour"
    np.testing.assert_array_equal(load_mask(a, ds), blocks(0, 15, 255))
    (unknown,) = problems_of(ds, "unknown-class")
    assert unknown.startswith("SegmentationClass/b.png: mask colours (1, 2, 3) (36 pixels)")
    assert problems_of(ds, "orphan-mask")[0].startswith("SegmentationClass/orphan.png: no image")


def test_unlisted_masks_are_skipped(tmp_path: Path) -> None:
    root = _voc(tmp_path / "voc")
    (root / "ImageSets" / "Segmentation" / "val.txt").write_text("2007_000003\n")
    (root / "ImageSets" / "Segmentation" / "train.txt").write_text("2007_000001\n")
    ds = read_segmentation(root, work_dir=tmp_path / "work")
    assert len(ds.images) == 2
    (unlisted,) = problems_of(ds, "unlisted")
    assert unlisted.startswith("SegmentationClass/2007_000002.png: not named in any")
