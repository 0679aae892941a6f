"""What a classification format reader hands to :mod:`imgrec.data.ingest` before decoding.

Shared by the readers in :mod:`imgrec.data.formats` and the CSV/TSV parser in
:mod:`imgrec.data.csv_source`; public as ``imgrec.data.formats.Found`` and ``Candidate``.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from imgrec.data.manifest import Layout, SkippedFile, Split

__all__ = ["NOT_IMAGE", "OUTSIDE_CLASS", "SPLIT_ALIASES", "Candidate", "Found"]

SPLIT_ALIASES: dict[str, Split] = {
    "train": "train",
    "val": "val",
    "valid": "val",
    "validation": "val",
    "test": "test",
}
NOT_IMAGE = "not an image file extension"
OUTSIDE_CLASS = "not inside a class folder"


@dataclass(frozen=True)
class Candidate:
    """An image a layout reader wants decoded, with the label and split the layout gives it."""

    path: Path
    label: str
    split: Split | None
    group: str  # the class folder it came from, for notes ("train/cat")


@dataclass
class Found:
    """What a layout reader found before decoding: candidate images, skips, notes."""

    layout: Layout
    root: Path
    candidates: list[Candidate] = field(default_factory=list)
    skipped: list[SkippedFile] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    groups: list[str] = field(default_factory=list)  # every class folder seen, in order
    class_order: list[str] | None = None  # label order the source defines (IDX), else sorted
