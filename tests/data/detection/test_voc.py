from __future__ import annotations

import hashlib
import xml.etree.ElementTree as ET
import zipfile
from pathlib import Path

import numpy as np
from PIL import Image

from imgrec.data.detection import detect_layout, read_detection, write_voc
from imgrec.data.detection.voc import read_voc


def _tree_hash(root: Path) -> dict[str, str]:
    return {
        p.relative_to(root).as_posix(): hashlib.sha256(p.read_bytes()).hexdigest()
        for p in sorted(root.rglob("*"))
        if p.is_file()
    }


def _obj(name: str, box: tuple[object, ...] | None, difficult: int = 0) -> str:
    if box is None:
        return f"<object><name>{name}</name></object>"
    tags = "".join(
        f"<{t}>{v}</{t}>" for t, v in zip(("xmin", "ymin", "xmax", "ymax"), box, strict=True)
    )
    flag = f"<difficult>{difficult}</difficult>"
    return f"<object><name>{name}</name>{flag}<bndbox>{tags}</bndbox></object>"


def _xml(filename: str, size: tuple[int, int], *objects: str) -> str:
    w, h = size
    body = "\n".join(objects)
    return (
        f"<annotation>\n<filename>{filename}</filename>\n"
        f"<size><width>{w}</width><height>{h}</height><depth>3</depth></size>\n{body}\n"
        "</annotation>\n"
    )


def _voc(root: Path, sets: dict[str, str] | None = None) -> Path:
    for folder in ("Annotations", "JPEGImages", "ImageSets/Main"):
        (root / folder).mkdir(parents=True)
    Image.new("RGB", (40, 30)).save(root / "JPEGImages/a.jpg")
    Image.new("RGB", (40, 30)).save(root / "JPEGImages/b.png")
    Image.new("RGB", (40, 30)).save(root / "JPEGImages/extra.png")
    ann = root / "Annotations"
    (ann / "a.xml").write_text(
        _xml(
            "a.jpg",
            (40, 30),
            _obj("dog", (1, 2, 10, 8)),
            _obj("cat", (5, 5, 40, 30), difficult=1),
            _obj("dog", None),  # no bndbox
            _obj("dog", ("abc", 1, 2, 3)),  # not a number
        )
    )
    (ann / "b.xml").write_text(_xml("b.png", (50, 30), _obj("cat", (1, 1, 60, 10))))
    (ann / "broken.xml").write_text(
        "<annotation><filename>x.jpg</filename>\n<object>\n</annotation>"
    )
    (ann / "gone.xml").write_text(_xml("gone.jpg", (40, 30), _obj("cat", (1, 1, 5, 5))))
    (ann / "extra.xml").write_text(_xml("extra.png", (40, 30)))
    for name, text in (sets or {"train": "a\nbroken\ngone\nmissing\n", "val": "b\n"}).items():
        (root / f"ImageSets/Main/{name}.txt").write_text(text)
    (root / "ImageSets/Main/trainval.txt").write_text("a\nb\n")  # ignored: train.txt exists
    return root


def test_reads_voc_and_reports_each_problem(tmp_path: Path) -> None:
    root = _voc(tmp_path / "set")
    before = _tree_hash(root)
    assert detect_layout(root) == "voc"
    ds = read_detection(root, work_dir=tmp_path / "work")
    assert ds.layout == "voc" and ds.classes == ["cat", "dog"]
    by_key = {img.key: img for img in ds.images}
    assert sorted(by_key) == ["JPEGImages/a.jpg", "JPEGImages/b.png"]
    a, b = by_key["JPEGImages/a.jpg"], by_key["JPEGImages/b.png"]
    np.testing.assert_allclose(a.boxes, [[0, 1, 10, 8], [4, 4, 40, 30]])
    assert a.labels.tolist() == [1, 0] and a.iscrowd.tolist() == [False, True]
    np.testing.assert_allclose(b.boxes, [[0, 0, 40, 10]])
    assert (b.width, b.height) == (40, 30)
    assert (a.split, b.split) == ("train", "val")
    found = {(p.file, p.where, p.outcome) for p in ds.problems}
    assert found == {
        ("Annotations/a.xml", "object[2]", "dropped"),
        ("Annotations/a.xml", "object[3]/bndbox", "dropped"),
        ("Annotations/b.xml", "size", "error"),
        ("Annotations/b.xml", "object[0]", "clipped"),
        ("Annotations/broken.xml", "line 3 column 3", "skipped"),
        ("Annotations/gone.xml", "filename", "skipped"),
        ("Annotations/extra.xml", None, "skipped"),
        ("ImageSets/Main/train.txt", "line 4", "skipped"),
    }
    text = "\n".join(str(p) for p in ds.problems)
    assert "Annotations/a.xml object[2]: object has no <bndbox> — object dropped" in text
    assert "malformed XML (mismatched tag) — file skipped" in text
    assert "image file not found: JPEGImages/gone.jpg — image skipped" in text
    assert "<size> 50x30 differs from the image's 40x30" in text
    assert "id 'missing' has no Annotations/missing.xml — image skipped" in text
    assert _tree_hash(root) == before


def test_trainval_and_unsplit(tmp_path: Path) -> None:
    root = _voc(tmp_path / "set", sets={"test": "b\n"})
    (root / "ImageSets/Main/trainval.txt").write_text("a\nextra\n")
    ds = read_voc(root, root)
    splits = {img.key: img.split for img in ds.images}
    assert splits == {
        "JPEGImages/a.jpg": "train",
        "JPEGImages/b.png": "test",
        "JPEGImages/extra.png": "train",
    }
    for name in ("test", "trainval"):
        (root / f"ImageSets/Main/{name}.txt").unlink()
    ds = read_voc(root, root)
    assert len(ds.images) == 3 and {img.split for img in ds.images} == {None}
    assert {i.split for i in read_detection(root, work_dir=tmp_path / "w").images} <= {
        "train",
        "val",
        "test",
    }


def test_zip_input_and_write_voc(tmp_path: Path) -> None:
    root = _voc(tmp_path / "set")
    archive = tmp_path / "set.zip"
    with zipfile.ZipFile(archive, "w") as zf:
        for p in root.rglob("*"):
            zf.write(p, Path("voc") / p.relative_to(root))
    ds = read_detection(archive, work_dir=tmp_path / "work")
    assert ds.source == archive and len(ds.images) == 2
    out = write_voc(ds, tmp_path / "out")
    assert (out / "ImageSets/Main/train.txt").read_text() == "a\n"
    assert (out / "ImageSets/Main/val.txt").read_text() == "b\n"
    top = ET.parse(out / "Annotations/a.xml").getroot()
    cat = top.findall("object")[1]
    assert cat.findtext("name") == "cat" and cat.findtext("difficult") == "1"
    assert [cat.findtext(f"bndbox/{t}") for t in ("xmin", "ymin", "xmax", "ymax")] == [
        "5",
        "5",
        "40",
        "30",
    ]
    again = read_detection(out, work_dir=tmp_path / "work")
    assert again.classes == ds.classes and again.problems == []
    old = {Path(i.key).name: i for i in ds.images}
    for img in again.images:
        ref = old[Path(img.key).name]
        np.testing.assert_allclose(img.boxes, ref.boxes, atol=1e-3)
        assert img.labels.tolist() == ref.labels.tolist()
        assert img.iscrowd.tolist() == ref.iscrowd.tolist() and img.split == ref.split


def test_a_labels_file_gives_the_class_order_and_unlisted_names_are_reported(
    tmp_path: Path,
) -> None:
    root = _voc(tmp_path / "set")
    (root / "labels.txt").write_text("dog\nbird\n")
    ds = read_detection(root, work_dir=tmp_path / "work")
    assert ds.classes == ["dog", "bird", "cat"]  # listed order, then the unlisted name
    assert any("'cat' is not in labels.txt" in str(p) for p in ds.problems)
    written = write_voc(ds, tmp_path / "out")
    assert (written / "labels.txt").read_text() == "dog\nbird\ncat\n"
    assert read_detection(written, work_dir=tmp_path / "w2").classes == ds.classes
