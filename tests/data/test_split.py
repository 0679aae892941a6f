"""Deterministic stratified splits."""

from __future__ import annotations

import hashlib
import random
from collections import Counter
from pathlib import Path

import pytest

from imgrec.data import split as split_module
from imgrec.data.manifest import Manifest, Sample, Split
from imgrec.data.split import assign_splits
from imgrec.errors import ConfigError, DatasetError

ROOT = Path("/data/ds")


def make_manifest(
    counts: dict[str, int], *, split: Split | None = None, root: Path = ROOT
) -> Manifest:
    classes = sorted(counts)
    samples = [
        Sample(
            path=root / name / f"{i}.png",
            label=classes.index(name),
            split=split,
            sha256=hashlib.sha256(f"{name}/{i}".encode()).hexdigest(),
            width=8,
            height=8,
            mode="RGB",
        )
        for name in classes
        for i in range(counts[name])
    ]
    return Manifest(root=root, source=root, layout="imagefolder", classes=classes, samples=samples)


def assignment(m: Manifest) -> dict[str, Split | None]:
    return {s.path.relative_to(m.root).as_posix(): s.split for s in m.samples}


def test_unsplit_is_stratified_and_complete() -> None:
    m = make_manifest({"a": 20, "b": 40})
    out = assign_splits(m)
    assert out is not m and all(s.split is None for s in m.samples)  # input untouched
    assert out.has_split
    assert out.counts() == {
        "train": {"a": 14, "b": 28},
        "val": {"a": 3, "b": 6},
        "test": {"a": 3, "b": 6},
    }
    assert [s.path for s in out.samples] == [s.path for s in m.samples]
    assert any(n.startswith("split: carved") for n in out.notes)


def test_deterministic_independent_of_order_and_location() -> None:
    m = make_manifest({"a": 30, "b": 30})
    shuffled = list(m.samples)
    random.Random(1).shuffle(shuffled)
    other_order = Manifest(
        root=m.root, source=m.source, layout=m.layout, classes=m.classes, samples=shuffled
    )
    moved = make_manifest({"a": 30, "b": 30}, root=Path("/elsewhere/copy"))
    first = assignment(assign_splits(m, seed=3))
    assert assignment(assign_splits(other_order, seed=3)) == first
    assert assignment(assign_splits(moved, seed=3)) == first
    assert assignment(assign_splits(m, seed=4)) != first


def test_adding_a_class_does_not_reshuffle_others() -> None:
    base = assignment(assign_splits(make_manifest({"a": 30, "c": 30})))
    more = assignment(assign_splits(make_manifest({"a": 30, "b": 10, "c": 30})))
    assert {k: v for k, v in more.items() if not k.startswith("b/")} == base


def test_complete_splits_are_kept() -> None:
    m = make_manifest({"a": 3, "b": 3}, split="train")
    m.samples[0:2] = [_with(m.samples[0], "val"), _with(m.samples[1], "test")]
    m.samples[3:5] = [_with(m.samples[3], "val"), _with(m.samples[4], "test")]
    assert assignment(assign_splits(m)) == assignment(m)


def test_train_test_gets_val_carved_from_train_only() -> None:
    m = make_manifest({"a": 20, "b": 20}, split="train")
    m.samples[:4] = [_with(s, "test") for s in m.samples[:4]]
    out = assign_splits(m, val_fraction=0.25)
    before, after = assignment(m), assignment(out)
    assert {k for k, v in after.items() if v == "test"} == {
        k for k, v in before.items() if v == "test"
    }
    assert Counter(after.values()) == {"train": 27, "val": 9, "test": 4}
    assert out.counts()["val"] == {"a": 4, "b": 5}


def test_train_val_gets_test_carved() -> None:
    m = make_manifest({"a": 10, "b": 10}, split="train")
    m.samples[:2] = [_with(s, "val") for s in m.samples[:2]]
    out = assign_splits(m, test_fraction=0.2)
    assert out.counts()["test"] == {"a": 2, "b": 2}
    assert out.counts()["val"] == {"a": 2}


def test_tiny_class_stays_in_train_with_a_note() -> None:
    out = assign_splits(make_manifest({"big": 20, "tiny": 2}))
    assert out.counts()["train"]["tiny"] == 2
    assert "tiny" not in out.counts()["val"] and "tiny" not in out.counts()["test"]
    assert any("class 'tiny' has 2 image(s)" in n for n in out.notes)


def test_every_class_too_small_is_an_error() -> None:
    with pytest.raises(DatasetError, match="split would be empty"):
        assign_splits(make_manifest({"a": 2, "b": 1}))


def test_no_training_images_is_an_error() -> None:
    with pytest.raises(DatasetError, match="no training images"):
        assign_splits(make_manifest({"a": 4, "b": 4}, split="test"))
    with pytest.raises(DatasetError, match="no images"):
        assign_splits(make_manifest({}))


@pytest.mark.parametrize(
    "kwargs",
    [
        {"val_fraction": -0.1},
        {"test_fraction": 1.0},
        {"val_fraction": 0.5, "test_fraction": 0.5},
        {"seed": -1},
    ],
)
def test_bad_arguments(kwargs: dict[str, float]) -> None:
    with pytest.raises(ConfigError):
        assign_splits(make_manifest({"a": 10, "b": 10}), **kwargs)  # type: ignore[arg-type]


def test_zero_fraction_carves_nothing() -> None:
    out = assign_splits(make_manifest({"a": 10, "b": 10}), test_fraction=0.0)
    assert set(out.counts()) == {"train", "val"}


def test_public_names() -> None:
    assert set(split_module.__all__) <= set(dir(split_module))


def _with(sample: Sample, split: Split) -> Sample:
    from dataclasses import replace

    return replace(sample, split=split)
