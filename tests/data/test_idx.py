"""IDX reading (strict), IDX folder detection and loading, and export to PNG split folders."""

from __future__ import annotations

import gzip
import json
import struct
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from imgrec.data.idx import (
    COMPLETE_MARKER,
    FASHION_MNIST_CLASSES,
    export_idx_folder,
    is_idx_folder,
    load_idx_folder,
    read_idx,
)
from imgrec.errors import DatasetError

FASHION = Path("/usr/share/datasets/fashion-mnist")


def idx_bytes(array: np.ndarray, *, type_code: int = 0x08) -> bytes:
    dtype = {0x08: ">u1", 0x0B: ">i2", 0x0D: ">f4"}[type_code]
    arr = np.ascontiguousarray(array, dtype=dtype)
    header = struct.pack(">HBB", 0, type_code, arr.ndim) + struct.pack(f">{arr.ndim}I", *arr.shape)
    return header + arr.tobytes()


def write(path: Path, data: bytes, *, gz: bool) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(gzip.compress(data, mtime=0) if gz else data)
    return path


def make_idx_folder(
    folder: Path, *, n_train: int = 30, n_test: int = 10, gz: bool = True, dotted: bool = False
) -> tuple[np.ndarray, np.ndarray]:
    """A tiny MNIST-like folder; labels 0..9 in turn. Returns the train (images, labels)."""
    rng = np.random.default_rng(0)
    suffix = ".gz" if gz else ""
    sep = "." if dotted else "-"
    out = None
    for prefix, n in (("train", n_train), ("t10k", n_test)):
        if n == 0:
            continue
        images = rng.integers(0, 256, (n, 28, 28), dtype=np.uint8)
        labels = (np.arange(n) % 10).astype(np.uint8)
        write(folder / f"{prefix}-images{sep}idx3-ubyte{suffix}", idx_bytes(images), gz=gz)
        write(folder / f"{prefix}-labels{sep}idx1-ubyte{suffix}", idx_bytes(labels), gz=gz)
        out = out or (images, labels)
    assert out is not None
    return out


@pytest.mark.parametrize("gz", [True, False])
def test_read_idx_round_trip(tmp_path: Path, gz: bool) -> None:
    images = np.random.default_rng(1).integers(0, 256, (7, 28, 28), dtype=np.uint8)
    labels = np.array([3, 1, 4, 1, 5, 9, 2], dtype=np.uint8)
    got_images = read_idx(write(tmp_path / "a", idx_bytes(images), gz=gz))
    got_labels = read_idx(write(tmp_path / "b", idx_bytes(labels), gz=gz))
    assert got_images.dtype == np.uint8 and np.array_equal(got_images, images)
    assert np.array_equal(got_labels, labels) and got_labels.shape == (7,)


def test_read_idx_other_element_types_in_native_order(tmp_path: Path) -> None:
    values = np.array([[-2, 300], [7, -30000]], dtype=np.int16)
    got = read_idx(write(tmp_path / "s", idx_bytes(values, type_code=0x0B), gz=False))
    assert got.dtype == np.dtype("int16") and got.dtype.isnative and np.array_equal(got, values)
    floats = np.array([0.5, -1.25], dtype=np.float32)
    assert np.array_equal(
        read_idx(write(tmp_path / "f", idx_bytes(floats, type_code=0x0D), gz=True)), floats
    )


def test_read_idx_empty_array(tmp_path: Path) -> None:
    got = read_idx(write(tmp_path / "e", idx_bytes(np.zeros((0, 28, 28), np.uint8)), gz=True))
    assert got.shape == (0, 28, 28)


GOOD = idx_bytes(np.arange(2 * 4 * 4, dtype=np.uint8).reshape(2, 4, 4))


@pytest.mark.parametrize(
    ("data", "message"),
    [
        (b"", "truncated IDX header"),
        (b"\x00\x00", "truncated IDX header"),
        (b"\x01\x02\x08\x03" + GOOD[4:], "not an IDX file"),
        (b"PK\x03\x04" + GOOD[4:], "not an IDX file"),
        (b"\x00\x00\x07\x03" + GOOD[4:], "unknown IDX element type"),
        (b"\x00\x00\x08\x00", "0 dimensions"),
        (GOOD[:10], "truncated IDX header"),
        (GOOD[:-1], "truncated IDX data"),
        (GOOD[:16], "truncated IDX data"),
        (GOOD + b"\x00", "past the"),
        (b"\x00\x00\x08\x03" + struct.pack(">3I", 2**31, 2**20, 2**20), "corrupt"),
    ],
)
@pytest.mark.parametrize("gz", [True, False])
def test_read_idx_corruption_names_the_file(
    tmp_path: Path, data: bytes, message: str, gz: bool
) -> None:
    path = write(tmp_path / "broken-images-idx3-ubyte", data, gz=gz)
    with pytest.raises(DatasetError, match=message) as info:
        read_idx(path)
    assert str(path) in str(info.value)


def test_read_idx_broken_gzip_and_missing_file(tmp_path: Path) -> None:
    compressed = gzip.compress(GOOD, mtime=0)
    cut = write(tmp_path / "cut.gz", compressed[: len(compressed) // 2], gz=False)
    with pytest.raises(DatasetError, match=r"cut\.gz"):
        read_idx(cut)
    garbled = write(
        tmp_path / "garbled.gz", compressed[:12] + b"\xff" * 20 + compressed[32:], gz=False
    )
    with pytest.raises(DatasetError, match=r"garbled\.gz"):
        read_idx(garbled)
    with pytest.raises(DatasetError, match="nothing-here"):
        read_idx(tmp_path / "nothing-here")


@pytest.mark.parametrize(("gz", "dotted"), [(True, False), (False, True), (False, False)])
def test_is_idx_folder_and_load(tmp_path: Path, gz: bool, dotted: bool) -> None:
    images, labels = make_idx_folder(tmp_path / "mnist", gz=gz, dotted=dotted)
    assert is_idx_folder(tmp_path / "mnist")
    loaded = load_idx_folder(tmp_path / "mnist")
    assert set(loaded) == {"train", "test"}
    assert np.array_equal(loaded["train"][0], images) and np.array_equal(loaded["train"][1], labels)
    assert loaded["test"][0].shape == (10, 28, 28) and loaded["test"][1].shape == (10,)


def test_idx_folder_without_test_split(tmp_path: Path) -> None:
    make_idx_folder(tmp_path / "m", n_test=0)
    assert set(load_idx_folder(tmp_path / "m")) == {"train"}


def test_not_an_idx_folder(tmp_path: Path) -> None:
    assert not is_idx_folder(tmp_path / "missing")
    (tmp_path / "only-labels").mkdir()
    write(
        tmp_path / "only-labels" / "train-labels-idx1-ubyte",
        idx_bytes(np.zeros(3, np.uint8)),
        gz=False,
    )
    assert not is_idx_folder(tmp_path / "only-labels")
    (tmp_path / "cats").mkdir()
    (tmp_path / "cats" / "train-images.png").write_bytes(b"")
    assert not is_idx_folder(tmp_path / "cats")
    with pytest.raises(DatasetError, match="no IDX files"):
        load_idx_folder(tmp_path / "cats")


def test_load_count_mismatch_names_both_files(tmp_path: Path) -> None:
    folder = tmp_path / "m"
    make_idx_folder(folder, n_test=0)
    write(folder / "train-labels-idx1-ubyte.gz", idx_bytes(np.zeros(29, np.uint8)), gz=True)
    with pytest.raises(DatasetError, match="30 images but") as info:
        load_idx_folder(folder)
    assert "train-images-idx3-ubyte.gz" in str(info.value)
    assert "train-labels-idx1-ubyte.gz" in str(info.value)


def test_load_wrong_kind_and_missing_partner(tmp_path: Path) -> None:
    folder = tmp_path / "m"
    make_idx_folder(folder, n_test=0)
    write(folder / "train-labels-idx1-ubyte.gz", idx_bytes(np.zeros((30, 2), np.uint8)), gz=True)
    with pytest.raises(DatasetError, match=r"train-labels-idx1-ubyte\.gz"):
        load_idx_folder(folder)
    folder2 = tmp_path / "m2"
    make_idx_folder(folder2)
    (folder2 / "t10k-labels-idx1-ubyte.gz").unlink()
    with pytest.raises(DatasetError, match="test labels file is missing"):
        load_idx_folder(folder2)


def test_export_layout_and_idempotence(tmp_path: Path) -> None:
    images, _ = make_idx_folder(tmp_path / "mnist")
    calls: list[tuple[int, int]] = []
    out = export_idx_folder(
        tmp_path / "mnist", tmp_path / "png", progress=lambda d, t: calls.append((d, t))
    )
    assert sorted(p.name for p in out.iterdir()) == [COMPLETE_MARKER, "test", "train"]
    assert sorted(p.name for p in (out / "train").iterdir()) == [str(d) for d in range(10)]
    assert sorted(p.name for p in (out / "train" / "3").iterdir()) == [
        "00003.png",
        "00013.png",
        "00023.png",
    ]
    assert len(list((out / "test").rglob("*.png"))) == 10
    with Image.open(out / "train" / "3" / "00013.png") as img:
        assert img.mode == "L" and np.array_equal(np.asarray(img), images[13])
    marker = json.loads((out / COMPLETE_MARKER).read_text())
    assert marker["classes"] == [str(d) for d in range(10)]
    assert marker["counts"] == {"train": 30, "test": 10}
    assert calls and calls[-1] == (40, 40)
    assert [p.name for p in tmp_path.iterdir() if "tmp" in p.name] == []

    stamp = (out / "train" / "3" / "00013.png").stat().st_mtime_ns
    (tmp_path / "mnist" / "train-images-idx3-ubyte.gz").unlink()  # a rerun must not even read src
    assert export_idx_folder(tmp_path / "mnist", out) == out
    assert (out / "train" / "3" / "00013.png").stat().st_mtime_ns == stamp


def test_export_fashion_names_custom_names_and_refusals(tmp_path: Path) -> None:
    make_idx_folder(tmp_path / "fashion-mnist", n_test=0)
    out = export_idx_folder(tmp_path / "fashion-mnist", tmp_path / "f")
    assert sorted(p.name for p in (out / "train").iterdir()) == sorted(FASHION_MNIST_CLASSES)
    assert (out / "train" / "trouser" / "00001.png").is_file()

    make_idx_folder(tmp_path / "digits", n_test=0)
    names = [f"c{i}" for i in range(10)]
    custom = export_idx_folder(tmp_path / "digits", tmp_path / "c", class_names=names)
    assert sorted(p.name for p in (custom / "train").iterdir()) == names
    with pytest.raises(DatasetError, match="class names"):
        export_idx_folder(tmp_path / "digits", tmp_path / "few", class_names=["a", "b"])
    assert not (tmp_path / "few").exists()

    foreign = tmp_path / "busy"
    foreign.mkdir()
    (foreign / "notes.txt").write_text("mine")
    with pytest.raises(DatasetError, match="not a complete IDX export"):
        export_idx_folder(tmp_path / "digits", foreign)
    assert (foreign / "notes.txt").read_text() == "mine"

    empty = tmp_path / "empty"
    empty.mkdir()
    assert (export_idx_folder(tmp_path / "digits", empty) / COMPLETE_MARKER).is_file()


@pytest.mark.slow
@pytest.mark.skipif(not is_idx_folder(FASHION), reason=f"Fashion-MNIST not installed at {FASHION}")
def test_installed_fashion_mnist_reads() -> None:
    splits = load_idx_folder(FASHION)
    train_images, train_labels = splits["train"]
    test_images, test_labels = splits["test"]
    assert train_images.shape == (60000, 28, 28) and test_images.shape == (10000, 28, 28)
    assert np.bincount(train_labels).tolist() == [6000] * 10
    assert np.bincount(test_labels).tolist() == [1000] * 10
