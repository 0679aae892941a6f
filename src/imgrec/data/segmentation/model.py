"""The in-memory form of a semantic-segmentation dataset, whatever layout it was read from.

A mask gives every pixel a class index into ``classes`` (index 0 is usually ``"background"``)
or ``ignore_index`` (255 unless told otherwise: a pixel that is neither learned nor scored).
:func:`~imgrec.data.segmentation.masks.load_mask` turns a mask file into that ``(H, W)`` array
by the rules the reader settled (index values, a colour table, 0/255 binary); the per-image
pixel counts here were computed by the same rules while reading.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from imgrec.data.manifest import SPLITS, Split

__all__ = [
    "IGNORE_INDEX",
    "LAYOUTS",
    "MaskEncoding",
    "Outcome",
    "SegmentationDataset",
    "SegmentationImage",
    "SegmentationProblem",
]

IGNORE_INDEX = 255
LAYOUTS: tuple[str, ...] = ("mask-folders", "voc-seg", "coco-seg")
# "index": the mask's values are class indices (L, P, I;16, or an RGB mask whose three channels
# are equal); "colour": an RGB mask whose colours map to classes through the dataset's palette.
MaskEncoding = Literal["index", "colour"]
# kept: the image is used (perhaps with some pixels read as ignore); excluded: the image is not
# used; skipped: a file that belongs to no usable image (a mask without an image, a names file).
Outcome = Literal["kept", "excluded", "skipped"]
_DONE = {"kept": "image kept", "excluded": "image excluded", "skipped": "file skipped"}


@dataclass(frozen=True, eq=False)
class SegmentationImage:
    """One image and its mask.

    Attributes:
        path: The image file.
        mask_path: The mask file (for ``coco-seg`` one imgrec rasterised under its work folder).
        key: The image's path relative to the dataset root (``/``-separated).
        width: Image width in pixels as displayed (after EXIF orientation); the mask's too.
        height: Image height in pixels, likewise.
        split: ``"train"``, ``"val"``, ``"test"`` or ``None`` before splitting.
        encoding: How the mask's values are read (see :data:`MaskEncoding`).
        pixels: Pixels per class index, ``len(classes)`` entries, as :func:`load_mask` reads it.
        ignored: Pixels read as ``ignore_index``.
    """

    path: Path
    mask_path: Path
    key: str
    width: int
    height: int
    split: Split | None = None
    encoding: MaskEncoding = "index"
    pixels: tuple[int, ...] = ()
    ignored: int = 0


@dataclass(frozen=True)
class SegmentationProblem:
    """Something wrong in the user's files, what was done about it and what the user can do.

    Attributes:
        file: The file at fault, relative to the dataset root.
        where: A place inside it (``"line 3"``, ``"annotations[7]"``) or ``None``.
        kind: A stable tag: ``unreadable-image``, ``unreadable-mask``, ``missing-mask``,
            ``orphan-mask``, ``size-mismatch``, ``unknown-class``, ``empty-mask``,
            ``lossy-mask``, ``mixed-masks``, ``ambiguous-name``, ``unlisted``,
            ``listed-missing``, ``annotation``, ``image-entry``, ``file``.
        message: What was wrong.
        outcome: ``kept``, ``excluded`` (the image) or ``skipped`` (the file).
        advice: What to do about it.
    """

    file: str
    where: str | None
    kind: str
    message: str
    outcome: Outcome
    advice: str = ""

    def __str__(self) -> str:
        place = f"{self.file} {self.where}" if self.where else self.file
        text = f"{place}: {self.message} — {_DONE[self.outcome]}"
        return f"{text}; {self.advice}" if self.advice else text


@dataclass
class SegmentationDataset:
    """A segmentation dataset read from ``source`` (a folder or zip) rooted at ``root``.

    Attributes:
        root: The folder the files live in (the user's folder, or the extraction of a zip).
        source: What the user gave, for messages.
        layout: The format reader's name (``"mask-folders"``, ``"voc-seg"``, ``"coco-seg"``...).
        classes: Class names; a mask value ``i`` (after the rules below) is ``classes[i]``.
        images: The usable images.
        palette: Class index -> RGB colour: the colour table of colour masks (it may hold
            ``ignore_index``, e.g. VOC's void colour), also used to draw masks. ``None``: none.
        ignore_index: The value of pixels that are neither learned nor scored.
        binary_255: The masks store the foreground as 255 (a 0/255 set): 255 reads as class 1.
        problems: Everything wrong in the user's files, with the outcome.
        notes: Remarks on how the set was read (binary masks, derived colour table, splits).
        category_ids: COCO category id of each class (``coco-seg``; background is 0).
    """

    root: Path
    source: Path
    layout: str
    classes: list[str]
    images: list[SegmentationImage]
    palette: dict[int, tuple[int, int, int]] | None = None
    ignore_index: int = IGNORE_INDEX
    binary_255: bool = False
    problems: list[SegmentationProblem] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    category_ids: list[int] = field(default_factory=list)

    @property
    def num_classes(self) -> int:
        return len(self.classes)

    def by_split(self, split: Split | None) -> list[SegmentationImage]:
        """The images of ``split`` (``None``: those without a split)."""
        return [img for img in self.images if img.split == split]

    def splits(self) -> list[Split | None]:
        """Splits present, in train/val/test order (``None`` last)."""
        present = {img.split for img in self.images}
        ordered: list[Split | None] = [s for s in SPLITS if s in present]
        return ordered + ([None] if None in present else [])

    def counts(self) -> dict[str, Any]:
        """Per split (``"unsplit"`` for ``None``): images, images showing each class, pixels per
        class and ignored pixels; plus the totals."""
        images: dict[str, int] = {}
        with_class: dict[str, dict[str, int]] = {}
        pixels: dict[str, dict[str, int]] = {}
        ignored: dict[str, int] = {}
        for split in self.splits():
            name = split or "unsplit"
            members = self.by_split(split)
            images[name] = len(members)
            shown = [0] * len(self.classes)
            total = [0] * len(self.classes)
            for img in members:
                for i, n in enumerate(img.pixels):
                    shown[i] += n > 0
                    total[i] += n
            with_class[name] = dict(zip(self.classes, shown, strict=True))
            pixels[name] = dict(zip(self.classes, total, strict=True))
            ignored[name] = sum(img.ignored for img in members)
        return {
            "images": images,
            "images_with_class": with_class,
            "pixels": pixels,
            "ignored_pixels": ignored,
            "total_images": len(self.images),
        }

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready dict of everything read (paths relative to ``root`` where they are)."""
        return {
            "root": str(self.root),
            "source": str(self.source),
            "layout": self.layout,
            "classes": list(self.classes),
            "palette": (
                None if self.palette is None else {str(k): list(v) for k, v in self.palette.items()}
            ),
            "ignore_index": self.ignore_index,
            "binary_255": self.binary_255,
            "category_ids": list(self.category_ids),
            "images": [
                {
                    "key": img.key,
                    "mask": _relative(img.mask_path, self.root),
                    "width": img.width,
                    "height": img.height,
                    "split": img.split,
                    "encoding": img.encoding,
                    "pixels": list(img.pixels),
                    "ignored": img.ignored,
                }
                for img in self.images
            ],
            "problems": [problem_dict(p) for p in self.problems],
            "notes": list(self.notes),
        }


def problem_dict(p: SegmentationProblem) -> dict[str, Any]:
    """A problem as JSON: its fields and the sentence a person reads."""
    return {
        "file": p.file,
        "where": p.where,
        "kind": p.kind,
        "outcome": p.outcome,
        "advice": p.advice,
        "text": str(p),
    }


def _relative(path: Path, root: Path) -> str:
    try:
        return path.relative_to(root).as_posix()
    except ValueError:
        return str(path)
