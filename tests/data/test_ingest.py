"""Layout detection and manifest building from folders, zips, CSVs and IDX sets."""

from __future__ import annotations

import hashlib
import threading
from pathlib import Path

import numpy as np
import pytest

from imgrec.data import archive
from imgrec.data import ingest as ingest_module
from imgrec.data.ingest import ingest
from imgrec.errors import DatasetError
from tests.data.corpus import (
    image_bytes,
    make_imagefolder,
    noise_image,
    tree_digest,
    write_idx,
    zip_folder,
)


def test_imagefolder(tmp_path: Path) -> None:
    root = make_imagefolder(tmp_path / "ds", {"dog": 3, "cat": 2})
    noise_image(root / "cat" / "nested" / "deep.jpg", seed=99)
    calls: list[tuple[int, int]] = []
    lock = threading.Lock()

    def progress(done: int, total: int) -> None:
        with lock:
            calls.append((done, total))

    before = tree_digest(root)
    m = ingest(root, extract_root=tmp_path / "x", progress=progress)
    assert tree_digest(root) == before
    assert m.layout == "imagefolder" and m.root == root and m.source == root
    assert m.classes == ["cat", "dog"]
    assert len(m.samples) == 6 and not m.skipped
    assert {(s.path.parent.name, m.classes[s.label]) for s in m.samples} >= {
        ("cat", "cat"),
        ("nested", "cat"),
        ("dog", "dog"),
    }
    s = next(x for x in m.samples if x.path.name == "000.png" and x.path.parent.name == "dog")
    assert s.sha256 == hashlib.sha256(s.path.read_bytes()).hexdigest()
    assert (s.width, s.height, s.mode, s.split) == (12, 10, "RGB", None)
    assert m.notes[0] == "layout: image folder (2 class folders)"
    assert calls[0] == (0, 6) and calls[-1] == (6, 6) and len(calls) == 7
    assert not (tmp_path / "x").exists()  # nothing extracted for a plain folder


def test_split_folders_case_insensitive_with_aliases(tmp_path: Path) -> None:
    root = tmp_path / "ds"
    make_imagefolder(root / "Train", {"a": 3, "b": 3}, seed=1)
    make_imagefolder(root / "valid", {"a": 1, "b": 1}, seed=2)
    make_imagefolder(root / "TEST", {"a": 1, "b": 1}, seed=3)
    make_imagefolder(root / "extra", {"a": 1}, seed=4)
    (root / "README.md").write_text("hi")
    m = ingest(root, extract_root=tmp_path / "x")
    assert m.layout == "split-folders" and m.has_split
    assert m.counts() == {
        "test": {"a": 1, "b": 1},
        "train": {"a": 3, "b": 3},
        "val": {"a": 1, "b": 1},
    }
    assert m.notes[0] == "layout: split folders (Train, valid->val, TEST)"
    assert any("'extra' ignored" in n for n in m.notes)
    assert not m.skipped


def test_unlabelled_test_folder_is_noted_and_skipped(tmp_path: Path) -> None:
    root = tmp_path / "ds"
    make_imagefolder(root / "train", {"a": 3, "b": 3})
    noise_image(root / "test" / "x.png", seed=50)
    m = ingest(root, extract_root=tmp_path / "x")
    assert {s.split for s in m.samples} == {"train"}
    assert [k.reason for k in m.skipped] == ["not inside a class folder"]
    assert any("'test' has no class folders" in n for n in m.notes)


def test_two_folders_for_one_split_is_an_error(tmp_path: Path) -> None:
    root = tmp_path / "ds"
    for name in ("train", "val", "valid"):
        make_imagefolder(root / name, {"a": 1})
    with pytest.raises(DatasetError, match="'val' and 'valid' are val folders"):
        ingest(root, extract_root=tmp_path / "x")


def test_metadata_ignored_and_other_files_skipped(tmp_path: Path) -> None:
    root = make_imagefolder(tmp_path / "ds", {"a": 2, "b": 2})
    for name in ("README.md", "LICENSE", "labels.json", "notes.txt", ".DS_Store", "Thumbs.db"):
        (root / name).write_text("meta")
    (root / "a" / "desktop.ini").write_text("meta")
    (root / "a" / ".hidden.png").write_bytes(image_bytes(seed=70))
    (root / ".ipynb_checkpoints").mkdir()
    noise_image(root / ".ipynb_checkpoints" / "x.png", seed=71)
    (root / "__MACOSX" / "a").mkdir(parents=True)
    (root / "__MACOSX" / "a" / "._000.png").write_bytes(b"junk")
    (root / "a" / "model.h5").write_bytes(b"weights")
    (root / "b" / "about.txt").write_text("not top level")
    noise_image(root / "loose.png", seed=72)
    m = ingest(root, extract_root=tmp_path / "x")
    assert m.classes == ["a", "b"] and len(m.samples) == 4
    skipped = {k.path.relative_to(root).as_posix(): k.reason for k in m.skipped}
    assert skipped == {
        "a/model.h5": "not an image file extension",
        "b/about.txt": "not an image file extension",
        "loose.png": "not inside a class folder",
    }


def test_empty_class_folder_noted_and_makes_no_class(tmp_path: Path) -> None:
    root = make_imagefolder(tmp_path / "ds", {"a": 2, "b": 2})
    (root / "empty").mkdir()
    (root / "broken").mkdir()
    (root / "broken" / "x.png").write_bytes(b"")
    m = ingest(root, extract_root=tmp_path / "x")
    assert m.classes == ["a", "b"]
    assert "class folder 'empty' is empty; no class made" in m.notes
    assert "class folder 'broken' has no usable image; no class made" in m.notes


def test_wrapper_folder_is_descended(tmp_path: Path) -> None:
    make_imagefolder(tmp_path / "outer" / "dataset", {"a": 2, "b": 2})
    (tmp_path / "outer" / "readme.txt").write_text("x")
    m = ingest(tmp_path / "outer", extract_root=tmp_path / "x")
    assert m.root == tmp_path / "outer" / "dataset" and m.classes == ["a", "b"]
    assert m.notes[0] == "descended into wrapper folder 'dataset'"


def test_single_class_folder_is_not_mistaken_for_a_wrapper(tmp_path: Path) -> None:
    root = make_imagefolder(tmp_path / "ds", {"only": 3})
    m = ingest(root, extract_root=tmp_path / "x")
    assert m.classes == ["only"] and m.root == root


def test_zip_is_extracted_once_and_reused(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    src = make_imagefolder(tmp_path / "src", {"a": 2, "b": 2})
    zpath = zip_folder(src, tmp_path / "data.zip", prefix="dataset/")
    zip_before = zpath.read_bytes()
    m = ingest(zpath, extract_root=tmp_path / "x")
    assert m.source == zpath and m.layout == "imagefolder" and m.classes == ["a", "b"]
    assert m.root.parent.parent == tmp_path / "x" and m.root.name == "dataset"
    assert any(n.startswith("zip extracted to") for n in m.notes)

    def fail(*_: object, **__: object) -> None:
        raise AssertionError("extracted twice")

    monkeypatch.setattr(archive, "extract_zip", fail)  # zipcache extracts through archive
    again = ingest(str(zpath), extract_root=tmp_path / "x")
    assert again.fingerprint() == m.fingerprint() and again.root == m.root
    assert any(n.startswith("zip already extracted") for n in again.notes)
    assert zpath.read_bytes() == zip_before


@pytest.mark.parametrize(("delimiter", "suffix"), [(",", ".csv"), ("\t", ".tsv"), (";", ".csv")])
def test_csv_delimiters_relative_and_absolute_paths(
    tmp_path: Path, delimiter: str, suffix: str
) -> None:
    root = tmp_path / "ds"
    a = noise_image(root / "img" / "a.png", seed=1)
    b = noise_image(root / "img" / "b.png", seed=2)
    c = noise_image(tmp_path / "elsewhere" / "c.png", seed=3)
    rows = [
        ["File", "Class", "Split"],
        ["img/a.png", "cat", "train"],
        ["img/b.png", "dog", "VALID"],
        [str(c), "dog", "test"],
        ["", "", ""],
    ]
    table = root / f"labels{suffix}"
    table.write_text("\n".join(delimiter.join(r) for r in rows) + "\n", encoding="utf-8")
    m = ingest(table, extract_root=tmp_path / "x")
    assert m.layout == "csv" and m.root == root and m.classes == ["cat", "dog"]
    assert [(s.path, m.classes[s.label], s.split) for s in m.samples] == [
        (a, "cat", "train"),
        (b, "dog", "val"),
        (c, "dog", "test"),
    ]
    kind = {",": "comma", "\t": "tab", ";": "semicolon"}[delimiter]
    assert m.notes[0] == f"layout: CSV labels{suffix} ({kind}-separated, with split column)"


def test_csv_problems(tmp_path: Path) -> None:
    root = tmp_path / "ds"
    noise_image(root / "a.png", seed=1)
    noise_image(root / "b.png", seed=2)
    (root / "doc.pdf").write_bytes(b"%PDF")
    table = root / "labels.csv"
    table.write_text(
        "path,label,split\na.png,cat,\nmissing.png,cat,train\nb.png,,train\ndoc.pdf,dog,train\n"
    )
    m = ingest(root, extract_root=tmp_path / "x")  # a folder holding one CSV is read as CSV
    assert m.layout == "csv" and len(m.samples) == 1 and m.samples[0].split == "train"
    assert [(k.path.name, k.reason) for k in m.skipped] == [
        ("missing.png", "missing file (CSV line 3)"),
        ("b.png", "no label (CSV line 4)"),
        ("doc.pdf", "not an image file extension"),
    ]
    assert "1 CSV rows with an empty split were read as train" in m.notes

    table.write_text("path,label,split\na.png,cat,holdout\n")
    with pytest.raises(DatasetError, match=r"line 2: split 'holdout'"):
        ingest(table, extract_root=tmp_path / "x")
    table.write_text("filename;kind\na.png;cat\n")
    with pytest.raises(DatasetError) as info:
        ingest(table, extract_root=tmp_path / "x")
    assert str(table) in str(info.value) and "'filename', 'kind'" in str(info.value)


def test_csv_beside_class_folders(tmp_path: Path) -> None:
    root = make_imagefolder(tmp_path / "ds", {"a": 2, "b": 2})
    (root / "meta.csv").write_text("id,width\n1,2\n")  # not a label table: image folder wins
    assert ingest(root, extract_root=tmp_path / "x").layout == "imagefolder"
    (root / "meta.csv").write_text("path,label\na/000.png,x\nb/000.png,y\n")
    m = ingest(root, extract_root=tmp_path / "x")
    assert m.layout == "csv" and m.classes == ["x", "y"]


def test_source_errors(tmp_path: Path) -> None:
    with pytest.raises(DatasetError, match="no such file or folder"):
        ingest(tmp_path / "nope", extract_root=tmp_path / "x")
    other = tmp_path / "data.parquet"
    other.write_bytes(b"PAR1")
    with pytest.raises(DatasetError, match=r"not a folder, a \.zip or a \.csv"):
        ingest(other, extract_root=tmp_path / "x")


def test_hash_files_false(tmp_path: Path) -> None:
    root = make_imagefolder(tmp_path / "ds", {"a": 2, "b": 2})
    m = ingest(root, extract_root=tmp_path / "x", hash_files=False)
    assert {s.sha256 for s in m.samples} == {""}
    assert any("hashes not computed" in n for n in m.notes)


def test_idx_folder_is_exported_once_in_label_order(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from imgrec.data import idx

    src = tmp_path / "fashion"  # the name makes idx pick the Fashion-MNIST class names
    rng = np.random.default_rng(0)
    write_idx(src / "train-images-idx3-ubyte.gz", rng.integers(0, 256, (6, 4, 4)))
    write_idx(src / "train-labels-idx1-ubyte.gz", np.array([0, 1, 9, 0, 1, 9]))
    write_idx(src / "t10k-images-idx3-ubyte.gz", rng.integers(0, 256, (3, 4, 4)))
    write_idx(src / "t10k-labels-idx1-ubyte.gz", np.array([0, 1, 9]))
    before = tree_digest(src)
    m = ingest(src, extract_root=tmp_path / "x")
    # label order of the IDX files, not alphabetical ("ankle_boot" would sort first)
    assert m.layout == "idx" and m.classes == ["t-shirt_top", "trouser", "ankle_boot"]
    assert m.counts() == {"train": dict.fromkeys(m.classes, 2), "test": dict.fromkeys(m.classes, 1)}
    assert {s.mode for s in m.samples} == {"L"}
    assert m.root.parent == tmp_path / "x" and m.root.name.startswith("idx-")
    assert m.source == src and "IDX files" in m.notes[0]

    def fail(*_: object) -> None:
        raise AssertionError("exported twice")

    monkeypatch.setattr(idx, "load_idx_folder", fail)
    again = ingest(src, extract_root=tmp_path / "x")
    assert again.fingerprint() == m.fingerprint()
    assert [p.name for p in (tmp_path / "x").iterdir()] == [m.root.name]
    assert tree_digest(src) == before


def test_public_names() -> None:
    assert set(ingest_module.__all__) <= set(dir(ingest_module))
