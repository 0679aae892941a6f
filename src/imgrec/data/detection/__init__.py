"""Object-detection datasets: read COCO, YOLO and VOC layouts, report on them, convert.

COCO instance masks (polygons, RLE) are read alongside the boxes (``DetectionImage.segmentations``,
decoded by :func:`decode_segmentation`).

>>> ds = read_detection(Path("my_set.zip"), work_dir=Path("cache"))
>>> print(render_report_text(ds))

Every problem in the user's files is kept in ``ds.problems`` with its file, line or key and what
was done (clipped, dropped, skipped); the user's files are never modified. No torch here.
"""

from __future__ import annotations

from imgrec.data.detection.coco import write_coco
from imgrec.data.detection.convert import convert_detection
from imgrec.data.detection.masks import decode_segmentation, encode_mask, mask_to_polygons
from imgrec.data.detection.model import (
    LAYOUTS,
    DetectionDataset,
    DetectionImage,
    DetectionProblem,
    Layout,
)
from imgrec.data.detection.reader import detect_layout, read_detection
from imgrec.data.detection.report import detection_report, render_report_text
from imgrec.data.detection.synth import write_shapes_detection, write_shapes_instances
from imgrec.data.detection.voc import write_voc
from imgrec.data.detection.yolo import write_yolo

__all__ = [
    "LAYOUTS",
    "DetectionDataset",
    "DetectionImage",
    "DetectionProblem",
    "Layout",
    "convert_detection",
    "decode_segmentation",
    "detect_layout",
    "detection_report",
    "encode_mask",
    "mask_to_polygons",
    "read_detection",
    "render_report_text",
    "write_coco",
    "write_shapes_detection",
    "write_shapes_instances",
    "write_voc",
    "write_yolo",
]
