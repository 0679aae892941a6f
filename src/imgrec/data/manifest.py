"""The manifest: every sample of a dataset with its label, split and content hash.

``imgrec.data.ingest`` turns a folder, zip, CSV or IDX set into a :class:`Manifest`; everything
downstream (validation report, splits, decoded cache, training) reads only the manifest.
"""

from __future__ import annotations

import hashlib
import json
from collections import Counter
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Literal

__all__ = ["SPLITS", "Layout", "Manifest", "Sample", "SkippedFile", "Split"]

Split = Literal["train", "val", "test"]
SPLITS: tuple[Split, ...] = ("train", "val", "test")
# The name of the format reader that read the dataset (imgrec.data.formats); the built-in
# classification ones are "imagefolder", "split-folders", "csv" and "idx". A str, not a Literal,
# so a registered reader can name its own layout.
Layout = str


@dataclass(frozen=True)
class Sample:
    """One usable image.

    Attributes:
        path: Absolute path of the image file (inside the extracted copy for zips).
        label: Index into ``Manifest.classes``.
        split: ``"train"``, ``"val"`` or ``"test"``; ``None`` until split (see ``data.split``).
        sha256: Hex digest of the file's bytes (duplicate detection, fingerprints).
        width: Width in pixels as decoded (after EXIF orientation).
        height: Height in pixels as decoded.
        mode: Pillow mode of the file before normalisation to RGB (``"L"``, ``"RGBA"``, ...).
    """

    path: Path
    label: int
    split: Split | None
    sha256: str
    width: int
    height: int
    mode: str


@dataclass(frozen=True)
class SkippedFile:
    """A file that was not used, with the reason in words a user understands."""

    path: Path
    reason: str


@dataclass
class Manifest:
    """A dataset as imgrec sees it.

    Attributes:
        root: The folder the samples live in (the user's folder, or the extraction of a zip).
        source: What the user gave (folder, zip or CSV path), for messages and the model card.
        layout: The detected layout.
        classes: Class names; a sample's ``label`` indexes this list. Sorted unless the source
            defines an order (IDX files).
        samples: Usable images.
        skipped: Files that were ignored, each with its reason.
        notes: Human-readable remarks made while reading (e.g. "split folder 'valid' read as val").
    """

    root: Path
    source: Path
    layout: Layout
    classes: list[str]
    samples: list[Sample]
    skipped: list[SkippedFile] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)

    @property
    def num_classes(self) -> int:
        return len(self.classes)

    @property
    def has_split(self) -> bool:
        """True when every sample already carries a split (split folders, CSV split column)."""
        return bool(self.samples) and all(s.split is not None for s in self.samples)

    def by_split(self, split: Split) -> list[Sample]:
        return [s for s in self.samples if s.split == split]

    def counts(self) -> dict[str, dict[str, int]]:
        """Images per split per class name: ``{"train": {"cat": 10, ...}, ...}``."""
        out: dict[str, dict[str, int]] = {}
        counter = Counter((s.split or "unsplit", s.label) for s in self.samples)
        for (split, label), n in sorted(counter.items()):
            out.setdefault(split, {})[self.classes[label]] = n
        return out

    def fingerprint(self) -> str:
        """A short hash of the classes and of every (hash, label, split): same data, same print."""
        digest = hashlib.sha256(json.dumps(self.classes).encode())
        for s in sorted(self.samples, key=lambda s: (s.sha256, s.label, s.split or "")):
            digest.update(f"{s.sha256}:{s.label}:{s.split}\n".encode())
        return digest.hexdigest()[:16]

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready summary (samples listed with paths relative to ``root``)."""
        return {
            "root": str(self.root),
            "source": str(self.source),
            "layout": self.layout,
            "classes": list(self.classes),
            "fingerprint": self.fingerprint(),
            "samples": [{**asdict(s), "path": _relative(s.path, self.root)} for s in self.samples],
            "skipped": [
                {"path": _relative(k.path, self.root), "reason": k.reason} for k in self.skipped
            ],
            "notes": list(self.notes),
        }


def _relative(path: Path, root: Path) -> str:
    try:
        return str(path.relative_to(root))
    except ValueError:
        return str(path)
