"""Class-name files beside a segmentation set: ``classes.txt`` and ``classes.json``.

* ``classes.txt``: one name per line; line ``k`` (from 0, blank lines skipped) is mask value
  ``k``.
* ``classes.json``: a list of names (as ``classes.txt``); ``{"name": [r, g, b], ...}`` in order;
  or ``[{"name": ..., "color": [r, g, b]}, ...]`` (``colour`` also read; an ``id`` or ``index``,
  when given, must equal the entry's position). Colours are ``[r, g, b]`` or ``"#rrggbb"``; with
  colours, RGB masks are read through them (a colour mask's table).

Both present: ``classes.json`` is used (noted). A names file that cannot be read unambiguously
is an error naming the file and the line or entry: class names are too important to guess.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from imgrec.errors import DatasetError

__all__ = ["NAMES_FILES", "Names", "read_names"]

NAMES_FILES = ("classes.json", "classes.txt")
_HEX = re.compile(r"^#?([0-9a-fA-F]{6})$")


@dataclass(frozen=True)
class Names:
    """Class names from ``file``, and their colours when it gives them (one per name)."""

    file: str
    names: list[str]
    colours: list[tuple[int, int, int]] | None = None


def _colour(value: Any, where: str) -> tuple[int, int, int]:
    if isinstance(value, str) and (m := _HEX.match(value.strip())):
        n = int(m.group(1), 16)
        return (n >> 16 & 0xFF, n >> 8 & 0xFF, n & 0xFF)
    if (
        isinstance(value, list | tuple)
        and len(value) == 3
        and all(isinstance(c, int) and not isinstance(c, bool) and 0 <= c <= 255 for c in value)
    ):
        return (int(value[0]), int(value[1]), int(value[2]))
    raise DatasetError(f"{where}: colour {value!r} is not [r, g, b] (integers 0-255) or '#rrggbb'")


def _entries(data: Any, file: str) -> list[tuple[str, Any]]:
    """``(name, colour or None)`` per class in order."""
    if isinstance(data, dict):
        return [(str(k), v) for k, v in data.items()]
    if not isinstance(data, list):
        raise DatasetError(
            f"{file}: top level must be a list of names or a {{name: colour}} object"
        )
    out: list[tuple[str, Any]] = []
    for k, item in enumerate(data):
        where = f"{file} entry {k}"
        if isinstance(item, str):
            out.append((item, None))
            continue
        if not isinstance(item, dict) or not isinstance(item.get("name"), str):
            raise DatasetError(f"{where}: expected a name or an object with a 'name'")
        given = item.get("id", item.get("index"))
        if given is not None and given != k:
            raise DatasetError(
                f"{where}: id {given!r} differs from its position {k}; the position is the mask "
                "value, so list the classes in the order of their ids (0, 1, 2...)"
            )
        out.append((item["name"], item.get("color", item.get("colour"))))
    return out


def _read_json(path: Path) -> Names:
    file = path.name
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except json.JSONDecodeError as exc:
        raise DatasetError(
            f"{file}: malformed JSON at line {exc.lineno} column {exc.colno} ({exc.msg}); fix it"
        ) from exc
    except (OSError, UnicodeDecodeError) as exc:
        raise DatasetError(f"{file}: unreadable ({exc})") from exc
    entries = _entries(data, file)
    names = [name.strip() for name, _ in entries]
    given = [c is not None for _, c in entries]
    if any(given) and not all(given):
        missing = next(n for (n, c) in entries if c is None)
        raise DatasetError(f"{file}: class {missing!r} has no colour; give every class one or none")
    colours = [_colour(c, f"{file} class {n!r}") for n, c in entries] if all(given) else None
    if colours and len(set(colours)) != len(colours):
        raise DatasetError(f"{file}: two classes share a colour; each needs its own")
    return Names(file, _checked(names, file), colours if entries else None)


def _read_txt(path: Path) -> Names:
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise DatasetError(f"{path.name}: unreadable ({exc})") from exc
    names = [line.strip() for line in text.splitlines() if line.strip()]
    return Names(path.name, _checked(names, path.name))


def _checked(names: list[str], file: str) -> list[str]:
    if not names:
        raise DatasetError(f"{file}: names no class; write one class name per line")
    if any(not n for n in names):
        raise DatasetError(f"{file}: a class name is empty")
    seen: set[str] = set()
    for n in names:
        if n in seen:
            raise DatasetError(f"{file}: class {n!r} is listed twice; each name once")
        seen.add(n)
    if len(names) > 255:
        raise DatasetError(f"{file}: {len(names)} classes; at most 255 fit 8-bit masks")
    return names


def read_names(root: Path, notes: list[str]) -> Names | None:
    """The names file at ``root`` (``classes.json`` first), or ``None``.

    Raises:
        DatasetError: the file is malformed (the message names it and the entry).
    """
    present = [root / n for n in NAMES_FILES if (root / n).is_file()]
    if not present:
        return None
    if len(present) > 1:
        notes.append("classes.json and classes.txt both present: classes.json was used")
    path = present[0]
    return _read_json(path) if path.suffix == ".json" else _read_txt(path)
