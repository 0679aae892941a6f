"""The mask-folders layout: index, palette and colour masks, names files, 0/255 and
"reduce zero label" sets, and every broken input reported with its file and outcome."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from imgrec.data.segmentation import (
    SegmentationDataset,
    load_mask,
    read_segmentation,
    render_segmentation_report,
)
from imgrec.errors import DatasetError
from tests.data.corpus import tree_digest, truncated_png
from tests.data.segmentation.builders import (
    blocks,
    image,
    index_mask,
    palette_mask,
    pixels_of,
    problems_of,
    rgb_mask,
)

COLOURS = {0: (0, 0, 0), 1: (255, 0, 0), 2: (0, 0, 255)}


def _read(root: Path, tmp_path: Path) -> SegmentationDataset:
    return read_segmentation(root, work_dir=tmp_path / "work")


def test_index_masks_with_classes_txt_and_split_folders(tmp_path: Path) -> None:
    root = tmp_path / "set"
    for split, stem, values in (
        ("train", "a", (0, 1)),
        ("train", "b", (0, 2)),
        ("valid", "c", (1, 2)),
    ):
        image(root / "images" / split / f"{stem}.jpg")
        index_mask(root / "masks" / split / f"{stem}.png", blocks(*values))
    (root / "classes.txt").write_text("background\ncat\ndog\n")
    before = tree_digest(root)
    ds = _read(root, tmp_path)
    assert ds.layout == "mask-folders"
    assert ds.classes == ["background", "cat", "dog"]
    assert {img.key: img.split for img in ds.images} == {
        "images/train/a.jpg": "train", "images/train/b.jpg": "train", "images/valid/c.jpg": "val",
    }  # fmt: skip
    assert pixels_of(ds, "images/train/a.jpg") == (36, 36, 0)
    assert ds.problems == []
    assert any("'images/valid' read as val" in n for n in ds.notes)
    mask = load_mask(ds.images[0], ds)
    assert mask.dtype == np.uint8 and mask.shape == (6, 12)
    assert tree_digest(root) == before


def test_palette_masks_read_indices_and_255_is_ignore(tmp_path: Path) -> None:
    root = tmp_path / "set"
    image(root / "images" / "a.png")
    palette_mask(root / "annotations" / "a.png", blocks(0, 1, 255, 2))
    ds = _read(root, tmp_path)
    assert ds.classes == ["class_0", "class_1", "class_2"]  # no names file
    (img,) = ds.images
    assert img.pixels == (18, 18, 18) and img.ignored == 18
    assert set(np.unique(load_mask(img, ds)).tolist()) == {0, 1, 2, 255}
    np.testing.assert_array_equal(load_mask(img.mask_path, ds), load_mask(img, ds))
    assert not ds.binary_255


@pytest.mark.parametrize(
    "names",
    [
        {"background": [0, 0, 0], "road": "#ff0000", "car": [0, 0, 255]},
        [
            {"name": "background", "color": [0, 0, 0]},
            {"name": "road", "colour": "#FF0000"},
            {"name": "car", "color": [0, 0, 255], "id": 2},
        ],
    ],
)
def test_colour_masks_through_classes_json(tmp_path: Path, names: object) -> None:
    root = tmp_path / "set"
    image(root / "images" / "a.png")
    rgb_mask(root / "labels" / "a.png", blocks(0, 1, 2), COLOURS)
    image(root / "images" / "b.png", seed=1)
    odd = {**COLOURS, 3: (9, 9, 9)}
    rgb_mask(root / "labels" / "b.png", blocks(0, 3, 1, 3), odd)
    (root / "classes.json").write_text(json.dumps(names))
    ds = _read(root, tmp_path)
    assert ds.layout == "mask-folders"  # classes.json beside images/ is not a COCO file
    assert ds.classes == ["background", "road", "car"]
    assert ds.palette == COLOURS
    a = next(i for i in ds.images if i.key == "images/a.png")
    assert a.encoding == "colour"
    np.testing.assert_array_equal(load_mask(a, ds), blocks(0, 1, 2))
    (unknown,) = problems_of(ds, "unknown-class")
    assert unknown.startswith("labels/b.png: mask colours (9, 9, 9) (36 pixels)")
    assert "read as ignore (255) — image kept" in unknown
    assert pixels_of(ds, "images/b.png") == (18, 18, 0)


def test_colour_masks_without_a_table_become_colour_classes(tmp_path: Path) -> None:
    root = tmp_path / "set"
    image(root / "images" / "a.png")
    rgb_mask(root / "masks" / "a.png", blocks(0, 1, 2), COLOURS)
    ds = _read(root, tmp_path)
    assert ds.classes == ["#000000", "#0000ff", "#ff0000"]
    assert any("colour masks without a colour table" in n for n in ds.notes)
    assert pixels_of(ds, "images/a.png") == (24, 24, 24)


def test_grey_rgb_masks_are_index_masks(tmp_path: Path) -> None:
    root = tmp_path / "set"
    image(root / "images" / "a.png")
    rgb_mask(root / "masks" / "a.png", blocks(0, 1, 2), {1: (1, 1, 1), 2: (2, 2, 2)})
    ds = _read(root, tmp_path)
    assert ds.classes == ["class_0", "class_1", "class_2"]
    assert ds.images[0].encoding == "index"
    np.testing.assert_array_equal(load_mask(ds.images[0], ds), blocks(0, 1, 2))


def test_binary_0_255_masks_read_255_as_class_1(tmp_path: Path) -> None:
    root = tmp_path / "set"
    for stem, values in (("a", (0, 255)), ("b", (0, 0, 255)), ("c", (0,))):
        image(root / "images" / f"{stem}.png")
        index_mask(root / "masks" / f"{stem}.png", blocks(*values))
    ds = _read(root, tmp_path)
    assert ds.binary_255 and ds.classes == ["class_0", "class_1"]
    assert any("only 0 and 255" in n and "255 read as class 1" in n for n in ds.notes)
    assert pixels_of(ds, "images/a.png") == (36, 36)
    a = next(i for i in ds.images if i.key == "images/a.png")
    np.testing.assert_array_equal(load_mask(a, ds), blocks(0, 1))
    assert problems_of(ds, "empty-mask") == [
        "masks/c.png: mask is empty: every pixel is background or ignore — image kept; "
        "check the mask was exported; an empty mask only teaches background"
    ]


def test_0_255_with_a_three_class_names_file_keeps_255_as_ignore(tmp_path: Path) -> None:
    root = tmp_path / "set"
    image(root / "images" / "a.png")
    index_mask(root / "masks" / "a.png", blocks(0, 255))
    (root / "classes.txt").write_text("background\nroad\ncar\n")
    ds = _read(root, tmp_path)
    assert not ds.binary_255
    assert ds.images[0].ignored == 36
    assert any("255 read as ignore" in n for n in ds.notes)


def test_reduce_zero_label_set_is_noted_not_shifted(tmp_path: Path) -> None:
    root = tmp_path / "set"
    for stem, values in (("a", (1, 2)), ("b", (2, 3, 255))):
        image(root / "images" / f"{stem}.png")
        index_mask(root / "masks" / f"{stem}.png", blocks(*values))
    (root / "classes.txt").write_text("background\nwall\nfloor\nsky\n")
    ds = _read(root, tmp_path)
    assert any("no mask holds value 0" in n and "Nothing was shifted" in n for n in ds.notes)
    assert pixels_of(ds, "images/a.png") == (0, 36, 36, 0)  # value k is class k


def test_ade_style_values_beyond_the_names_are_reported(tmp_path: Path) -> None:
    root = tmp_path / "set"
    image(root / "images" / "a.png")
    index_mask(root / "masks" / "a.png", blocks(0, 1, 2))
    (root / "classes.txt").write_text("wall\nfloor\n")
    ds = _read(root, tmp_path)
    assert any("values reach 2" in n and "ADE20K" in n for n in ds.notes)
    (unknown,) = problems_of(ds, "unknown-class")
    assert "values 2 (24 pixels) are not classes of classes.txt" in unknown


def test_every_broken_case_is_reported_with_file_and_outcome(tmp_path: Path) -> None:
    root = tmp_path / "set"
    masks = root / "masks"
    image(root / "images" / "ok.png")
    index_mask(masks / "ok.png", blocks(0, 1))
    image(root / "images" / "small.png")
    index_mask(masks / "small.png", blocks(0, 1, size=(4, 3)))
    image(root / "images" / "unknown.png")
    index_mask(masks / "unknown.png", blocks(0, 7, 9))
    image(root / "images" / "nomask.png")
    index_mask(masks / "noimage.png", blocks(0, 1))
    image(root / "images" / "empty.png")
    index_mask(masks / "empty.png", blocks(0, 255))
    truncated_png(root / "images" / "broken.png")
    index_mask(masks / "broken.png", blocks(0, 1))
    image(root / "images" / "badmask.png")
    truncated_png(masks / "badmask.png")
    image(root / "images" / "lossy.png")
    Image.fromarray(blocks(0, 1)).save(masks / "lossy.jpg", quality=50)
    image(root / "images" / "colour.png")
    rgb_mask(masks / "colour.png", blocks(0, 1), COLOURS)
    image(root / "images" / "twin.png")
    image(root / "images" / "twin.jpg")
    index_mask(masks / "twin.png", blocks(0, 1))
    (root / "classes.txt").write_text("background\nperson\n")
    before = tree_digest(root)
    ds = _read(root, tmp_path)
    assert tree_digest(root) == before
    assert [img.key for img in ds.images if img.key != "images/lossy.png"] == [
        "images/empty.png", "images/ok.png", "images/unknown.png",
    ]  # fmt: skip
    outcome = {(p.kind, p.file): p.outcome for p in ds.problems}
    assert outcome[("size-mismatch", "masks/small.png")] == "excluded"
    assert outcome[("unknown-class", "masks/unknown.png")] == "kept"
    assert outcome[("missing-mask", "images/nomask.png")] == "excluded"
    assert outcome[("orphan-mask", "masks/noimage.png")] == "skipped"
    assert outcome[("empty-mask", "masks/empty.png")] == "kept"
    assert outcome[("unreadable-image", "images/broken.png")] == "excluded"
    assert outcome[("unreadable-mask", "masks/badmask.png")] == "excluded"
    assert outcome[("lossy-mask", "masks/lossy.jpg")] == "kept"
    assert outcome[("mixed-masks", "masks/colour.png")] == "excluded"
    assert outcome[("ambiguous-name", "images/twin.jpg")] == "excluded"
    text = {(p.kind, p.file): str(p) for p in ds.problems}
    assert (
        "mask is 4x3 but its image images/small.png is 12x6"
        in (text[("size-mismatch", "masks/small.png")])
    )
    assert (
        "values 7 (24 pixels), 9 (24 pixels) are not classes of classes.txt"
        in (text[("unknown-class", "masks/unknown.png")])
    )
    assert "truncated" in text[("unreadable-image", "images/broken.png")]
    assert "truncated" in text[("unreadable-mask", "masks/badmask.png")]
    assert all(p.advice for p in ds.problems)
    report = render_segmentation_report(ds)
    assert "nothing in your files was changed" in report and "masks/small.png" in report


def test_malformed_names_files_raise_with_the_place(tmp_path: Path) -> None:
    root = tmp_path / "set"
    image(root / "images" / "a.png")
    index_mask(root / "masks" / "a.png", blocks(0, 1))
    (root / "classes.json").write_text('["background",\n "cat",,]')
    with pytest.raises(DatasetError, match=r"classes.json: malformed JSON at line 2"):
        _read(root, tmp_path)
    (root / "classes.json").write_text(json.dumps([{"name": "bg", "id": 3}]))
    with pytest.raises(DatasetError, match=r"entry 0: id 3 differs from its position 0"):
        _read(root, tmp_path)
    (root / "classes.json").write_text(json.dumps({"bg": [0, 0], "cat": [1, 2, 3]}))
    with pytest.raises(DatasetError, match=r"colour \[0, 0\] is not \[r, g, b\]"):
        _read(root, tmp_path)


def test_two_mask_folders_are_ambiguous(tmp_path: Path) -> None:
    root = tmp_path / "set"
    image(root / "images" / "a.png")
    index_mask(root / "masks" / "a.png", blocks(0, 1))
    index_mask(root / "labels" / "a.png", blocks(0, 1))
    with pytest.raises(DatasetError, match="both masks/ and labels/ hold mask images"):
        _read(root, tmp_path)
