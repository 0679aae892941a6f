"""The synthetic shapes generator: determinism, geometry, masks, records and the folder writer."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from imgrec.data.synth import (
    ANNOTATIONS_FILE,
    DEFAULT_CLASSES,
    SHAPE_KINDS,
    ShapeObject,
    ShapesRecord,
    make_shapes,
    read_annotations,
    render_mask,
    write_shapes_dataset,
)
from imgrec.errors import ConfigError, DatasetError


def interior(mask: np.ndarray) -> np.ndarray:
    """Mask pixels whose four neighbours are in the mask too (no anti-aliased edge)."""
    inner = mask.copy()
    inner[1:] &= mask[:-1]
    inner[:-1] &= mask[1:]
    inner[:, 1:] &= mask[:, :-1]
    inner[:, :-1] &= mask[:, 1:]
    return inner


def test_same_seed_same_images_other_seed_other_images() -> None:
    a, b = make_shapes(12, img_size=32, seed=7), make_shapes(12, img_size=32, seed=7)
    assert np.array_equal(a.images, b.images)
    assert np.array_equal(a.labels, b.labels)
    assert a.records == b.records
    c = make_shapes(12, img_size=32, seed=8)
    assert not np.array_equal(a.images, c.images)


def test_image_depends_on_seed_and_index_only() -> None:
    short, long = make_shapes(4, seed=3), make_shapes(9, seed=3)
    assert np.array_equal(short.images, long.images[:4])
    assert short.records == long.records[:4]


def test_shapes_output_types_and_balanced_labels() -> None:
    images, labels, records = make_shapes(8, img_size=40)
    assert images.shape == (8, 40, 40, 3) and images.dtype == np.uint8
    assert labels.tolist() == [0, 1, 2, 3, 0, 1, 2, 3]
    assert [r.class_name for r in records] == list(DEFAULT_CLASSES) * 2
    assert all(r.label == label for r, label in zip(records, labels, strict=True))


def test_every_kind_draws_inside_image_with_true_bbox_and_mask() -> None:
    shapes = make_shapes(3 * len(SHAPE_KINDS), img_size=48, classes=SHAPE_KINDS, seed=1)
    for image, record in zip(shapes.images, shapes.records, strict=True):
        (obj,) = record.objects
        x0, y0, x1, y1 = obj.bbox
        assert 0 <= x0 < x1 <= 48 and 0 <= y0 < y1 <= 48
        assert 0.25 * 48 * 0.9 <= 2 * obj.radius <= 0.60 * 48
        assert x0 <= obj.center[0] <= x1 and y0 <= obj.center[1] <= y1
        mask = render_mask(record)
        assert mask.shape == (48, 48) and mask.dtype == bool
        assert mask.sum() > 20
        rows, cols = np.nonzero(mask)
        assert cols.min() >= np.floor(x0) and cols.max() <= np.ceil(x1) - 1
        assert rows.min() >= np.floor(y0) and rows.max() <= np.ceil(y1) - 1
        # the object really is drawn where the mask says: its colour differs from the outside
        inside = image[interior(mask)].astype(float).mean(axis=0)
        assert np.linalg.norm(inside - np.array(obj.colour)) < 40


def test_mask_scales_to_another_size() -> None:
    record = make_shapes(1, img_size=64, seed=2).records[0]
    full, half = render_mask(record), render_mask(record, (32, 32))
    assert half.shape == (32, 32)
    assert abs(half.sum() * 4 - full.sum()) / full.sum() < 0.15
    assert render_mask(record, 16).shape == (16, 16)
    single = render_mask(record.objects[0], (64, 64))
    assert np.array_equal(single, full)


def test_circle_area_matches_its_radius() -> None:
    record = make_shapes(1, img_size=64, classes=["circle"], seed=4).records[0]
    radius = record.objects[0].radius
    assert abs(render_mask(record).sum() - np.pi * radius**2) < 0.06 * np.pi * radius**2


def test_several_objects_do_not_overlap_and_caption_names_all() -> None:
    shapes = make_shapes(6, img_size=96, objects_per_image=3, seed=5)
    for record in shapes.records:
        assert len(record.objects) == 3
        masks = [render_mask(record, object_index=k) for k in range(3)]
        assert all(m.any() for m in masks)
        assert not (masks[0] & masks[1]).any() and not (masks[1] & masks[2]).any()
        assert np.array_equal(masks[0] | masks[1] | masks[2], render_mask(record))
        assert record.caption.count(" and ") == 1
        for obj in record.objects:
            assert obj.kind in record.caption and obj.colour_name in record.caption
    assert shapes.labels.tolist() == [r.objects[0].label for r in shapes.records]


def test_caption_reads_like_a_sentence() -> None:
    record = make_shapes(1, seed=0).records[0]
    obj = record.objects[0]
    assert record.caption == obj.phrase
    assert record.caption.startswith(f"a {obj.size_word} {obj.colour_name} {obj.kind} ")
    assert obj.size_word in {"small", "medium", "large"}
    assert record.caption.endswith(("in the centre", obj.position_words))


def test_record_json_round_trip() -> None:
    for record in make_shapes(5, objects_per_image=2, img_size=80, seed=9).records:
        text = json.dumps(record.to_dict())
        back = ShapesRecord.from_dict(json.loads(text))
        assert back == record
        assert isinstance(back.objects[0], ShapeObject)
        assert isinstance(back.objects[0].vertices[0], tuple)
        assert np.array_equal(render_mask(back), render_mask(record))


def test_unknown_class_and_bad_arguments_raise() -> None:
    with pytest.raises(ConfigError, match="ellipse"):
        make_shapes(2, classes=["circle", "ellipse"])
    with pytest.raises(ConfigError):
        make_shapes(2, classes=["circle", "circle"])
    with pytest.raises(ConfigError):
        make_shapes(2, objects_per_image=0)
    with pytest.raises(ValueError, match="size"):
        render_mask(make_shapes(1).records[0].objects[0])


def test_write_shapes_dataset_class_folders(tmp_path: Path) -> None:
    out = write_shapes_dataset(tmp_path / "shapes", per_class=3, img_size=24, seed=1)
    assert sorted(p.name for p in out.iterdir()) == sorted([*DEFAULT_CLASSES, ANNOTATIONS_FILE])
    assert sorted(p.name for p in (out / "star").iterdir()) == [
        "star_00001.png",
        "star_00002.png",
        "star_00003.png",
    ]
    records = read_annotations(out)
    assert len(records) == 12
    for record in records:
        assert record.path is not None and record.split is None
        assert record.path.startswith(record.class_name + "/")
        with Image.open(out / record.path) as img:
            assert img.size == (24, 24) and img.mode == "RGB"
    assert not list(tmp_path.glob("shapes.*")), "temporary folders left behind"


def test_write_shapes_dataset_pixels_match_records(tmp_path: Path) -> None:
    out = write_shapes_dataset(tmp_path / "s", per_class=2, img_size=32, classes=["cross", "star"])
    for record in read_annotations(out):
        assert record.path is not None
        pixels = np.asarray(Image.open(out / record.path))
        mask = render_mask(record)
        inside = pixels[interior(mask)].astype(float).mean(axis=0)
        assert np.linalg.norm(inside - np.array(record.objects[0].colour)) < 40


def test_write_shapes_dataset_splits(tmp_path: Path) -> None:
    out = write_shapes_dataset(tmp_path / "shapes", per_class=20, img_size=16, splits=True)
    assert sorted(p.name for p in out.iterdir()) == [ANNOTATIONS_FILE, "test", "train", "val"]
    counts = {s: len(list((out / s / "circle").iterdir())) for s in ("train", "val", "test")}
    assert counts == {"train": 14, "val": 3, "test": 3}
    names = sorted(p.name for s in ("train", "val", "test") for p in (out / s / "square").iterdir())
    assert len(set(names)) == 20  # file numbers run on across splits
    records = read_annotations(out)
    assert {r.split for r in records} == {"train", "val", "test"}
    assert all(r.path is not None and r.path.startswith(f"{r.split}/") for r in records)


def test_write_shapes_dataset_replaces_own_refuses_foreign(tmp_path: Path) -> None:
    out = write_shapes_dataset(tmp_path / "shapes", per_class=2, img_size=16)
    again = write_shapes_dataset(out, per_class=1, img_size=16, classes=["circle", "cross"])
    assert sorted(p.name for p in again.iterdir()) == [ANNOTATIONS_FILE, "circle", "cross"]
    assert len(read_annotations(again)) == 2

    empty = tmp_path / "empty"
    empty.mkdir()
    assert (write_shapes_dataset(empty, per_class=1, img_size=16) / ANNOTATIONS_FILE).is_file()

    foreign = tmp_path / "photos"
    (foreign / "cats").mkdir(parents=True)
    (foreign / "cats" / "tom.jpg").write_bytes(b"not touched")
    with pytest.raises(DatasetError, match="photos"):
        write_shapes_dataset(foreign, per_class=1)
    (foreign / ANNOTATIONS_FILE).write_text('{"images": []}')
    with pytest.raises(DatasetError, match="not a shapes dataset"):
        write_shapes_dataset(foreign, per_class=1)
    assert (foreign / "cats" / "tom.jpg").read_bytes() == b"not touched"

    with pytest.raises(ConfigError, match="detect"):
        write_shapes_dataset(tmp_path / "d", task="detect", per_class=1)  # type: ignore[arg-type]
