"""The validation report: what is in a dataset, what was skipped, and what will hurt training.

:func:`check_dataset` reads only the manifest (no file is opened again). Errors make the dataset
unusable (no images, one class, an empty split); warnings are worth a look (skipped files,
duplicates, leakage across splits, tiny classes, imbalance, tiny images). Call it on the manifest
returned by :func:`imgrec.data.split.assign_splits` so the split checks mean something.
"""

from __future__ import annotations

import statistics
from collections import Counter, defaultdict
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from imgrec.data.manifest import SPLITS, Manifest, Sample, SkippedFile
from imgrec.data.split import relative_posix

__all__ = [
    "IMBALANCE_WARN_RATIO",
    "MIN_CLASS_IMAGES",
    "TINY_IMAGE_PX",
    "DataReport",
    "DuplicateGroup",
    "check_dataset",
]

MIN_CLASS_IMAGES = 3  # one image each in train, val and test
IMBALANCE_WARN_RATIO = 10.0
TINY_IMAGE_PX = 16
_MAX_ROWS = {"classes": 10, "skipped": 5, "duplicates": 3, "notes": 5}


@dataclass(frozen=True)
class DuplicateGroup:
    """Files with identical bytes (same sha256), paths relative to the dataset root."""

    sha256: str
    paths: list[str]
    splits: list[str]
    classes: list[str]


@dataclass
class DataReport:
    """Everything :func:`check_dataset` found. ``usable`` is True when there are no errors."""

    source: str
    root: str
    layout: str
    classes: list[str]
    images_per_class: dict[str, int]
    images_per_split: dict[str, dict[str, int]]
    skipped: list[SkippedFile]
    duplicates_within_split: list[DuplicateGroup]
    duplicates_across_splits: list[DuplicateGroup]
    tiny_classes: list[str]
    imbalance_ratio: float | None
    size_stats: dict[str, dict[str, float]]
    mode_counts: dict[str, int]
    tiny_images: list[str]
    notes: list[str] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)

    @property
    def usable(self) -> bool:
        return not self.errors

    @property
    def num_images(self) -> int:
        return sum(self.images_per_class.values())

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready dict (paths as strings)."""
        out = asdict(self)
        out["skipped"] = [{"path": str(k.path), "reason": k.reason} for k in self.skipped]
        out["usable"] = self.usable
        out["num_images"] = self.num_images
        return out

    def render_text(self) -> str:
        """A short aligned plain-text summary (about 40 lines at most)."""
        lines = [
            f"dataset: {self.source}",
            f"layout:  {self.layout}    root: {self.root}",
            f"classes: {len(self.classes)}    images: {self.num_images}    "
            f"skipped: {len(self.skipped)}",
        ]
        lines += self._class_table()
        if self.size_stats:
            w, h = self.size_stats["width"], self.size_stats["height"]
            lines.append(
                f"sizes:   width {w['min']:g}-{w['max']:g} (median {w['median']:g}), "
                f"height {h['min']:g}-{h['max']:g} (median {h['median']:g})"
            )
        if self.mode_counts:
            modes = ", ".join(f"{m} {n}" for m, n in self.mode_counts.items())
            lines.append(f"modes:   {modes}")
        if self.skipped:
            lines.append(f"skipped files ({len(self.skipped)}):")
            lines += _capped(
                [f"  {relative_posix(k.path, Path(self.root))}: {k.reason}" for k in self.skipped],
                _MAX_ROWS["skipped"],
            )
        dups = [("across splits", g) for g in self.duplicates_across_splits]
        dups += [("within " + g.splits[0], g) for g in self.duplicates_within_split]
        if dups:
            lines.append(
                f"duplicates: {len(self.duplicates_within_split)} group(s) within a split, "
                f"{len(self.duplicates_across_splits)} across splits"
            )
            lines += _capped(
                [f"  {where}: {_join_paths(g.paths)}" for where, g in dups], _MAX_ROWS["duplicates"]
            )
        if self.notes:
            lines.append("notes:")
            lines += _capped([f"  {n}" for n in self.notes], _MAX_ROWS["notes"])
        lines += [f"ERROR:   {e}" for e in self.errors]
        lines += [f"warning: {w}" for w in self.warnings]
        lines.append("usable:  " + ("yes" if self.usable else "no (fix the errors above)"))
        return "\n".join(lines)

    def _class_table(self) -> list[str]:
        if not self.classes:
            return []
        splits = [s for s in (*SPLITS, "unsplit") if s in self.images_per_split]
        width = min(24, max(5, *(len(c) for c in self.classes)))
        head = f"  {'class':<{width}}" + "".join(f"{s:>8}" for s in splits) + f"{'total':>8}"
        rows = [
            f"  {_clip(c, width):<{width}}"
            + "".join(f"{self.images_per_split[s].get(c, 0):>8}" for s in splits)
            + f"{self.images_per_class.get(c, 0):>8}"
            for c in self.classes
        ]
        return [head, *_capped(rows, _MAX_ROWS["classes"], what="classes")]


def check_dataset(manifest: Manifest) -> DataReport:
    """Summarise ``manifest`` and list what makes it unusable (errors) or suspect (warnings)."""
    samples = manifest.samples
    per_class = Counter(manifest.classes[s.label] for s in samples)
    images_per_class = {c: per_class.get(c, 0) for c in manifest.classes}
    present = [n for n in images_per_class.values() if n > 0]
    within, across = _duplicates(manifest)
    report = DataReport(
        source=str(manifest.source),
        root=str(manifest.root),
        layout=manifest.layout,
        classes=list(manifest.classes),
        images_per_class=images_per_class,
        images_per_split=manifest.counts(),
        skipped=list(manifest.skipped),
        duplicates_within_split=within,
        duplicates_across_splits=across,
        tiny_classes=[c for c, n in images_per_class.items() if n < MIN_CLASS_IMAGES],
        imbalance_ratio=max(present) / min(present) if present else None,
        size_stats=_size_stats(samples),
        mode_counts=dict(Counter(s.mode for s in samples).most_common()),
        tiny_images=[
            relative_posix(s.path, manifest.root)
            for s in samples
            if min(s.width, s.height) < TINY_IMAGE_PX
        ],
        notes=list(manifest.notes),
    )
    report.errors = _errors(manifest, report)
    report.warnings = _warnings(report)
    return report


def _errors(manifest: Manifest, report: DataReport) -> list[str]:
    if not manifest.samples:
        skipped = f" ({len(report.skipped)} files skipped, see the list)" if report.skipped else ""
        return [f"no usable images found{skipped}"]
    errors = []
    nonempty = [c for c, n in report.images_per_class.items() if n]
    if len(nonempty) == 1:
        errors.append(
            f"only one class ('{nonempty[0]}'): classification needs at least two classes "
            "(one folder or label per class)"
        )
    if manifest.has_split:
        for split in SPLITS:
            if not manifest.by_split(split):
                errors.append(f"the {split} split is empty: add images or let imgrec carve it")
    return errors


def _warnings(report: DataReport) -> list[str]:
    warns = []
    if report.skipped:
        warns.append(f"{len(report.skipped)} file(s) skipped (see the list for reasons)")
    if report.duplicates_across_splits:
        warns.append(
            f"{len(report.duplicates_across_splits)} image(s) appear in more than one split "
            "(leakage: evaluation scores will look better than they are); remove the copies"
        )
    if report.duplicates_within_split:
        extra = sum(len(g.paths) - 1 for g in report.duplicates_within_split)
        warns.append(f"{extra} duplicate file(s) within a split (identical bytes)")
    conflicting = [
        g
        for g in report.duplicates_within_split + report.duplicates_across_splits
        if len(set(g.classes)) > 1
    ]
    if conflicting:
        warns.append(f"{len(conflicting)} identical image group(s) carry different labels")
    if report.tiny_classes:
        warns.append(
            f"class(es) with fewer than {MIN_CLASS_IMAGES} images, too few to split: "
            + ", ".join(report.tiny_classes)
        )
    ratio = report.imbalance_ratio
    if ratio is not None and ratio > IMBALANCE_WARN_RATIO:
        counts = {c: n for c, n in report.images_per_class.items() if n}
        big, small = max(counts, key=counts.__getitem__), min(counts, key=counts.__getitem__)
        warns.append(
            f"class imbalance {ratio:.1f}:1 ('{big}' {counts[big]} images, "
            f"'{small}' {counts[small]}); consider class weights or more images"
        )
    if report.tiny_images:
        warns.append(
            f"{len(report.tiny_images)} image(s) smaller than {TINY_IMAGE_PX} px on a side "
            f"(e.g. {report.tiny_images[0]})"
        )
    return warns


def _duplicates(manifest: Manifest) -> tuple[list[DuplicateGroup], list[DuplicateGroup]]:
    """(groups of identical files inside one split, groups spanning several splits)."""
    by_hash: dict[str, list[Sample]] = defaultdict(list)
    for s in manifest.samples:
        if s.sha256:
            by_hash[s.sha256].append(s)
    within: list[DuplicateGroup] = []
    across: list[DuplicateGroup] = []
    for sha, group in sorted(by_hash.items()):
        if len(group) < 2:
            continue
        by_split: dict[str, list[Sample]] = defaultdict(list)
        for s in group:
            by_split[s.split or "unsplit"].append(s)
        if len(by_split) > 1:
            across.append(_group(manifest, sha, group))
        within += [_group(manifest, sha, g) for g in by_split.values() if len(g) > 1]
    return within, across


def _group(manifest: Manifest, sha: str, group: list[Sample]) -> DuplicateGroup:
    return DuplicateGroup(
        sha256=sha,
        paths=[relative_posix(s.path, manifest.root) for s in group],
        splits=[s.split or "unsplit" for s in group],
        classes=[manifest.classes[s.label] for s in group],
    )


def _size_stats(samples: list[Sample]) -> dict[str, dict[str, float]]:
    if not samples:
        return {}
    out = {}
    for name, values in (
        ("width", [s.width for s in samples]),
        ("height", [s.height for s in samples]),
    ):
        out[name] = {"min": min(values), "median": statistics.median(values), "max": max(values)}
    return out


def _join_paths(paths: list[str], limit: int = 3) -> str:
    more = f" (+{len(paths) - limit} more)" if len(paths) > limit else ""
    return " = ".join(paths[:limit]) + more


def _clip(text: str, width: int) -> str:
    return text if len(text) <= width else text[: width - 1] + "~"


def _capped(rows: list[str], limit: int, *, what: str = "more") -> list[str]:
    if len(rows) <= limit:
        return rows
    more = "more" if what == "more" else f"more {what}"
    return [*rows[:limit], f"  ... and {len(rows) - limit} {more}"]
