"""Semantic-segmentation datasets: read mask folders, VOC and COCO layouts, report on them.

>>> ds = read_segmentation(Path("my_set.zip"), work_dir=Path("cache"))
>>> print(render_segmentation_report(ds))
>>> mask = load_mask(ds.images[0], ds)  # uint8 (H, W): class indices, 255 ignore

Every problem in the user's files is kept in ``ds.problems`` with its file, what was done (image
kept or excluded, file skipped) and what to do; the user's files are never modified. How mask
values become classes (index, colour, 0/255 binary, "reduce zero label" sets) is documented in
:mod:`imgrec.data.segmentation.table`; COCO's overlap rules in
:mod:`imgrec.data.segmentation.coco`. Names resolve lazily: only
:class:`SegmentationTorchDataset`, :func:`segmentation_transforms` and
:func:`collate_segmentation` import torch.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from imgrec._lazy import lazy_exports

__all__ = [
    "IGNORE_INDEX",
    "LAYOUTS",
    "VOC_CLASSES",
    "SegmentationDataset",
    "SegmentationImage",
    "SegmentationProblem",
    "SegmentationTorchDataset",
    "collate_segmentation",
    "detect_segmentation_layout",
    "load_mask",
    "read_segmentation",
    "render_segmentation_report",
    "segmentation_report",
    "segmentation_transforms",
    "shapes_mask",
    "voc_palette",
    "write_shapes_segmentation",
]

_LAZY = {
    "IGNORE_INDEX": "imgrec.data.segmentation.model",
    "LAYOUTS": "imgrec.data.segmentation.model",
    "SegmentationDataset": "imgrec.data.segmentation.model",
    "SegmentationImage": "imgrec.data.segmentation.model",
    "SegmentationProblem": "imgrec.data.segmentation.model",
    "load_mask": "imgrec.data.segmentation.masks",
    "VOC_CLASSES": "imgrec.data.segmentation.voc",
    "voc_palette": "imgrec.data.segmentation.voc",
    "detect_segmentation_layout": "imgrec.data.segmentation.reader",
    "read_segmentation": "imgrec.data.segmentation.reader",
    "render_segmentation_report": "imgrec.data.segmentation.report",
    "segmentation_report": "imgrec.data.segmentation.report",
    "shapes_mask": "imgrec.data.segmentation.synth",
    "write_shapes_segmentation": "imgrec.data.segmentation.synth",
    "SegmentationTorchDataset": "imgrec.data.segmentation.torch_data",
    "collate_segmentation": "imgrec.data.segmentation.torch_data",
    "segmentation_transforms": "imgrec.data.segmentation.torch_data",
}

if TYPE_CHECKING:
    from imgrec.data.segmentation.masks import load_mask
    from imgrec.data.segmentation.model import (
        IGNORE_INDEX,
        LAYOUTS,
        SegmentationDataset,
        SegmentationImage,
        SegmentationProblem,
    )
    from imgrec.data.segmentation.reader import detect_segmentation_layout, read_segmentation
    from imgrec.data.segmentation.report import render_segmentation_report, segmentation_report
    from imgrec.data.segmentation.synth import shapes_mask, write_shapes_segmentation
    from imgrec.data.segmentation.torch_data import (
        SegmentationTorchDataset,
        collate_segmentation,
        segmentation_transforms,
    )
    from imgrec.data.segmentation.voc import VOC_CLASSES, voc_palette


__getattr__, __dir__ = lazy_exports("imgrec.data.segmentation", _LAZY, globals())
