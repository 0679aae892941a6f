"""Read a ``path,label[,split]`` CSV/TSV file as a dataset layout for :mod:`imgrec.data.ingest`.

The delimiter (comma, tab or semicolon) is taken from the header row; path, label and split
columns are found by name (``path``/``file``/``image``..., ``label``/``class``..., ``split``/
``subset``), any case. Paths are relative to the CSV's folder or absolute. Rows that cannot be
used become :class:`SkippedFile` entries with the CSV line number; a split value that is not
train, val or test stops the read with a :class:`~imgrec.errors.DatasetError`.
"""

from __future__ import annotations

import csv
import io
from pathlib import Path

from imgrec.data._found import NOT_IMAGE, SPLIT_ALIASES, Candidate, Found
from imgrec.data.images import IMAGE_EXTENSIONS
from imgrec.data.manifest import SkippedFile, Split
from imgrec.errors import DatasetError

__all__ = ["has_path_label", "read_csv"]

_PATH_COLUMNS = (
    "path",
    "filepath",
    "file_path",
    "file",
    "filename",
    "file_name",
    "image",
    "image_path",
    "img",
    "img_path",
)
_LABEL_COLUMNS = ("label", "class", "class_name", "category", "target")
_SPLIT_COLUMNS = ("split", "subset")


def _sniff(header_line: str) -> str:
    return max((",", "\t", ";"), key=header_line.count) if header_line else ","


def _column(columns: list[str], names: tuple[str, ...]) -> int | None:
    lowered = [c.strip().lower() for c in columns]
    return next((lowered.index(n) for n in names if n in lowered), None)


def _read_header(csv_path: Path) -> tuple[str, list[str], str]:
    """(delimiter, header cells, whole text) of a CSV/TSV file."""
    try:
        text = csv_path.read_text(encoding="utf-8-sig")
    except UnicodeDecodeError as exc:
        raise DatasetError(f"{csv_path}: not UTF-8 text ({exc}); save it as UTF-8 CSV.") from exc
    except OSError as exc:
        raise DatasetError(f"{csv_path}: unreadable ({exc.strerror or exc}).") from exc
    first = text.splitlines()[0] if text.strip() else ""
    if not first.strip():
        raise DatasetError(f"{csv_path}: empty; a header row 'path,label[,split]' is required.")
    delimiter = _sniff(first)
    return delimiter, next(csv.reader([first], delimiter=delimiter)), text


def has_path_label(csv_path: Path) -> bool:
    """Whether the header of ``csv_path`` names a path column and a label column.

    An unreadable or empty file is not an error here: it answers False.
    """
    try:
        _, header, _ = _read_header(csv_path)
    except DatasetError:
        return False
    return (
        _column(header, _PATH_COLUMNS) is not None and _column(header, _LABEL_COLUMNS) is not None
    )


def read_csv(csv_path: Path) -> Found:
    """Read ``csv_path`` as layout ``"csv"``: one candidate per usable row, skips for the rest.

    Raises:
        DatasetError: the file is unreadable, not UTF-8 or empty; its header lacks a path or a
            label column; or a row's split is not train, val or test (nor an alias of one).
    """
    delimiter, header, text = _read_header(csv_path)
    path_i, label_i = _column(header, _PATH_COLUMNS), _column(header, _LABEL_COLUMNS)
    split_i = _column(header, _SPLIT_COLUMNS)
    if path_i is None or label_i is None:
        raise DatasetError(
            f"{csv_path}: needs a header row with a path column and a label column "
            f"(e.g. 'path,label' or 'path,label,split'); found columns: "
            f"{', '.join(repr(c) for c in header)}."
        )
    kind = {",": "comma", "\t": "tab", ";": "semicolon"}[delimiter]
    found = Found(
        "csv",
        csv_path.parent,
        notes=[
            f"layout: CSV {csv_path.name} ({kind}-separated"
            f"{', with split column' if split_i is not None else ''})"
        ],
    )
    reader = csv.reader(io.StringIO(text), delimiter=delimiter)
    next(reader)
    blank_splits = 0
    for row in reader:
        line = reader.line_num
        cells = [c.strip() for c in row]
        if not any(cells):
            continue
        value = cells[path_i] if path_i < len(cells) else ""
        label = cells[label_i] if label_i < len(cells) else ""
        if not value:
            found.skipped.append(SkippedFile(csv_path, f"no path (CSV line {line})"))
            continue
        path = Path(value) if Path(value).is_absolute() else csv_path.parent / value
        if not label:
            found.skipped.append(SkippedFile(path, f"no label (CSV line {line})"))
            continue
        split = _csv_split(
            csv_path, line, cells[split_i] if split_i is not None and split_i < len(cells) else ""
        )
        if split_i is not None and split is None:
            blank_splits += 1
            split = "train"
        if not path.is_file():
            found.skipped.append(SkippedFile(path, f"missing file (CSV line {line})"))
        elif path.suffix.lower() not in IMAGE_EXTENSIONS:
            found.skipped.append(SkippedFile(path, NOT_IMAGE))
        else:
            found.candidates.append(Candidate(path, label, split, label))
    if blank_splits:
        found.notes.append(f"{blank_splits} CSV rows with an empty split were read as train")
    return found


def _csv_split(csv_path: Path, line: int, value: str) -> Split | None:
    if not value:
        return None
    split = SPLIT_ALIASES.get(value.lower())
    if split is None:
        raise DatasetError(
            f"{csv_path}, line {line}: split {value!r} is not one of train, val, test "
            "(valid and validation are read as val)."
        )
    return split
