"""What every segmentation reader does with its (image, mask) pairs.

:func:`scan_pairs` decodes each image completely (truncation shows) and each mask, checks their
sizes agree and counts the mask's values; :func:`finish` applies the class table a reader settled
(classes, palette, ignore rules) to those counts: pixels per class, values and colours outside
the table, empty masks. Every problem names its file and says whether the image was kept.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

from imgrec.data.images import probe_image
from imgrec.data.manifest import Split
from imgrec.data.segmentation.masks import colour_table, decode_mask, value_counts
from imgrec.data.segmentation.model import (
    MaskEncoding,
    SegmentationDataset,
    SegmentationImage,
    SegmentationProblem,
)
from imgrec.errors import DatasetError

__all__ = ["Pair", "Scanned", "finish", "rel_key", "scan_pairs", "shown_colour", "union_values"]

_LOSSY = frozenset({".jpg", ".jpeg", ".webp"})
_LISTED = 5  # values or colours named in one problem before "and N more"


@dataclass(frozen=True)
class Pair:
    """An image and its mask as a layout pairs them (neither missing by now)."""

    image: Path
    mask: Path
    split: Split | None


@dataclass(frozen=True)
class Scanned:
    """A pair whose image and mask decode and agree in size.

    ``counts``: pixels per value (index masks) or per colour key (RGB masks, :func:`colour_key`).
    """

    pair: Pair
    width: int
    height: int
    rgb: bool
    counts: dict[int, int]

    @property
    def grey(self) -> bool:
        """An RGB mask whose three channels are equal everywhere (it holds index values)."""
        return self.rgb and all(k == (k & 0xFF) * 0x010101 for k in self.counts)

    def index_counts(self) -> dict[int, int]:
        """The counts as index values (an RGB mask's grey level is its value)."""
        return {k & 0xFF: n for k, n in self.counts.items()} if self.rgb else dict(self.counts)


def rel_key(path: Path, root: Path) -> str:
    """``path`` relative to ``root``, ``/``-separated (the whole path when outside it)."""
    try:
        return path.relative_to(root).as_posix()
    except ValueError:
        return path.as_posix()


def _reason(exc: DatasetError, path: Path) -> str:
    text = str(exc)
    return text.removeprefix(f"{path}: ")


def _scan_one(pair: Pair, root: Path) -> tuple[Scanned | None, list[SegmentationProblem]]:
    image, mask = rel_key(pair.image, root), rel_key(pair.mask, root)
    problems: list[SegmentationProblem] = []
    try:
        info = probe_image(pair.image)
    except DatasetError as exc:
        why = f"image unreadable: {_reason(exc, pair.image)}"
        advice = "replace the file with a readable copy, or remove it and its mask"
        return None, [SegmentationProblem(image, None, "unreadable-image", why, "excluded", advice)]
    try:
        values = decode_mask(pair.mask)
    except DatasetError as exc:
        why = f"mask unreadable: {_reason(exc, pair.mask)} (image {image})"
        advice = "export the mask again as a PNG"
        return None, [SegmentationProblem(mask, None, "unreadable-mask", why, "excluded", advice)]
    height, width = values.shape[:2]
    if (width, height) != (info.width, info.height):
        why = f"mask is {width}x{height} but its image {image} is {info.width}x{info.height}"
        if (width, height) == (info.height, info.width):
            why += " as displayed (the image has an EXIF rotation the mask does not follow)"
        advice = "export the mask at the image's size (masks are never resized)"
        return None, [SegmentationProblem(mask, None, "size-mismatch", why, "excluded", advice)]
    if pair.mask.suffix.lower() in _LOSSY:
        why = f"mask is a {pair.mask.suffix} file: lossy compression alters values at edges"
        advice = "save masks as PNG; values outside the table are read as ignore"
        problems.append(SegmentationProblem(mask, None, "lossy-mask", why, "kept", advice))
    scanned = Scanned(pair, width, height, values.ndim == 3, value_counts(values))
    return scanned, problems


def scan_pairs(
    pairs: Sequence[Pair], root: Path, problems: list[SegmentationProblem]
) -> list[Scanned]:
    """Decode every pair (a few threads: decoding releases the GIL); problems in pair order."""
    workers = max(1, min(8, os.cpu_count() or 1, len(pairs)))
    with ThreadPoolExecutor(max_workers=workers) as pool:
        results = list(pool.map(lambda p: _scan_one(p, root), pairs))
    scanned = []
    for found, found_problems in results:
        problems += found_problems
        if found is not None:
            scanned.append(found)
    return scanned


def shown_colour(key: int) -> str:
    return f"({key >> 16 & 0xFF}, {key >> 8 & 0xFF}, {key & 0xFF})"


def _named(pair: Pair, root: Path) -> str:
    """The mask's name for problems: under the root, else (a derived mask) its image's."""
    inside = rel_key(pair.mask, root)
    return inside if not Path(inside).is_absolute() else rel_key(pair.image, root)


def _listed(items: list[tuple[str, int]]) -> str:
    text = ", ".join(f"{what} ({n} pixels)" for what, n in items[:_LISTED])
    return text + (f" and {len(items) - _LISTED} more" if len(items) > _LISTED else "")


def _pixels(
    s: Scanned, ds: SegmentationDataset, encoding: MaskEncoding
) -> tuple[list[int], int, list[tuple[str, int]]]:
    """Pixels per class, ignored pixels, and the values/colours outside the table."""
    per = [0] * len(ds.classes)
    ignored = 0
    unknown: list[tuple[str, int]] = []
    if encoding == "colour":
        keys, classes = colour_table(ds)
        table = dict(zip(keys.tolist(), classes.tolist(), strict=True))
        for key, n in s.counts.items():
            cls = table.get(key)
            if cls is None:
                unknown.append((shown_colour(key), n))
                ignored += n
            elif cls == ds.ignore_index:
                ignored += n
            else:
                per[cls] += n
        return per, ignored, unknown
    for value, n in s.index_counts().items():
        if value < len(ds.classes):
            per[value] += n
        elif ds.binary_255 and value == 255:
            per[1] += n
        elif value == ds.ignore_index:
            ignored += n
        else:
            unknown.append((str(value), n))
            ignored += n
    return per, ignored, unknown


def finish(
    scanned: Sequence[Scanned],
    ds: SegmentationDataset,
    *,
    root: Path,
    table: str,
    background: int | None,
    encodings: Sequence[MaskEncoding],
) -> list[SegmentationImage]:
    """Count each mask's pixels by ``ds``'s table; report what is outside it and empty masks.

    Args:
        scanned: The decoded pairs.
        ds: The dataset being built: its classes, palette, ignore rules; problems go into it.
        root: Paths in problems are relative to it.
        table: Where the classes come from, for messages (``"classes.txt"``, ``"the VOC
            classes"``).
        background: The background class (an empty mask shows nothing else), or ``None``.
        encodings: How each scanned mask is read.
    """
    images = []
    for s, encoding in zip(scanned, encodings, strict=True):
        per, ignored, unknown = _pixels(s, ds, encoding)
        mask = _named(s.pair, root)
        if unknown:
            what = "colours" if encoding == "colour" else "values"
            why = (
                f"mask {what} {_listed(unknown)} are not classes of {table}; "
                f"read as ignore ({ds.ignore_index})"
            )
            advice = f"fix the mask, or add the class to {table}"
            ds.problems.append(
                SegmentationProblem(mask, None, "unknown-class", why, "kept", advice)
            )
        if not any(n for i, n in enumerate(per) if i != background):
            shown = "background or ignore" if background is not None else "ignore"
            why = f"mask is empty: every pixel is {shown}"
            advice = "check the mask was exported; an empty mask only teaches background"
            ds.problems.append(SegmentationProblem(mask, None, "empty-mask", why, "kept", advice))
        images.append(
            SegmentationImage(
                path=s.pair.image,
                mask_path=s.pair.mask,
                key=rel_key(s.pair.image, root),
                width=s.width,
                height=s.height,
                split=s.pair.split,
                encoding=encoding,
                pixels=tuple(per),
                ignored=ignored,
            )
        )
    return images


def union_values(scanned: Sequence[Scanned]) -> dict[int, int]:
    """Pixels per index value over every index-read mask."""
    total: dict[int, int] = {}
    for s in scanned:
        for v, n in s.index_counts().items():
            total[v] = total.get(v, 0) + n
    return total
