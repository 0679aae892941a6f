"""imgrec.data: read a dataset into a :class:`Manifest`, check it, split it, decode it.

>>> from pathlib import Path
>>> from imgrec.data import assign_splits, check_dataset
>>> from imgrec.data.ingest import ingest
>>> manifest = assign_splits(ingest("my_images/", extract_root=Path("cache")), seed=0)
>>> report = check_dataset(manifest)

Names are imported lazily, so ``import imgrec.data`` does not import torch (nor numpy or
Pillow until a name that needs them is used). ``ingest`` is not re-exported here: the name
``imgrec.data.ingest`` is the submodule, so import the function from it.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from imgrec._lazy import lazy_exports

__all__ = [
    "DataReport",
    "Manifest",
    "Sample",
    "SkippedFile",
    "assign_splits",
    "check_dataset",
    "decode_to_array",
    "export_idx_folder",
    "extract_zip",
    "extraction_dir",
    "is_idx_folder",
    "load_rgb",
    "make_shapes",
    "probe_image",
    "read_idx",
    "render_mask",
    "resize_rgb",
    "write_shapes_dataset",
]

_LAZY = {
    "extract_zip": "imgrec.data.archive",
    "extraction_dir": "imgrec.data.archive",
    "assign_splits": "imgrec.data.split",
    "DataReport": "imgrec.data.validate",
    "check_dataset": "imgrec.data.validate",
    "Manifest": "imgrec.data.manifest",
    "Sample": "imgrec.data.manifest",
    "SkippedFile": "imgrec.data.manifest",
    "load_rgb": "imgrec.data.images",
    "probe_image": "imgrec.data.images",
    "resize_rgb": "imgrec.data.images",
    "decode_to_array": "imgrec.data.cache",
    "write_shapes_dataset": "imgrec.data.synth",
    "make_shapes": "imgrec.data.synth",
    "render_mask": "imgrec.data.synth",
    "read_idx": "imgrec.data.idx",
    "export_idx_folder": "imgrec.data.idx",
    "is_idx_folder": "imgrec.data.idx",
}

if TYPE_CHECKING:
    from imgrec.data.archive import extract_zip, extraction_dir
    from imgrec.data.cache import decode_to_array
    from imgrec.data.idx import export_idx_folder, is_idx_folder, read_idx
    from imgrec.data.images import load_rgb, probe_image, resize_rgb
    from imgrec.data.manifest import Manifest, Sample, SkippedFile
    from imgrec.data.split import assign_splits
    from imgrec.data.synth import make_shapes, render_mask, write_shapes_dataset
    from imgrec.data.validate import DataReport, check_dataset


__getattr__, __dir__ = lazy_exports("imgrec.data", _LAZY, globals())
