"""The object-detection layouts: COCO JSON, YOLO txt + data.yaml, Pascal VOC XML.

Each reads to a :class:`~imgrec.data.detection.DetectionDataset` (the parsers live in
:mod:`imgrec.data.detection`); :func:`imgrec.data.detection.read_detection` finds the layout
through the registry, adds zip extraction and splits.
"""

from __future__ import annotations

from pathlib import Path

from imgrec.data.detection.coco import coco_files, read_coco
from imgrec.data.detection.model import DetectionDataset
from imgrec.data.detection.voc import read_voc
from imgrec.data.detection.yolo import YAML_NAMES, read_yolo
from imgrec.data.formats.registry import FormatReader, ReadContext, register_format

__all__ = ["CocoFormat", "VocFormat", "YoloFormat"]


@register_format
class CocoFormat(FormatReader[DetectionDataset]):
    """``annotations/instances_<split>*.json``, or one ``*.json`` beside ``images/``."""

    name = "coco"
    tasks = ("detect", "instance")  # instance: the same reader, with the masks
    priority = 100
    description = "coco (annotations/instances_*.json, or a *.json beside images/)"

    def detect(self, path: Path) -> bool:
        return path.is_dir() and bool(coco_files(path))

    def read(self, path: Path, ctx: ReadContext) -> DetectionDataset:
        return read_coco(path, ctx.source)


@register_format
class YoloFormat(FormatReader[DetectionDataset]):
    """``data.yaml`` (class names, split folders) with ``images/`` and ``labels/``."""

    name = "yolo"
    tasks = ("detect",)
    priority = 90
    description = "yolo (data.yaml with images/ and labels/)"

    def detect(self, path: Path) -> bool:
        return path.is_dir() and any((path / n).is_file() for n in YAML_NAMES)

    def read(self, path: Path, ctx: ReadContext) -> DetectionDataset:
        return read_yolo(path, ctx.source)


@register_format
class VocFormat(FormatReader[DetectionDataset]):
    """``Annotations/*.xml`` with ``JPEGImages/`` (and ``ImageSets/Main`` splits)."""

    name = "voc"
    tasks = ("detect",)
    priority = 80
    description = "voc (Annotations/*.xml with JPEGImages/)"

    def detect(self, path: Path) -> bool:
        annotations = path / "Annotations"
        return annotations.is_dir() and any(annotations.glob("*.xml"))

    def read(self, path: Path, ctx: ReadContext) -> DetectionDataset:
        return read_voc(path, ctx.source)
