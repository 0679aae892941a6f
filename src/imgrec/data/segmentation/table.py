"""How the masks of a ``mask-folders`` set become classes: the rules, in the order applied.

1. **Index masks** (``L``, ``P``, 16-bit, or RGB with three equal channels): value ``k`` is class
   ``k``. Names come from ``classes.txt``/``classes.json``; without one the classes are
   ``class_0 .. class_<largest value>``. 255 is ignore; other values beyond the names are read
   as ignore and reported per mask (value and pixel count).
2. **Colour masks** (RGB): with colours in ``classes.json`` each colour is its class, unknown
   colours read as ignore and are reported per mask. Without a colour table, when every mask is
   RGB, every colour found becomes a class named ``#rrggbb`` in colour order (black first, so
   black is class 0); noted, and ``classes.json`` with colours is the fix. Without a colour
   table, colour masks among index masks cannot be read: they are excluded (reported), so one
   stray RGB file does not change how the whole set reads.
3. **0/255 binary masks**: when the values of all index masks together are exactly ``{0, 255}``
   (a foreground/background set stored 0 and 255, both present) and no names file names a
   number of classes other than two, 255 reads as class 1 (``binary_255``), not ignore, and a
   note says so. With a names file of more or fewer than two classes, 255 stays ignore (noted).
4. **"Reduce zero label" sets**: when no index mask holds value 0 anywhere, a note says class 0
   (usually background) has no pixel and the set may number its classes from 1 (mmseg's
   ``reduce_zero_label``: 0 unused or "other"). Nothing is shifted: value ``k`` stays class
   ``k``. Likewise when the values reach exactly ``len(names)`` (ADE20K style, classes from 1):
   noted, those pixels read as ignore and are reported; nothing is shifted.

The background class (what an "empty" mask holds only) is class 0 unless a names file names
class 0 something other than a background name.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from imgrec.data.segmentation.model import MaskEncoding
from imgrec.data.segmentation.names import Names
from imgrec.data.segmentation.scan import Scanned, union_values
from imgrec.errors import DatasetError

__all__ = ["BACKGROUND_NAMES", "Table", "settle_table"]

BACKGROUND_NAMES = frozenset({"background", "_background_", "__background__", "bg", "backdrop"})
_MAX_CLASSES = 255  # class indices 0..254; 255 is ignore


@dataclass(frozen=True)
class Table:
    """What :func:`settle_table` decided for the whole set."""

    classes: list[str]
    palette: dict[int, tuple[int, int, int]] | None
    binary_255: bool
    background: int | None
    encodings: list[MaskEncoding]
    source: str  # "classes.txt", "classes.json", "the values found", "the colours found"
    excluded: tuple[int, ...] = ()  # positions in ``scanned`` of colour masks among index ones


def _rgb(key: int) -> tuple[int, int, int]:
    return (key >> 16 & 0xFF, key >> 8 & 0xFF, key & 0xFF)


def _derived_colours(scanned: Sequence[Scanned], names: Names | None, notes: list[str]) -> Table:
    keys = sorted({k for s in scanned if s.rgb for k in s.counts})
    if len(keys) > _MAX_CLASSES:
        raise DatasetError(
            f"the colour masks hold {len(keys)} colours and no classes.json gives a colour table "
            "(anti-aliased or JPEG masks?); write classes.json as {name: [r, g, b]} or export "
            "index masks"
        )
    classes = ["#{:02x}{:02x}{:02x}".format(*_rgb(k)) for k in keys]
    notes.append(
        f"colour masks without a colour table: the {len(keys)} colours found became classes in "
        f"colour order ({', '.join(classes[:6])}{'...' if len(keys) > 6 else ''}); write "
        "classes.json as {name: [r, g, b]} to name them"
    )
    if names is not None:
        notes.append(f"{names.file} gives no colours, so its names could not be matched to them")
    encodings: list[MaskEncoding] = ["colour" if s.rgb else "index" for s in scanned]
    palette = {i: _rgb(k) for i, k in enumerate(keys)}
    background = 0 if keys and keys[0] == 0 else None
    return Table(classes, palette, False, background, encodings, "the colours found")


def _index_notes(
    values: dict[int, int], classes: list[str], names: Names | None, notes: list[str]
) -> None:
    if values and not values.get(0):
        notes.append(
            f"no mask holds value 0 (class 0, {classes[0]!r}, has no pixel): the set may number "
            "its classes from 1 ('reduce zero label' style). Nothing was shifted: value k is "
            f"class k; if your classes start at 1, give value 0 a name first in "
            f"{names.file if names else 'classes.txt'}"
        )
    top = max((v for v in values if v != 255), default=-1)
    if names is not None and top == len(classes):
        notes.append(
            f"mask values reach {top} but {names.file} names {len(classes)} classes (0.."
            f"{len(classes) - 1}): if value 0 means 'unlabelled' and classes start at 1 (ADE20K "
            f"style), add a first line for value 0; nothing was shifted, value {top} reads as "
            "ignore"
        )
    used = [v for v in values if v < 255]
    if names is None and top >= 4 and len(used) * 2 < top + 1:
        notes.append(
            f"mask values are sparse: {len(used)} of 0..{top} appear ({sorted(used)[:8]}); if "
            "they are grey levels standing for classes, export masks numbered 0, 1, 2..."
        )


def settle_table(scanned: Sequence[Scanned], names: Names | None, notes: list[str]) -> Table:
    """Classes, palette and per-mask encodings of a ``mask-folders`` set (rules above).

    Raises:
        DatasetError: colour masks without a table hold more colours than classes can number.
    """
    rgb = [s for s in scanned if s.rgb]
    if names is not None and names.colours is not None:
        palette = dict(enumerate(names.colours))
        encodings: list[MaskEncoding] = ["colour" if s.rgb else "index" for s in scanned]
        background = 0 if names.names[0].lower() in BACKGROUND_NAMES else None
        unused = [names.names[i] for i, c in palette.items() if not _seen(c, rgb)]
        if rgb and unused:
            notes.append(f"classes without a pixel in any colour mask: {', '.join(unused[:10])}")
        return Table(list(names.names), palette, False, background, encodings, names.file)
    if rgb and len(rgb) == len(scanned) and not all(s.grey for s in rgb):
        return _derived_colours(scanned, names, notes)
    excluded = tuple(i for i, s in enumerate(scanned) if s.rgb and not s.grey)
    if len(excluded) < len(rgb):
        grey = len(rgb) - len(excluded)
        notes.append(f"{grey} RGB mask(s) have three equal channels: read as index values")
    kept = [s for i, s in enumerate(scanned) if i not in set(excluded)]
    values = union_values(kept)
    binary = set(values) == {0, 255}
    if names is not None:
        classes = list(names.names)
        if binary and len(classes) != 2:
            notes.append(
                f"masks hold only 0 and 255 but {names.file} names {len(classes)} classes: "
                "255 read as ignore"
            )
            binary = False
        source = names.file
        background = 0 if classes[0].lower() in BACKGROUND_NAMES else None
    else:
        top = max((v for v in values if v < 255), default=0)
        classes = [f"class_{i}" for i in range(2 if binary else top + 1)]
        source, background = "the values found", 0
    if binary:
        notes.append(
            f"masks hold only 0 and 255 (a foreground/background set): 255 read as class 1 "
            f"({classes[1]!r}), not as ignore"
        )
    else:
        _index_notes(values, classes, names, notes)
    return Table(classes, None, binary, background, ["index"] * len(scanned), source, excluded)


def _seen(colour: tuple[int, int, int], rgb: Sequence[Scanned]) -> bool:
    key = colour[0] << 16 | colour[1] << 8 | colour[2]
    return any(key in s.counts for s in rgb)
