from __future__ import annotations

import hashlib
import zipfile
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from imgrec.data.detection import detect_layout, read_detection, write_yolo
from imgrec.data.detection.yolo import read_yolo
from imgrec.errors import DatasetError


def _tree_hash(root: Path) -> dict[str, str]:
    return {
        p.relative_to(root).as_posix(): hashlib.sha256(p.read_bytes()).hexdigest()
        for p in sorted(root.rglob("*"))
        if p.is_file()
    }


def _img(path: Path, size: tuple[int, int] = (40, 30), orientation: int | None = None) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    img = Image.new("RGB", size)
    if orientation is None:
        img.save(path)
    else:
        exif = Image.Exif()
        exif[0x0112] = orientation
        img.save(path, exif=exif)


def _write(path: Path, text: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)


def _yolo(root: Path) -> Path:
    _write(
        root / "data.yaml",
        "path: .\ntrain: images/train\nval: images/val\nnames:\n  0: cat\n  1: dog\n",
    )
    _img(root / "images/train/a.png")
    _img(root / "images/train/b.png")  # no label file: an image without objects
    _img(root / "images/val/c.jpg", (20, 10), orientation=6)  # shown as 10x20
    _write(
        root / "labels/train/a.txt",
        "0 0.5 0.5 0.5 0.2\n"  # (10, 12, 30, 18)
        "1 0.5 0.5 0.1\n"  # 4 fields
        "7 0.5 0.5 0.1 0.1\n"  # unknown class
        "0 0.1 0.2 0.3 0.4 0.5 0.6\n\n"  # a polygon segment
        "1 0.95 0.5 0.2 0.2\n",  # x1 = 42 > 40: clipped
    )
    _write(root / "labels/val/c.txt", "1 0.25 0.5 0.5 1\n")
    _write(root / "labels/train/ghost.txt", "0 0.5 0.5 0.1 0.1\n")
    return root


def test_reads_yolo_and_reports_each_problem(tmp_path: Path) -> None:
    root = _yolo(tmp_path / "set")
    before = _tree_hash(root)
    assert detect_layout(root) == "yolo"
    ds = read_detection(root, work_dir=tmp_path / "work")
    assert ds.layout == "yolo" and ds.classes == ["cat", "dog"]
    by_key = {img.key: img for img in ds.images}
    assert sorted(by_key) == ["images/train/a.png", "images/train/b.png", "images/val/c.jpg"]
    a, b, c = (by_key[k] for k in sorted(by_key))
    np.testing.assert_allclose(a.boxes, [[10, 12, 30, 18], [34, 12, 40, 18]], atol=1e-4)
    assert a.labels.tolist() == [0, 1] and not a.iscrowd.any()
    assert len(b.boxes) == 0 and b.boxes.shape == (0, 4)
    assert (c.width, c.height) == (10, 20)
    np.testing.assert_allclose(c.boxes, [[0, 0, 5, 20]], atol=1e-4)
    assert [a.split, b.split, c.split] == ["train", "train", "val"]
    found = {(p.file, p.where, p.outcome) for p in ds.problems}
    assert found == {
        ("labels/train/a.txt", "line 2", "dropped"),
        ("labels/train/a.txt", "line 3", "dropped"),
        ("labels/train/a.txt", "line 4", "dropped"),
        ("labels/train/a.txt", "line 6", "clipped"),
        ("labels/train/ghost.txt", None, "skipped"),
    }
    text = [str(p) for p in ds.problems]
    assert (
        "labels/train/a.txt line 2: expected 5 fields (class cx cy w h), found 4 — line dropped"
        in text
    )
    assert any("found 7 — line dropped" in t for t in text)
    assert any("unknown class index 7 (names has 2: 0..1)" in t for t in text)
    assert any(t.startswith("labels/train/ghost.txt: label file without an image") for t in text)
    assert _tree_hash(root) == before


def test_unsplit_images_folder_and_txt_lists(tmp_path: Path) -> None:
    root = tmp_path / "flat"
    _write(root / "data.yaml", "names: [cat, dog]\n")
    _img(root / "images/a.png")
    _img(root / "images/b.png")
    _write(root / "labels/a.txt", "1 0.5 0.5 0.5 0.5\n")
    ds = read_yolo(root, root)
    assert [img.split for img in ds.images] == [None, None] and ds.problems == []
    assert ds.images[0].labels.tolist() == [1] and len(ds.images[1].labels) == 0
    assert {img.split for img in read_detection(root, work_dir=tmp_path / "w").images} <= {
        "train",
        "val",
        "test",
    }
    _write(root / "data.yaml", "names: [cat, dog]\ntrain: train.txt\nval: [images/nope]\n")
    _write(root / "train.txt", "./images/a.png\n")
    ds = read_yolo(root, root)
    assert [(img.key, img.split) for img in ds.images] == [("images/a.png", "train")]
    assert {(p.where, p.outcome) for p in ds.problems} == {("val", "skipped")}


def test_malformed_yaml_names_its_line(tmp_path: Path) -> None:
    root = _yolo(tmp_path / "set")
    (root / "data.yaml").write_text("names: [cat, dog\ntrain: images/train\n")
    with pytest.raises(DatasetError, match=r"data\.yaml: malformed YAML at line 2 column 6"):
        read_detection(root, work_dir=tmp_path / "work")
    (root / "data.yaml").write_text("train: images/train\n")
    with pytest.raises(DatasetError, match="no 'names' key"):
        read_detection(root, work_dir=tmp_path / "work")


def test_zip_input_and_round_trip(tmp_path: Path) -> None:
    root = _yolo(tmp_path / "set")
    archive = tmp_path / "set.zip"
    with zipfile.ZipFile(archive, "w") as zf:
        for p in root.rglob("*"):
            zf.write(p, Path("set") / p.relative_to(root))
    ds = read_detection(archive, work_dir=tmp_path / "work")
    assert ds.source == archive and len(ds.images) == 3 and len(ds.problems) == 5
    out = write_yolo(ds, tmp_path / "out")
    assert (out / "labels/train/b.txt").read_text() == ""
    again = read_detection(out, work_dir=tmp_path / "work")
    assert again.classes == ds.classes and again.problems == []
    old = {Path(i.key).name: i for i in ds.images}
    assert sorted(Path(i.key).name for i in again.images) == sorted(old)
    for img in again.images:
        ref = old[Path(img.key).name]
        np.testing.assert_allclose(img.boxes, ref.boxes, atol=1e-3)
        assert img.labels.tolist() == ref.labels.tolist() and img.split == ref.split
    with pytest.raises(DatasetError, match="not an empty folder"):
        write_yolo(ds, out)
