"""read_segmentation: zips, wrapper folders, splits, the registry, and what is not a set."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from imgrec.data.formats import find_format, get_format, list_formats
from imgrec.data.segmentation import (
    detect_segmentation_layout,
    read_segmentation,
    render_segmentation_report,
    segmentation_report,
)
from imgrec.errors import DatasetError
from tests.data.corpus import tree_digest, zip_folder
from tests.data.segmentation.builders import blocks, image, index_mask


def _flat(root: Path, n: int = 12) -> Path:
    for i in range(n):
        image(root / "images" / f"im{i:02d}.png", seed=i)
        index_mask(root / "masks" / f"im{i:02d}.png", blocks(0, 1 + i % 2))
    (root / "classes.txt").write_text("background\ncat\ndog\n")
    return root


def test_registry_lists_and_finds_the_segment_readers(tmp_path: Path) -> None:
    assert list_formats("segment") == ["coco-seg", "voc-seg", "mask-folders"]
    assert all(get_format(n).tasks == ("segment",) for n in list_formats("segment"))
    root = _flat(tmp_path / "set", n=1)
    reader = find_format(root, task="segment")
    assert reader is not None and reader.name == "mask-folders"
    assert find_format(root, task="detect") is None
    yolo_like = tmp_path / "yolo"
    image(yolo_like / "images" / "a.png")
    (yolo_like / "labels").mkdir()
    (yolo_like / "labels" / "a.txt").write_text("0 0.5 0.5 0.2 0.2\n")
    assert find_format(yolo_like, task="segment") is None


def test_unsplit_sets_are_split_deterministically(tmp_path: Path) -> None:
    root = _flat(tmp_path / "set")
    first = read_segmentation(root, work_dir=tmp_path / "w", split_seed=3)
    again = read_segmentation(root, work_dir=tmp_path / "w", split_seed=3)
    splits = [img.split for img in first.images]
    assert splits == [img.split for img in again.images]
    assert set(splits) == {"train", "val", "test"}
    assert any("carved" in n for n in first.notes)


def test_a_tiny_set_stays_in_train_with_a_note(tmp_path: Path) -> None:
    ds = read_segmentation(_flat(tmp_path / "set", n=2), work_dir=tmp_path / "w")
    assert {img.split for img in ds.images} == {"train"}
    assert any(n.startswith("not split:") for n in ds.notes)


def test_zip_input_is_extracted_under_work_dir(tmp_path: Path) -> None:
    folder = _flat(tmp_path / "set", n=3)
    archive = zip_folder(folder, tmp_path / "set.zip", prefix="myset/")
    digest = (tmp_path / "set.zip").read_bytes()
    ds = read_segmentation(archive, work_dir=tmp_path / "work")
    assert ds.layout == "mask-folders" and len(ds.images) == 3
    assert ds.root.is_relative_to(tmp_path / "work") and ds.source == archive
    assert (tmp_path / "set.zip").read_bytes() == digest
    report = segmentation_report(ds)
    assert report["counts"]["total_images"] == 3
    assert report["pixel_share_total"]["background"] == pytest.approx(0.5)
    assert "set.zip" in render_segmentation_report(ds)


def test_a_folder_without_a_segmentation_layout_is_refused(tmp_path: Path) -> None:
    image(tmp_path / "cats" / "a.png")
    assert detect_segmentation_layout(tmp_path) is None
    with pytest.raises(
        DatasetError, match="no segmentation dataset found; known formats: coco-seg"
    ):
        read_segmentation(tmp_path, work_dir=tmp_path / "w")


def test_reading_leaves_the_folder_as_it_was(tmp_path: Path) -> None:
    root = _flat(tmp_path / "set", n=4)
    before = tree_digest(root)
    read_segmentation(root, work_dir=tmp_path / "w")
    assert tree_digest(root) == before


def test_public_names_resolve_and_importing_is_light() -> None:
    import imgrec.data.segmentation as package

    for name in package.__all__:
        value = getattr(package, name)
        if callable(value):
            assert value.__module__.startswith("imgrec.data.segmentation."), name
    assert set(package.__all__) <= set(dir(package))
    code = (
        "import sys, imgrec.data.segmentation as s, imgrec.data.formats as f\n"
        "s.read_segmentation, s.load_mask, s.segmentation_report, f.list_formats('segment')\n"
        "print('torch' in sys.modules)"
    )
    done = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=120, check=False
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "False"
