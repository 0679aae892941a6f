"""The ``csv`` layout: a ``path,label[,split]`` CSV/TSV table (parsing in :mod:`..csv_source`).

Accepted as a file given directly, or as a folder holding exactly one CSV/TSV with no class
folders beside it (or with class folders, when its header names a path and a label column).
"""

from __future__ import annotations

from pathlib import Path

from imgrec.data._found import Found
from imgrec.data.csv_source import has_path_label, read_csv
from imgrec.data.formats.folders import CSV_SUFFIXES, listing
from imgrec.data.formats.registry import FormatReader, ReadContext, register_format
from imgrec.errors import DatasetError

__all__ = ["CsvFormat"]


def _table_of(path: Path) -> Path | None:
    """The CSV/TSV file ``path`` stands for: itself, or the one table of a folder."""
    if path.is_file():
        return path if path.suffix.lower() in CSV_SUFFIXES else None
    if not path.is_dir():
        return None
    dirs, files = listing(path)
    tables = [f for f in files if f.suffix.lower() in CSV_SUFFIXES]
    if len(tables) == 1 and (not dirs or has_path_label(tables[0])):
        return tables[0]
    return None


@register_format
class CsvFormat(FormatReader[Found]):
    """A ``path,label[,split]`` table; paths relative to its folder or absolute."""

    name = "csv"
    tasks = ("classify",)
    priority = 80
    description = "csv (one CSV/TSV file with path and label columns, optional split)"

    def detect(self, path: Path) -> bool:
        return _table_of(path) is not None

    def read(self, path: Path, ctx: ReadContext) -> Found:
        table = _table_of(path)
        if table is None:
            raise DatasetError(f"{path}: no CSV/TSV file with path and label columns to read")
        return read_csv(table)
