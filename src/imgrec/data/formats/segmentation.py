"""The semantic-segmentation layouts: COCO polygons/RLE, Pascal VOC SegmentationClass, and
image folders beside mask folders.

Each reads to a :class:`~imgrec.data.segmentation.SegmentationDataset` (the parsers live in
:mod:`imgrec.data.segmentation`); :func:`imgrec.data.segmentation.read_segmentation` finds the
layout through the registry, adds zip extraction and splits. A folder holding a COCO JSON or a
VOC tree is read by the ``coco``/``voc`` readers for task ``detect`` and by these for task
``segment``: the task decides. The parsers are imported on first use, so registering these
readers costs no decoding library.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from imgrec.data.formats.registry import FormatReader, ReadContext, register_format

if TYPE_CHECKING:
    from imgrec.data.segmentation.model import SegmentationDataset

__all__ = ["CocoSegmentationFormat", "MaskFoldersFormat", "VocSegmentationFormat"]


@register_format
class CocoSegmentationFormat(FormatReader["SegmentationDataset"]):
    """COCO instance annotations (polygons, RLE) rasterised into semantic masks."""

    name = "coco-seg"
    tasks = ("segment",)
    priority = 100
    description = "coco-seg (COCO annotations/instances_*.json with polygons or RLE)"

    def detect(self, path: Path) -> bool:
        from imgrec.data.segmentation.coco import is_coco_segmentation

        return is_coco_segmentation(path)

    def read(self, path: Path, ctx: ReadContext) -> SegmentationDataset:
        from imgrec.data.segmentation.coco import read_coco_segmentation

        return read_coco_segmentation(path, ctx.source, ctx.work_dir)


@register_format
class VocSegmentationFormat(FormatReader["SegmentationDataset"]):
    """``SegmentationClass/*.png`` with ``JPEGImages/`` (and ``ImageSets/Segmentation``)."""

    name = "voc-seg"
    tasks = ("segment",)
    priority = 80
    description = "voc-seg (SegmentationClass/*.png with JPEGImages/)"

    def detect(self, path: Path) -> bool:
        from imgrec.data.segmentation.voc import is_voc_segmentation

        return path.is_dir() and is_voc_segmentation(path)

    def read(self, path: Path, ctx: ReadContext) -> SegmentationDataset:
        from imgrec.data.segmentation.voc import read_voc_segmentation

        return read_voc_segmentation(path, ctx.source)


@register_format
class MaskFoldersFormat(FormatReader["SegmentationDataset"]):
    """``images/`` beside ``masks/`` (or ``annotations/``, ``labels/``), same file stems."""

    name = "mask-folders"
    tasks = ("segment",)
    priority = 60
    description = "mask-folders (images/ with masks/, annotations/ or labels/ of mask PNGs)"

    def detect(self, path: Path) -> bool:
        from imgrec.data.segmentation.folders import is_mask_folders

        return is_mask_folders(path)

    def read(self, path: Path, ctx: ReadContext) -> SegmentationDataset:
        from imgrec.data.segmentation.folders import read_mask_folders

        return read_mask_folders(path, ctx.source)
