"""The shapes generator as a detection set: its images and exact boxes in COCO layout, and as an
instance-segmentation set: the same with each shape's exact mask (COCO RLE)."""

from __future__ import annotations

import tempfile
from collections.abc import Sequence
from pathlib import Path

import numpy as np
from PIL import Image

from imgrec.data.detection.coco import write_coco
from imgrec.data.detection.masks import encode_mask
from imgrec.data.detection.model import DetectionDataset, DetectionImage
from imgrec.data.manifest import Split
from imgrec.data.synth import DEFAULT_CLASSES, render_image, render_mask

__all__ = ["write_shapes_detection", "write_shapes_instances"]


def _split_of(index: int, n: int) -> Split:
    position = (index * 7919) % n / n  # a fixed interleave: every split sees every class
    return "test" if position < 0.1 else "val" if position < 0.2 else "train"


def write_shapes_detection(
    out: Path,
    *,
    n: int,
    img_size: int = 128,
    seed: int = 0,
    min_objects: int = 1,
    max_objects: int = 4,
    classes: Sequence[str] | None = None,
    masks: bool = False,
) -> Path:
    """Write ``n`` generated images with 1-4 shapes each and their exact boxes to ``out``
    (COCO layout, train/val/test 80/10/10). ``out`` must not exist or be empty.

    With ``masks``, each annotation also has its shape's mask
    (:func:`imgrec.data.synth.render_mask`: the pixels at least half covered) as compressed RLE,
    and its ``area`` is the mask's; shapes never overlap.
    """
    names = list(classes or DEFAULT_CLASSES)
    rng = np.random.default_rng(seed)
    counts = rng.integers(min_objects, max_objects + 1, size=n)
    with tempfile.TemporaryDirectory(prefix="imgrec-synth-") as tmp:
        images: list[DetectionImage] = []
        for i in range(n):
            pixels, record = render_image(
                i,
                label=i % len(names),
                img_size=img_size,
                classes=names,
                seed=seed,
                objects_per_image=int(counts[i]),
            )
            path = Path(tmp) / f"shape_{i:05d}.png"
            Image.fromarray(pixels).save(path)
            objects = record.objects
            segmentations: tuple[dict[str, object] | None, ...] = ()
            if masks:
                drawn = [render_mask(record, object_index=k) for k in range(len(objects))]
                segmentations = tuple(encode_mask(m) if m.any() else None for m in drawn)
            images.append(
                DetectionImage(
                    path=path,
                    key=path.name,
                    image_id=i + 1,
                    width=img_size,
                    height=img_size,
                    boxes=np.array([o.bbox for o in objects], np.float32).reshape(-1, 4),
                    labels=np.array([o.label for o in objects], np.int64),
                    iscrowd=np.zeros(len(objects), bool),
                    split=_split_of(i, n),
                    segmentations=segmentations,
                )
            )
        dataset = DetectionDataset(
            root=Path(tmp),
            source=Path(tmp),
            layout="coco",
            classes=names,
            images=images,
            category_ids=list(range(1, len(names) + 1)),
        )
        return write_coco(dataset, out)


def write_shapes_instances(
    out: Path,
    *,
    n: int,
    img_size: int = 128,
    seed: int = 0,
    min_objects: int = 1,
    max_objects: int = 4,
    classes: Sequence[str] | None = None,
) -> Path:
    """:func:`write_shapes_detection` with each shape's exact mask: an instance-segmentation
    set (the same images, boxes and splits for the same arguments)."""
    return write_shapes_detection(
        out,
        n=n,
        img_size=img_size,
        seed=seed,
        min_objects=min_objects,
        max_objects=max_objects,
        classes=classes,
        masks=True,
    )
