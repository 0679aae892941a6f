"""The validation report: counts, statistics, errors, warnings and rendering."""

from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path

from imgrec.data import validate as validate_module
from imgrec.data.manifest import Manifest, Sample, SkippedFile, Split
from imgrec.data.validate import check_dataset

ROOT = Path("/data/ds")


def sample(
    cls: int,
    i: int,
    split: Split | None = "train",
    *,
    sha: str | None = None,
    size: tuple[int, int] = (32, 24),
    mode: str = "RGB",
) -> Sample:
    return Sample(
        path=ROOT / f"c{cls}" / f"{i}.png",
        label=cls,
        split=split,
        sha256=sha or f"{cls:04d}{i:060d}",
        width=size[0],
        height=size[1],
        mode=mode,
    )


def manifest(samples: list[Sample], classes: list[str] | None = None, **kw: object) -> Manifest:
    return Manifest(
        root=ROOT,
        source=ROOT,
        layout="imagefolder",
        classes=classes or ["cat", "dog"],
        samples=samples,
        **kw,
    )  # type: ignore[arg-type]


def balanced() -> list[Sample]:
    splits: list[Split] = ["train", "train", "train", "val", "test"]
    return [sample(c, i, splits[i % 5]) for c in (0, 1) for i in range(10)]


def test_clean_dataset_is_usable() -> None:
    samples = balanced()
    samples[0] = replace(samples[0], width=100, height=50, mode="L")
    report = check_dataset(manifest(samples, notes=["layout: image folder (2 class folders)"]))
    assert report.usable and report.errors == [] and report.warnings == []
    assert report.images_per_class == {"cat": 10, "dog": 10}
    assert report.images_per_split["val"] == {"cat": 2, "dog": 2}
    assert report.imbalance_ratio == 1.0
    assert report.size_stats == {
        "width": {"min": 32, "median": 32, "max": 100},
        "height": {"min": 24, "median": 24, "max": 50},
    }
    assert report.mode_counts == {"RGB": 19, "L": 1}
    data = json.loads(json.dumps(report.to_dict()))
    assert data["usable"] is True and data["num_images"] == 20
    text = report.render_text()
    assert "usable:  yes" in text and "layout: image folder" in text
    assert "  cat         6       2       2      10" in text.splitlines()


def test_no_images_and_one_class_are_errors() -> None:
    empty = check_dataset(manifest([], skipped=[SkippedFile(ROOT / "x.jpg", "zero bytes")]))
    assert not empty.usable
    assert empty.errors == ["no usable images found (1 files skipped, see the list)"]
    one = check_dataset(manifest([sample(0, i) for i in range(5)], classes=["cat"]))
    assert not one.usable and "only one class ('cat')" in one.errors[0]


def test_empty_split_is_an_error() -> None:
    samples = [s for s in balanced() if s.split != "val"]
    report = check_dataset(manifest(samples))
    assert report.errors == ["the val split is empty: add images or let imgrec carve it"]


def test_unsplit_manifest_has_no_split_errors() -> None:
    samples = [replace(s, split=None) for s in balanced()]
    report = check_dataset(manifest(samples))
    assert report.usable and set(report.images_per_split) == {"unsplit"}


def test_duplicates_within_and_across_splits() -> None:
    samples = balanced()
    same = "f" * 64
    samples[0] = replace(samples[0], sha256=same)  # cat train
    samples[1] = replace(samples[1], sha256=same)  # cat train
    samples[4] = replace(samples[4], sha256=same)  # cat test
    samples[10] = replace(samples[10], sha256="e" * 64)  # dog train
    samples[11] = replace(samples[11], sha256="e" * 64)  # dog train
    report = check_dataset(manifest(samples))
    assert [g.paths for g in report.duplicates_across_splits] == [
        ["c0/0.png", "c0/1.png", "c0/4.png"]
    ]
    assert sorted(g.paths for g in report.duplicates_within_split) == [
        ["c0/0.png", "c0/1.png"],
        ["c1/0.png", "c1/1.png"],
    ]
    assert report.usable
    assert any("more than one split (leakage" in w for w in report.warnings)
    assert any("2 duplicate file(s) within a split" in w for w in report.warnings)
    assert "across splits: c0/0.png = c0/1.png = c0/4.png" in report.render_text()


def test_conflicting_labels_are_flagged() -> None:
    samples = balanced()
    samples[0] = replace(samples[0], sha256="a" * 64)
    samples[10] = replace(samples[10], sha256="a" * 64)
    report = check_dataset(manifest(samples))
    assert any("carry different labels" in w for w in report.warnings)


def test_tiny_classes_imbalance_and_tiny_images_warn() -> None:
    samples = [sample(0, i, None) for i in range(30)] + [sample(1, i, None) for i in range(2)]
    samples[0] = replace(samples[0], width=8)
    report = check_dataset(manifest(samples))
    assert report.usable and report.tiny_classes == ["dog"]
    assert report.imbalance_ratio == 15.0
    text = "\n".join(report.warnings)
    assert "fewer than 3 images, too few to split: dog" in text
    assert "class imbalance 15.0:1 ('cat' 30 images, 'dog' 2)" in text
    assert "1 image(s) smaller than 16 px on a side (e.g. c0/0.png)" in text


def test_render_text_stays_short() -> None:
    classes = [f"class_{i:02d}" for i in range(30)]
    samples = [sample(c, i, None) for c in range(30) for i in range(3)]
    skipped = [SkippedFile(ROOT / f"bad{i}.jpg", "truncated") for i in range(50)]
    notes = [f"note {i}" for i in range(20)]
    samples[:5] = [replace(s, sha256="d" * 64) for s in samples[:5]]
    report = check_dataset(manifest(samples, classes=classes, skipped=skipped, notes=notes))
    lines = report.render_text().splitlines()
    assert "  within unsplit: c0/0.png = c0/1.png = c0/2.png (+2 more)" in lines
    assert len(lines) <= 40
    assert "  ... and 20 more classes" in lines
    assert "  ... and 45 more" in lines and "  ... and 15 more" in lines
    assert "  bad0.jpg: truncated" in lines


def test_public_names() -> None:
    assert set(validate_module.__all__) <= set(dir(validate_module))
