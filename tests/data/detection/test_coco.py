from __future__ import annotations

import hashlib
import json
import zipfile
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from imgrec.data.detection import detect_layout, read_detection, write_coco
from imgrec.errors import DatasetError


def _tree_hash(root: Path) -> dict[str, str]:
    return {
        p.relative_to(root).as_posix(): hashlib.sha256(p.read_bytes()).hexdigest()
        for p in sorted(root.rglob("*"))
        if p.is_file()
    }


def _coco(root: Path, annotations: list[dict[str, object]] | None = None) -> Path:
    (root / "images").mkdir(parents=True)
    for name in ("a.png", "b.png"):
        Image.new("RGB", (40, 30)).save(root / "images" / name)
    (root / "images" / "bad.png").write_bytes(b"not an image")
    data = {
        "images": [
            {"id": 1, "file_name": "a.png", "width": 40, "height": 30},
            {"id": 2, "file_name": "b.png", "width": 40, "height": 30},
            {"id": 2, "file_name": "a.png", "width": 40, "height": 30},
            {"id": 3, "file_name": "bad.png", "width": 40, "height": 30},
        ],
        "annotations": annotations
        or [
            {"id": 1, "image_id": 1, "category_id": 7, "bbox": [1, 2, 10, 5], "iscrowd": 0},
            {"id": 2, "image_id": 2, "category_id": 3, "bbox": [30, 20, 20, 5], "iscrowd": 1},
            {"id": 3, "image_id": 2, "category_id": 3, "bbox": [5, 5, 0, 5]},
            {"id": 4, "image_id": 1, "category_id": 99, "bbox": [1, 1, 2, 2]},
            {"id": 5, "image_id": 42, "category_id": 3, "bbox": [1, 1, 2, 2]},
        ],
        "categories": [{"id": 7, "name": "dog"}, {"id": 3, "name": "cat"}],
    }
    (root / "data.json").write_text(json.dumps(data, indent=1))
    return root


def test_reads_coco_and_reports_each_problem(tmp_path: Path) -> None:
    root = _coco(tmp_path / "set")
    before = _tree_hash(root)
    assert detect_layout(root) == "coco"
    ds = read_detection(root, work_dir=tmp_path / "work")
    assert ds.classes == ["cat", "dog"] and ds.category_ids == [3, 7]
    by_id = {img.image_id: img for img in ds.images}
    assert sorted(by_id) == [1, 2]
    np.testing.assert_allclose(by_id[1].boxes, [[1, 2, 11, 7]])
    assert by_id[1].labels.tolist() == [1]
    np.testing.assert_allclose(by_id[2].boxes, [[30, 20, 40, 25]])
    assert by_id[2].iscrowd.tolist() == [True]
    text = [str(p) for p in ds.problems]
    outcomes = {(p.where, p.outcome) for p in ds.problems}
    assert ("annotations[1]", "clipped") in outcomes
    assert ("annotations[2]", "dropped") in outcomes
    assert ("annotations[3]", "dropped") in outcomes
    assert ("annotations[4]", "dropped") in outcomes
    assert ("images[2]", "skipped") in outcomes  # duplicate id
    assert ("images[3]", "skipped") in outcomes  # corrupt image
    assert all(t.startswith("data.json ") for t in text)
    assert any("unknown category_id 99" in t and t.endswith("annotation dropped") for t in text)
    assert {img.split for img in ds.images} <= {"train", "val", "test"}
    assert _tree_hash(root) == before


def test_malformed_json_is_skipped_with_line(tmp_path: Path) -> None:
    root = _coco(tmp_path / "set")
    (root / "data.json").write_text('{"images": [\n  {"id": 1,,}\n]}')
    ds = read_detection(root, work_dir=tmp_path / "work")
    assert ds.images == []
    (p,) = ds.problems
    assert p.outcome == "skipped" and p.where is not None and p.where.startswith("line 2")


def test_zip_and_coco_round_trip(tmp_path: Path) -> None:
    root = _coco(tmp_path / "set")
    archive = tmp_path / "set.zip"
    with zipfile.ZipFile(archive, "w") as zf:
        for p in root.rglob("*"):
            zf.write(p, Path("set") / p.relative_to(root))
    ds = read_detection(archive, work_dir=tmp_path / "work")
    assert len(ds.images) == 2 and ds.source == archive
    out = write_coco(ds, tmp_path / "out")
    again = read_detection(out, work_dir=tmp_path / "work")
    assert again.classes == ds.classes and again.category_ids == ds.category_ids
    old = {i.image_id: i for i in ds.images}
    for img in again.images:
        np.testing.assert_allclose(img.boxes, old[img.image_id].boxes, atol=1e-4)
        assert img.split == old[img.image_id].split
    with pytest.raises(DatasetError, match="not an empty folder"):
        write_coco(ds, out)


def test_no_layout_raises(tmp_path: Path) -> None:
    (tmp_path / "x").mkdir()
    with pytest.raises(DatasetError, match="coco"):
        read_detection(tmp_path / "x", work_dir=tmp_path / "work")
