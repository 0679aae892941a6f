"""The broken-input corpus: each bad input gives its documented outcome, touches nothing outside
the extraction target, and leaves the user's files byte-identical."""

from __future__ import annotations

from pathlib import Path

import pytest
from PIL import Image

from imgrec.data.archive import extract_zip
from imgrec.data.ingest import ingest
from imgrec.data.split import assign_splits
from imgrec.data.validate import check_dataset
from imgrec.errors import DatasetError, UnsafeArchiveError
from tests.data import corpus


def _broken_tree(root: Path) -> Path:
    corpus.make_imagefolder(root, {"cat": 4, "dog": 4})
    corpus.zero_byte(root / "cat" / "zero.jpg")
    corpus.truncated_jpeg(root / "cat" / "cut.jpg")
    corpus.truncated_png(root / "cat" / "cut.png")
    corpus.text_as_jpg(root / "cat" / "text.jpg")
    corpus.bomb_png(root / "cat" / "bomb.png")
    corpus.cmyk_jpeg(root / "dog" / "cmyk.jpg")
    corpus.png16(root / "dog" / "deep.png")
    (root / "empty").mkdir()
    return root


EXPECTED_SKIPS = {
    "cat/zero.jpg": "zero bytes",
    "cat/cut.jpg": "truncated",
    "cat/cut.png": "truncated",
    "cat/text.jpg": "not an image",
    "cat/bomb.png": "too large in pixels",
}


def _check_broken_manifest(m_root: Path, skipped: dict[str, str]) -> None:
    assert set(skipped) == set(EXPECTED_SKIPS)
    for rel, start in EXPECTED_SKIPS.items():
        assert skipped[rel].startswith(start), (rel, skipped[rel])
        assert str(m_root) not in skipped[rel]  # the reason, not the whole error text


def test_broken_files_in_a_folder(tmp_path: Path) -> None:
    root = _broken_tree(tmp_path / "user" / "ds")
    before = corpus.tree_digest(tmp_path / "user")
    m = ingest(root, extract_root=tmp_path / "extract")
    assert corpus.tree_digest(tmp_path / "user") == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["user"]  # nothing written anywhere
    _check_broken_manifest(root, {k.path.relative_to(root).as_posix(): k.reason for k in m.skipped})
    modes = {s.path.name: s.mode for s in m.samples}
    assert modes["cmyk.jpg"] == "CMYK" and modes["deep.png"] == "I;16"  # used, not skipped
    assert m.classes == ["cat", "dog"] and len(m.samples) == 10
    assert "class folder 'empty' is empty; no class made" in m.notes

    report = check_dataset(assign_splits(m))
    assert report.usable
    assert report.mode_counts == {"RGB": 8, "CMYK": 1, "I;16": 1}
    assert any("5 file(s) skipped" in w for w in report.warnings)
    assert corpus.tree_digest(tmp_path / "user") == before


def test_broken_files_in_a_zip(tmp_path: Path) -> None:
    src = _broken_tree(tmp_path / "src")
    zpath = corpus.zip_folder(src, tmp_path / "user" / "broken.zip", prefix="broken/")
    before = corpus.tree_digest(tmp_path / "user")
    m = ingest(zpath, extract_root=tmp_path / "extract")
    assert corpus.tree_digest(tmp_path / "user") == before
    assert m.root.is_relative_to(tmp_path / "extract")
    _check_broken_manifest(
        m.root, {k.path.relative_to(m.root).as_posix(): k.reason for k in m.skipped}
    )
    assert len(m.samples) == 10


def test_pixel_limit_warning_band_is_refused_under_threads(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Between MAX_IMAGE_PIXELS and twice it Pillow only warns; ingest still refuses the file,
    also when many threads decode at once."""
    root = corpus.make_imagefolder(tmp_path / "ds", {"small": 4}, size=(8, 8))  # these pass
    big = corpus.image_bytes(size=(64, 64))  # 4096 pixels
    for i in range(300):  # enough files that threads overlap (the race showed ~1 in 400)
        (root / "big").mkdir(exist_ok=True)
        (root / "big" / f"{i}.png").write_bytes(big)
    monkeypatch.setattr(Image, "MAX_IMAGE_PIXELS", 3000)  # 4096 is in the warning band
    for _ in range(3):
        m = ingest(root, extract_root=tmp_path / "x")
        assert len(m.skipped) == 300  # every big image, whichever thread decoded it
        assert all(k.reason.startswith("too large in pixels") for k in m.skipped)
    assert {(s.width, s.height) for s in m.samples} == {(8, 8)}


@pytest.mark.parametrize(
    ("entry", "message"),
    [("../evil.png", "climbs out"), ("ABSOLUTE", "absolute path"), ("..\\evil.png", "climbs out")],
)
def test_escaping_zip_entries(tmp_path: Path, entry: str, message: str) -> None:
    outside = tmp_path / "outside" / "evil.png"
    entry = str(outside) if entry == "ABSOLUTE" else entry
    zpath = corpus.write_zip(
        tmp_path / "user" / "evil.zip",
        [("ds/cat/a.png", corpus.image_bytes(seed=1)), (entry, corpus.image_bytes(seed=2))],
    )
    before = corpus.tree_digest(tmp_path)
    with pytest.raises(UnsafeArchiveError, match=message) as info:
        ingest(zpath, extract_root=tmp_path / "extract")
    assert str(zpath) in str(info.value) and repr(entry) in str(info.value)
    assert not outside.exists()
    after = corpus.tree_digest(tmp_path)
    assert {k: v for k, v in after.items() if not k.startswith("extract")} == before
    assert list((tmp_path / "extract").rglob("*")) == []  # no half-extracted target


def test_symlink_entry(tmp_path: Path) -> None:
    zpath = corpus.symlink_zip(tmp_path / "user" / "link.zip")
    with pytest.raises(UnsafeArchiveError, match="symbolic link"):
        ingest(zpath, extract_root=tmp_path / "extract")
    assert list((tmp_path / "extract").rglob("*")) == []


def test_zip_bomb_trips_ratio_and_size_caps(tmp_path: Path) -> None:
    bomb = corpus.zip_bomb(tmp_path / "user" / "bomb.zip", size=2 * 1024**2)
    with pytest.raises(UnsafeArchiveError, match="compression ratio"):
        ingest(bomb, extract_root=tmp_path / "extract")
    with pytest.raises(UnsafeArchiveError, match="total uncompressed size"):
        extract_zip(bomb, tmp_path / "extract" / "t", max_total_bytes=1024**2, max_ratio=1e6)
    assert list((tmp_path / "extract").rglob("*")) == []
    assert sorted(p.name for p in tmp_path.iterdir()) == ["extract", "user"]


def test_single_class_dataset_is_reported(tmp_path: Path) -> None:
    root = corpus.make_imagefolder(tmp_path / "ds", {"only": 6})
    report = check_dataset(assign_splits(ingest(root, extract_root=tmp_path / "x")))
    assert not report.usable and "only one class ('only')" in report.errors[0]
    assert "usable:  no" in report.render_text()


def test_csv_naming_missing_files(tmp_path: Path) -> None:
    root = corpus.make_imagefolder(tmp_path / "ds", {"a": 3, "b": 3})
    table = root / "labels.csv"
    table.write_text("path,label\na/000.png,a\na/gone.png,a\nb/000.png,b\nb/nope.jpg,b\n")
    before = corpus.tree_digest(root)
    m = ingest(table, extract_root=tmp_path / "x")
    assert [(k.path.relative_to(root).as_posix(), k.reason) for k in m.skipped] == [
        ("a/gone.png", "missing file (CSV line 3)"),
        ("b/nope.jpg", "missing file (CSV line 5)"),
    ]
    assert len(m.samples) == 2
    assert corpus.tree_digest(root) == before


def test_folder_with_nothing_usable(tmp_path: Path) -> None:
    root = tmp_path / "ds"
    corpus.zero_byte(root / "a" / "x.jpg")
    corpus.text_as_jpg(root / "b" / "y.jpg")
    m = ingest(root, extract_root=tmp_path / "x")
    assert m.samples == [] and m.classes == []
    report = check_dataset(m)
    assert report.errors == ["no usable images found (2 files skipped, see the list)"]
    with pytest.raises(DatasetError, match="no images"):
        assign_splits(m)
