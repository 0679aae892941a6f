"""The format-reader registry: its API, the nearest-name error, plug-in readers picked up by
layout detection, and every built-in layout still detected through it."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path
from typing import ClassVar

import numpy as np
import pytest

from imgrec.data.detection import detect_layout, read_detection
from imgrec.data.formats import (
    Candidate,
    FormatReader,
    Found,
    ReadContext,
    describe_formats,
    find_format,
    get_format,
    list_formats,
    register_format,
    unregister_format,
)
from imgrec.data.ingest import ingest
from imgrec.errors import ConfigError, DatasetError
from tests.data.corpus import make_imagefolder, noise_image, tree_digest, write_idx

CLASSIFY = ["idx", "split-folders", "csv", "imagefolder"]
DETECT = ["coco", "yolo", "voc"]
SEGMENT = ["coco-seg", "voc-seg", "mask-folders"]


class _LabelsTxt(FormatReader[Found]):
    """A test layout: ``labels.txt`` with ``<file> <label>`` lines beside the images."""

    name = "labels-txt"
    tasks: ClassVar[tuple[str, ...]] = ("classify",)
    priority = 85  # above csv and the image folder, below split folders
    description = "labels-txt (labels.txt of '<file> <label>' lines)"

    def detect(self, path: Path) -> bool:
        return path.is_dir() and (path / "labels.txt").is_file()

    def read(self, path: Path, ctx: ReadContext) -> Found:
        found = Found("labels-txt", path, notes=["layout: labels.txt"])
        for line in (path / "labels.txt").read_text().splitlines():
            file, label = line.split()
            found.candidates.append(Candidate(path / file, label, None, label))
        return found


class _Boxes(FormatReader[object]):
    name = "myboxes"
    tasks = ("detect",)
    priority = 95
    description = "myboxes (boxes.my)"

    def detect(self, path: Path) -> bool:
        return (path / "boxes.my").is_file()

    def read(self, path: Path, ctx: ReadContext) -> object:
        raise NotImplementedError


@pytest.fixture
def plugin() -> Iterator[None]:
    register_format(_LabelsTxt)
    register_format(_Boxes)
    yield
    unregister_format("labels-txt")
    unregister_format("myboxes")


def test_built_in_readers_in_probe_order() -> None:
    assert list_formats("classify") == CLASSIFY
    assert list_formats("detect") == DETECT
    assert set(list_formats()) == set(CLASSIFY + DETECT + SEGMENT)
    assert list_formats("caption") == []
    reader = get_format("voc")
    assert reader.name == "voc" and reader.tasks == ("detect",)
    assert "voc" in repr(reader)
    text = describe_formats("detect")
    assert "annotations/instances_*.json" in text and "data.yaml" in text and "Annotations" in text


def test_every_task_format_is_registered_for_that_task() -> None:
    from imgrec.tasks.registry import get_task, list_tasks

    for name in list_tasks():
        for fmt in get_task(name).formats:
            assert name in get_format(fmt).tasks, (name, fmt)


def test_unknown_name_names_the_nearest_and_lists_all() -> None:
    with pytest.raises(ConfigError, match=r"unknown format 'cocoo'\. Did you mean 'coco'\?") as e:
        get_format("cocoo")
    for name in CLASSIFY + DETECT:
        assert name in str(e.value)
    with pytest.raises(ConfigError, match="Did you mean 'imagefolder'"):
        get_format("image-folder")
    with pytest.raises(ConfigError, match="unknown format 'zzz'\\. Formats:"):
        unregister_format("zzz")


def test_registration_is_checked() -> None:
    class Taken(_LabelsTxt):
        name = "csv"

    class BadName(_LabelsTxt):
        name = "Bad Name"

    class NoTask(_LabelsTxt):
        name = "no-task"
        tasks = ()

    with pytest.raises(ConfigError, match=r"'csv' is already registered by imgrec\.data\.formats"):
        register_format(Taken)
    with pytest.raises(ConfigError, match="must be lower case"):
        register_format(BadName)
    with pytest.raises(ConfigError, match="must declare the tasks"):
        register_format(NoTask)
    assert list_formats("classify") == CLASSIFY  # nothing half-registered


@pytest.mark.usefixtures("plugin")
def test_a_registered_reader_is_used_by_layout_detection(tmp_path: Path) -> None:
    root = tmp_path / "outer" / "ds"
    for i in range(4):
        noise_image(root / "images" / f"img{i}.png", seed=i)
    lines = [f"images/img{i}.png {label}" for i, label in enumerate(["cat", "dog"] * 2)]
    (root / "labels.txt").write_text("\n".join(lines) + "\n")
    assert list_formats("classify") == ["idx", "split-folders", "labels-txt", "csv", "imagefolder"]
    assert find_format(root, task="classify") is get_format("labels-txt")
    before = tree_digest(tmp_path / "outer")
    m = ingest(root, extract_root=tmp_path / "x")
    assert m.layout == "labels-txt" and m.classes == ["cat", "dog"] and len(m.samples) == 4
    assert m.notes[0] == "layout: labels.txt"
    wrapped = ingest(tmp_path / "outer", extract_root=tmp_path / "x")  # a wrapper: descended
    assert (
        wrapped.layout == "labels-txt" and wrapped.notes[0] == "descended into wrapper folder 'ds'"
    )
    assert wrapped.fingerprint() == m.fingerprint()
    assert tree_digest(tmp_path / "outer") == before
    assert "labels-txt (labels.txt" in describe_formats("classify")

    boxes = tmp_path / "boxes"
    boxes.mkdir()
    (boxes / "boxes.my").write_text("")
    assert detect_layout(boxes) == "myboxes"
    assert find_format(boxes, task="classify") is get_format("imagefolder")  # tasks kept apart


@pytest.mark.usefixtures("plugin")
def test_unregistered_reader_is_gone(tmp_path: Path) -> None:
    unregister_format("labels-txt")
    register_format(_LabelsTxt)  # the fixture removes it again
    assert "labels-txt" in list_formats("classify")


def _idx(root: Path) -> Path:
    rng = np.random.default_rng(0)
    write_idx(root / "train-images-idx3-ubyte.gz", rng.integers(0, 256, (4, 4, 4)))
    write_idx(root / "train-labels-idx1-ubyte.gz", np.array([0, 1, 0, 1]))
    return root


def _split_folders(root: Path) -> Path:
    make_imagefolder(root / "train", {"a": 2, "b": 2}, seed=1)
    make_imagefolder(root / "val", {"a": 1, "b": 1}, seed=2)
    return root


def _csv_folder(root: Path) -> Path:
    noise_image(root / "a.png", seed=1)
    noise_image(root / "b.png", seed=2)
    (root / "labels.csv").write_text("path,label\na.png,x\nb.png,y\n")
    return root


@pytest.mark.parametrize(
    ("layout", "build"),
    [
        ("idx", _idx),
        ("split-folders", _split_folders),
        ("csv", _csv_folder),
        ("csv", lambda root: _csv_folder(root) / "labels.csv"),  # the CSV file itself
        ("imagefolder", lambda root: make_imagefolder(root, {"a": 2, "b": 2})),
    ],
)
def test_each_classification_layout_is_still_detected(
    tmp_path: Path, layout: str, build: Callable[[Path], Path]
) -> None:
    path = build(tmp_path / "ds")
    assert find_format(path, task="classify") is get_format(layout)
    assert ingest(path, extract_root=tmp_path / "x").layout == layout


@pytest.mark.parametrize(
    ("layout", "marker"),
    [
        ("coco", "annotations/instances_train.json"),
        ("coco", "images/"),  # with labels.json beside images/
        ("yolo", "data.yaml"),
        ("voc", "Annotations/0001.xml"),
    ],
)
def test_each_detection_layout_is_still_detected(tmp_path: Path, layout: str, marker: str) -> None:
    root = tmp_path / "ds"
    if marker.endswith("/"):
        (root / marker).mkdir(parents=True)
        (root / "labels.json").write_text("{}")
    else:
        (root / marker).parent.mkdir(parents=True, exist_ok=True)
        (root / marker).write_text("")
    assert detect_layout(root) == layout
    assert find_format(root, task="detect") is get_format(layout)
    assert find_format(root, task="classify") is not get_format(layout)


def test_a_real_detection_dataset_reads_through_the_registry(tmp_path: Path) -> None:
    from imgrec.data.detection import write_shapes_detection

    src = write_shapes_detection(tmp_path / "outer" / "coco", n=6, img_size=32, seed=0)
    ds = read_detection(tmp_path / "outer", work_dir=tmp_path / "w")  # one wrapper folder
    assert ds.layout == "coco" and len(ds.images) == 6 and ds.source == tmp_path / "outer"
    assert detect_layout(src) == "coco" and detect_layout(src / "missing") is None


def test_unknown_layouts_list_the_known_formats(tmp_path: Path) -> None:
    other = tmp_path / "data.parquet"
    other.write_bytes(b"PAR1")
    with pytest.raises(DatasetError, match=r"not a folder, a \.zip or a \.csv") as e:
        ingest(other, extract_root=tmp_path / "x")
    for name in CLASSIFY:
        assert f"{name} (" in str(e.value)
    (tmp_path / "empty").mkdir()
    with pytest.raises(DatasetError, match="no detection dataset found; known formats") as e:
        read_detection(tmp_path / "empty", work_dir=tmp_path / "w")
    for name in DETECT:
        assert f"{name} (" in str(e.value)
