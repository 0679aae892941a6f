"""The ``idx`` layout: IDX files (MNIST, Fashion-MNIST: ``train-images-idx3-ubyte.gz``...).

Read by exporting them once to split folders of PNGs under the reader's work folder, named by a
hash of the IDX files so a second read of the same files reuses the export; class names keep the
IDX label order.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

from imgrec.data._found import Found
from imgrec.data.archive import sha256_file
from imgrec.data.formats.folders import listing, read_split_folders, split_dirs
from imgrec.data.formats.registry import FormatReader, ReadContext, register_format

__all__ = ["IdxFormat"]


def _export(folder: Path, work_dir: Path) -> Path:
    """Export an IDX set to ``work_dir/idx-<hash of its files>``.

    ``export_idx_folder`` builds beside the target and renames, and returns a complete earlier
    export untouched, so a second ingest of the same files reuses it.
    """
    from imgrec.data.idx import export_idx_folder

    digest = hashlib.sha256()
    for f in listing(folder)[1]:
        digest.update(f"{f.name}:{sha256_file(f)}\n".encode())
    return export_idx_folder(folder, work_dir / f"idx-{digest.hexdigest()[:16]}")


def _class_order(exported: Path) -> list[str] | None:
    """Class names in label order from the export's marker file, if it records them."""
    from imgrec.data.idx import COMPLETE_MARKER

    try:
        classes = json.loads((exported / COMPLETE_MARKER).read_text(encoding="utf-8"))["classes"]
    except (OSError, ValueError, KeyError, TypeError):
        return None
    return [str(c) for c in classes] if isinstance(classes, list) else None


@register_format
class IdxFormat(FormatReader[Found]):
    """A folder of IDX image and label files (train, optionally t10k)."""

    name = "idx"
    tasks = ("classify",)
    priority = 100
    description = "idx (train-images-idx3-ubyte[.gz] and train-labels-idx1-ubyte[.gz])"

    def detect(self, path: Path) -> bool:
        from imgrec.data.idx import is_idx_folder

        return path.is_dir() and is_idx_folder(path)

    def read(self, path: Path, ctx: ReadContext) -> Found:
        exported = _export(path, ctx.work_dir)
        found = read_split_folders(exported, split_dirs(exported) or {})
        found.layout = "idx"
        found.class_order = _class_order(exported)
        found.notes[0] = f"layout: IDX files in {path} exported to {exported}; " + found.notes[0]
        return found
