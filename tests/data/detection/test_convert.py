from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from PIL import Image

from imgrec.data.detection import DetectionDataset, convert_detection, read_detection
from imgrec.errors import DatasetError

_CATS = [{"id": 1, "name": "cat"}, {"id": 2, "name": "dog"}]


def _coco(root: Path) -> Path:
    """Two splits, fractional boxes, one crowd box, one image without objects."""
    (root / "annotations").mkdir(parents=True)
    files = {"train": ["a.png", "b.png", "e.png"], "val": ["c.jpg"]}
    boxes: dict[str, list[tuple[int, list[float], int]]] = {
        "a.png": [(1, [1.25, 2.5, 10.125, 5.75], 0), (2, [20.3, 3.7, 15.11, 20.9], 0)],
        "b.png": [(2, [0, 0, 40, 30], 1), (1, [7.001, 8.333, 3.5, 2.25], 0)],
        "c.jpg": [(1, [2, 3, 4, 5], 0)],
        "e.png": [],
    }
    ann_id = image_id = 1
    for split, names in files.items():
        (root / "images" / split).mkdir(parents=True)
        data: dict[str, Any] = {"images": [], "annotations": []}
        data["categories"] = list(_CATS)
        for name in names:
            Image.new("RGB", (40, 30), (image_id * 40, 0, 0)).save(root / "images" / split / name)
            entry = {"id": 10 + image_id, "file_name": name, "width": 40, "height": 30}
            data["images"].append(entry)
            for cat, bbox, crowd in boxes[name]:
                data["annotations"].append(
                    {"id": ann_id, "image_id": 10 + image_id, "category_id": cat, "bbox": bbox,
                     "iscrowd": crowd}
                )  # fmt: skip
                ann_id += 1
            image_id += 1
        (root / "annotations" / f"instances_{split}.json").write_text(json.dumps(data))
    return root


def _by_name(ds: DetectionDataset) -> dict[str, tuple[Any, np.ndarray, list[int], list[bool]]]:
    return {
        Path(img.key).name: (img.split, img.boxes, img.labels.tolist(), img.iscrowd.tolist())
        for img in ds.images
    }


def _assert_same(got: DetectionDataset, want: DetectionDataset, *, drop_crowd: bool) -> None:
    assert got.classes == want.classes and got.problems == []
    old, new = _by_name(want), _by_name(got)
    assert sorted(new) == sorted(old)
    for name, (split, boxes, labels, crowd) in old.items():
        keep = [not c for c in crowd] if drop_crowd else [True] * len(crowd)
        n_split, n_boxes, n_labels, n_crowd = new[name]
        assert n_split == split, name
        np.testing.assert_allclose(n_boxes, np.asarray(boxes)[keep].reshape(-1, 4), atol=1e-3)
        assert n_labels == [v for v, k in zip(labels, keep, strict=True) if k]
        assert n_crowd == [v for v, k in zip(crowd, keep, strict=True) if k]


def test_coco_voc_coco_is_lossless(tmp_path: Path) -> None:
    src = _coco(tmp_path / "src")
    work = tmp_path / "work"
    first = read_detection(src, work_dir=work)
    assert first.problems == [] and sum(int(i.iscrowd.sum()) for i in first.images) == 1
    voc = convert_detection(src, "voc", tmp_path / "voc", work_dir=work)
    back = convert_detection(voc, "coco", tmp_path / "coco", work_dir=work)
    again = read_detection(back, work_dir=work)
    _assert_same(again, first, drop_crowd=False)
    assert again.category_ids == first.category_ids == [1, 2]
    coco = convert_detection(src, "coco", tmp_path / "c2", work_dir=work)
    same = read_detection(coco, work_dir=work)
    assert sorted(i.image_id for i in same.images) == [11, 12, 13, 14]


def test_coco_yolo_voc_coco_round_trip(tmp_path: Path) -> None:
    src = _coco(tmp_path / "src")
    work = tmp_path / "work"
    first = read_detection(src, work_dir=work)
    with pytest.raises(DatasetError, match=r"1 crowd/difficult boxes in 1 images.*drop_crowd=True"):
        convert_detection(src, "yolo", tmp_path / "yolo", work_dir=work)
    assert not (tmp_path / "yolo").exists() or not any((tmp_path / "yolo").iterdir())
    yolo = convert_detection(src, "yolo", tmp_path / "yolo", work_dir=work, drop_crowd=True)
    assert read_detection(yolo, work_dir=work).layout == "yolo"
    voc = convert_detection(yolo, "voc", tmp_path / "voc", work_dir=work)
    back = convert_detection(voc, "coco", tmp_path / "coco", work_dir=work)
    _assert_same(read_detection(back, work_dir=work), first, drop_crowd=True)


def test_refusals(tmp_path: Path) -> None:
    src = _coco(tmp_path / "src")
    with pytest.raises(DatasetError, match="unknown layout 'csv'"):
        layout: Any = "csv"
        convert_detection(src, layout, tmp_path / "o", work_dir=tmp_path)
    with pytest.raises(DatasetError, match="not an empty folder"):
        convert_detection(src, "voc", src, work_dir=tmp_path)
