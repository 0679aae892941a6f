"""coco-seg: semantic masks rasterised from COCO polygons and RLE, overlaps, crowd regions
as ignore, and the detection reader's problems carried over."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
from pycocotools import mask as mask_utils

from imgrec.data.detection import detect_layout
from imgrec.data.segmentation import detect_segmentation_layout, load_mask, read_segmentation
from tests.data.corpus import tree_digest
from tests.data.segmentation.builders import image, problems_of

W, H = 20, 10


def _rle(region: np.ndarray, *, compressed: bool) -> dict[str, object]:
    if compressed:
        rle = mask_utils.encode(np.asfortranarray(region.astype(np.uint8)))
        return {"size": [H, W], "counts": rle["counts"].decode()}
    counts: list[int] = []
    value = run = 0
    for v in region.astype(np.uint8).flatten(order="F").tolist():
        if v != value:
            counts.append(run)
            value, run = v, 0
        run += 1
    counts.append(run)
    return {"size": [H, W], "counts": counts}


def _coco(root: Path) -> Path:
    for name in ("a.png", "b.png", "c.png"):
        image(root / "images" / name, size=(W, H))
    big = np.zeros((H, W), bool)
    big[0:10, 0:10] = True  # area 100
    small = np.zeros((H, W), bool)
    small[2:5, 2:6] = True  # area 12, on top of big
    crowd = np.zeros((H, W), bool)
    crowd[:, 15:20] = True
    anns = [
        {"id": 1, "image_id": 1, "category_id": 3, "bbox": [2, 2, 4, 3], "iscrowd": 0,
         "segmentation": _rle(small, compressed=True)},
        {"id": 2, "image_id": 1, "category_id": 7, "bbox": [0, 0, 10, 10], "iscrowd": 0,
         "segmentation": [[0, 0, 10, 0, 10, 10, 0, 10]]},
        {"id": 3, "image_id": 1, "category_id": 7, "bbox": [15, 0, 5, 10], "iscrowd": 1,
         "segmentation": _rle(crowd, compressed=False)},
        {"id": 4, "image_id": 2, "category_id": 3, "bbox": [10, 2, 4, 4], "iscrowd": 0},
        {"id": 5, "image_id": 2, "category_id": 3, "bbox": [0, 0, 2, 2], "iscrowd": 0,
         "segmentation": [[1, 2]]},
        {"id": 6, "image_id": 2, "category_id": 99, "bbox": [0, 0, 2, 2],
         "segmentation": [[0, 0, 2, 0, 2, 2]]},
    ]  # fmt: skip
    data = {
        "images": [{"id": i, "file_name": n, "width": W, "height": H}
                   for i, n in ((1, "a.png"), (2, "b.png"), (3, "c.png"))],
        "annotations": anns,
        "categories": [{"id": 7, "name": "dog"}, {"id": 3, "name": "cat"}],
    }  # fmt: skip
    (root / "annotations").mkdir(parents=True)
    (root / "annotations" / "instances_train.json").write_text(json.dumps(data))
    return root


def test_polygons_rle_overlaps_and_crowd(tmp_path: Path) -> None:
    root = _coco(tmp_path / "coco")
    before = tree_digest(root)
    assert detect_layout(root) == "coco"
    assert detect_segmentation_layout(root) == "coco-seg"
    ds = read_segmentation(root, work_dir=tmp_path / "work")
    assert ds.layout == "coco-seg"
    assert ds.classes == ["background", "cat", "dog"] and ds.category_ids == [0, 3, 7]
    assert {img.split for img in ds.images} == {"train"}
    a = next(img for img in ds.images if img.key == "images/a.png")
    mask = load_mask(a, ds)
    assert (mask[2:5, 2:6] == 1).all()  # the smaller cat lies on the larger dog
    assert (mask == 2).sum() == 100 - 12
    assert (mask[:, 15:20] == 255).all()  # crowd: ignore
    assert (mask[:, 10:15] == 0).all()
    assert a.mask_path.is_relative_to(tmp_path / "work")
    b = next(img for img in ds.images if img.key == "images/b.png")
    mask_b = load_mask(b, ds)
    assert (mask_b[2:6, 10:14] == 255).all()  # no segmentation: its box is ignore
    assert (mask_b[0:2, 0:2] == 255).all()  # invalid polygon: its box is ignore
    text = [str(p) for p in ds.problems]
    assert any("annotations[5]" in t and "unknown category_id 99" in t for t in text)
    assert any("annotations[4]" in t and "no polygon of three" in t for t in text)
    assert any("1 annotation(s) have no segmentation (first: annotations[3])" in t for t in text)
    empty = problems_of(ds, "empty-mask")  # c has no annotation, b only ignore boxes
    assert [t.split(":")[0] for t in empty] == ["images/b.png", "images/c.png"]
    assert tree_digest(root) == before


def test_masks_are_reused_while_the_json_is_unchanged(tmp_path: Path) -> None:
    root = _coco(tmp_path / "coco")
    first = read_segmentation(root, work_dir=tmp_path / "work")
    stamp = {img.mask_path: img.mask_path.stat().st_mtime_ns for img in first.images}
    again = read_segmentation(root, work_dir=tmp_path / "work")
    assert {img.mask_path: img.mask_path.stat().st_mtime_ns for img in again.images} == stamp
    data = json.loads((root / "annotations" / "instances_train.json").read_text())
    data["annotations"] = data["annotations"][:1]
    (root / "annotations" / "instances_train.json").write_text(json.dumps(data))
    edited = read_segmentation(root, work_dir=tmp_path / "work")
    assert edited.images[0].mask_path.parent != first.images[0].mask_path.parent
