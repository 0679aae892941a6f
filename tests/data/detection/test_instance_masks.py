"""Instance masks in the COCO detection layer: decoding and encoding, polygons from masks, the
reader's checks, COCO round trips, the synthetic instance set and ``data synth --task instance``."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from PIL import Image
from pycocotools import mask as mask_utils
from typer.testing import CliRunner

from imgrec.cli import app
from imgrec.data.detection import (
    convert_detection,
    decode_segmentation,
    encode_mask,
    mask_to_polygons,
    read_detection,
    write_coco,
    write_shapes_detection,
    write_shapes_instances,
)
from imgrec.data.synth import DEFAULT_CLASSES, render_image, render_mask

W, H = 20, 10


def _square() -> np.ndarray:
    mask = np.zeros((H, W), bool)
    mask[1:5, 2:8] = True
    return mask


def _uncompressed(mask: np.ndarray) -> dict[str, Any]:
    counts: list[int] = []
    value = run = 0
    for v in mask.astype(np.uint8).flatten(order="F").tolist():
        if v != value:
            counts.append(run)
            value, run = v, 0
        run += 1
    counts.append(run)
    return {"size": list(mask.shape), "counts": counts}


def _coco(root: Path, segmentations: list[Any]) -> Path:
    """One 20x10 image ``a.png`` with a box per segmentation (``...`` leaves the key out)."""
    (root / "images").mkdir(parents=True)
    Image.new("RGB", (W, H)).save(root / "images" / "a.png")
    anns = []
    for k, seg in enumerate(segmentations):
        ann: dict[str, Any] = {"id": k + 1, "image_id": 1, "category_id": 1, "bbox": [2, 1, 6, 4]}
        if seg is not ...:
            ann["segmentation"] = seg
        anns.append(ann)
    data = {
        "images": [{"id": 1, "file_name": "a.png", "width": W, "height": H}],
        "annotations": anns,
        "categories": [{"id": 1, "name": "thing"}],
    }
    (root / "data.json").write_text(json.dumps(data))
    return root


def test_decode_polygons_merges_them_in_pixel_corner_coordinates() -> None:
    square = [2, 1, 8, 1, 8, 5, 2, 5]
    np.testing.assert_array_equal(decode_segmentation([square], H, W), _square())
    other = [12, 6, 15, 6, 15, 9, 12, 9]
    both = decode_segmentation([square, other], H, W)
    assert both.dtype == bool and both.shape == (H, W)
    assert both.sum() == 24 + 9 and both[6:9, 12:15].all()


def test_decode_uncompressed_and_compressed_rle() -> None:
    rng = np.random.default_rng(0)
    mask = rng.random((H, W)) > 0.6
    np.testing.assert_array_equal(decode_segmentation(_uncompressed(mask), H, W), mask)
    rle = mask_utils.encode(np.asfortranarray(mask.astype(np.uint8)))
    compressed = {"size": [H, W], "counts": rle["counts"].decode()}
    np.testing.assert_array_equal(decode_segmentation(compressed, H, W), mask)


def test_encode_mask_round_trips_and_is_json_ready() -> None:
    rng = np.random.default_rng(1)
    for mask in (rng.random((H, W)) > 0.5, np.zeros((H, W), bool), np.ones((H, W), bool)):
        rle = encode_mask(mask)
        assert rle["size"] == [H, W] and isinstance(rle["counts"], str)
        again = json.loads(json.dumps(rle))
        np.testing.assert_array_equal(decode_segmentation(again, H, W), mask)
    with pytest.raises(ValueError, match=r"\(H, W\)"):
        encode_mask(np.zeros((2, 3, 4), bool))


def test_decode_refuses_what_it_cannot_use() -> None:
    with pytest.raises(ValueError, match="sum to 199, not 10 x 20 = 200"):
        decode_segmentation({"size": [H, W], "counts": [100, 99]}, H, W)
    with pytest.raises(ValueError, match="odd number"):
        decode_segmentation([[1, 1, 5, 1, 5]], H, W)


def test_mask_to_polygons_decodes_back_to_the_mask() -> None:
    yy, xx = np.mgrid[:64, :64]
    disk = (xx + 0.5 - 30) ** 2 + (yy + 0.5 - 32) ** 2 <= 10**2
    polygons = mask_to_polygons(disk)
    assert len(polygons) == 1 and all(len(p) >= 6 and len(p) % 2 == 0 for p in polygons)
    back = decode_segmentation(polygons, 64, 64)
    assert (back & disk).sum() / (back | disk).sum() > 0.8
    two = _square()
    two[7, 10:18] = True  # a one-pixel-high line is kept, not simplified away
    polygons = mask_to_polygons(two, tolerance=1.0)
    assert len(polygons) == 2
    np.testing.assert_array_equal(decode_segmentation(polygons, H, W), two)
    assert mask_to_polygons(np.zeros((H, W), bool)) == []


_GOOD = [[2, 1, 8, 1, 8, 5, 2, 5]]
_BROKEN = [
    ([[2, 1, 8, 1, 8, 5, 2]], "odd number of coordinates (7)"),
    ([[2, 1, 8, 1]], "4 coordinates; a polygon needs 3 points"),
    ([[2, 1, "x", 1, 8, 5]], "not finite numbers"),
    ({"size": [W, H], "counts": [0, 200]}, "RLE size [20, 10] is not the image's"),
    ({"size": [H, W], "counts": [10, 20]}, "RLE counts sum to 30, not 10 x 20 = 200"),
    ([], "segmentation is empty"),
]


@pytest.mark.parametrize(("seg", "why"), _BROKEN, ids=[w.split()[0] for _, w in _BROKEN])
def test_a_broken_segmentation_keeps_the_box_without_a_mask(
    tmp_path: Path, seg: Any, why: str
) -> None:
    root = _coco(tmp_path / "set", [_GOOD, seg])
    ds = read_detection(root, work_dir=tmp_path / "work")
    (img,) = ds.images
    assert len(img.boxes) == 2 and img.segmentations == (_GOOD, None)
    assert ds.has_masks
    (found,) = ds.problems
    assert (found.file, found.where, found.outcome) == (
        "data.json",
        "annotations[1].segmentation",
        "dropped",
    )
    text = str(found)
    assert text.startswith("data.json annotations[1]") and why in text, text
    assert "fix or remove the segmentation" in text and text.endswith("mask dropped")


def test_boxes_only_have_no_masks_even_with_empty_segmentations(tmp_path: Path) -> None:
    root = _coco(tmp_path / "set", [[], ...])
    ds = read_detection(root, work_dir=tmp_path / "work")
    assert ds.problems == [] and not ds.has_masks
    assert ds.images[0].segmentations == ()
    assert "segmentations" not in ds.to_dict()["images"][0]


def test_coco_round_trip_keeps_every_mask(tmp_path: Path) -> None:
    mask = np.zeros((H, W), bool)
    mask[2:9, 11:13] = True
    compressed = encode_mask(mask)
    segs = [_GOOD, compressed, _uncompressed(mask), ...]
    ds = read_detection(_coco(tmp_path / "set", segs), work_dir=tmp_path / "w1")
    assert ds.problems == [] and ds.images[0].segmentations == (*segs[:3], None)
    out = write_coco(ds, tmp_path / "out")
    (written,) = out.glob("annotations/*.json")
    anns = json.loads(written.read_text())["annotations"]
    assert [a.get("segmentation") for a in anns] == [*segs[:3], None]
    assert [a["area"] for a in anns] == [24.0, 14.0, 14.0, 24.0]  # the mask's, else the box's
    again = read_detection(out, work_dir=tmp_path / "w2")
    assert again.problems == [] and again.images[0].segmentations == (*segs[:3], None)
    entry = again.to_dict()["images"][0]
    assert entry["segmentations"] == [*segs[:3], None]
    json.dumps(entry)


def test_converting_masks_to_yolo_warns_and_writes_the_boxes(tmp_path: Path) -> None:
    root = _coco(tmp_path / "set", [_GOOD])
    with pytest.warns(UserWarning, match="instance masks are not written"):
        out = convert_detection(root, "yolo", tmp_path / "yolo", work_dir=tmp_path / "w")
    back = read_detection(out, work_dir=tmp_path / "w2")
    assert len(back.images[0].boxes) == 1 and not back.has_masks


def test_synthetic_instances_have_the_generators_boxes_and_exact_masks(tmp_path: Path) -> None:
    n, size, seed = 6, 48, 3
    out = write_shapes_instances(tmp_path / "inst", n=n, img_size=size, seed=seed)
    boxes_only = write_shapes_detection(tmp_path / "det", n=n, img_size=size, seed=seed)
    ds = read_detection(out, work_dir=tmp_path / "w1")
    det = read_detection(boxes_only, work_dir=tmp_path / "w2")
    assert ds.problems == [] and ds.has_masks
    counts = np.random.default_rng(seed).integers(1, 5, size=n)
    det_by_id = {img.image_id: img for img in det.images}
    for img in ds.images:
        i = img.image_id - 1
        _, record = render_image(
            i, label=i % len(DEFAULT_CLASSES), img_size=size, seed=seed,
            objects_per_image=int(counts[i]),
        )  # fmt: skip
        np.testing.assert_array_equal(img.boxes, np.float32([o.bbox for o in record.objects]))
        np.testing.assert_array_equal(img.boxes, det_by_id[img.image_id].boxes)
        assert img.split == det_by_id[img.image_id].split
        assert len(img.segmentations) == len(record.objects)
        for k, seg in enumerate(img.segmentations):
            expected = render_mask(record, object_index=k)
            np.testing.assert_array_equal(decode_segmentation(seg, size, size), expected)


def test_cli_synth_writes_an_instance_set(tmp_path: Path) -> None:
    out = tmp_path / "inst"
    result = CliRunner().invoke(
        app, ["data", "synth", str(out), "--task", "instance", "--per-class", "1",
              "--img-size", "32", "--classes", "circle,square"],
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    assert Path(result.stdout.strip().splitlines()[-1]) == out
    ds = read_detection(out, work_dir=tmp_path / "work")
    assert ds.classes == ["circle", "square"] and len(ds.images) == 2
    assert ds.problems == [] and all(s is not None for i in ds.images for s in i.segmentations)
