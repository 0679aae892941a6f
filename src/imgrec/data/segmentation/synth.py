"""The shapes generator as a segmentation set: its images and exact masks, ``mask-folders``.

Each mask is rasterised by :func:`imgrec.data.synth.render_mask` from the record of the very
image it belongs to (the code that drew the shapes), so a mask pixel is a shape's class exactly
where the drawing covers at least half of the pixel. The generator never lets shapes overlap.
"""

from __future__ import annotations

import shutil
from collections.abc import Sequence
from pathlib import Path

import numpy as np
from PIL import Image

from imgrec._files import make_temp_dir
from imgrec.data.manifest import Split
from imgrec.data.synth import DEFAULT_CLASSES, ShapesRecord, render_image, render_mask
from imgrec.errors import ConfigError, DatasetError

__all__ = ["shapes_mask", "write_shapes_segmentation"]

_BACKGROUND = "background"


def _split_of(index: int, n: int) -> Split:
    position = (index * 7919) % n / n  # a fixed interleave: every split sees every class
    return "test" if position < 0.15 else "val" if position < 0.3 else "train"


def shapes_mask(record: ShapesRecord) -> np.ndarray:
    """The class mask ``uint8 (H, W)`` of a shapes image: 0 background, ``label + 1`` on each
    shape (exactly :func:`~imgrec.data.synth.render_mask` of each object)."""
    mask = np.zeros((record.height, record.width), dtype=np.uint8)
    for k, obj in enumerate(record.objects):
        mask[render_mask(record, object_index=k)] = obj.label + 1
    return mask


def write_shapes_segmentation(
    out: Path,
    *,
    n: int | None = None,
    per_class: int | None = None,
    img_size: int = 128,
    seed: int = 0,
    classes: Sequence[str] | None = None,
    min_objects: int = 1,
    max_objects: int = 3,
) -> Path:
    """Write generated shape images and their exact masks to ``out`` (``mask-folders`` layout).

    ``out/images/<split>/shape_00000.png``, ``out/masks/<split>/shape_00000.png`` (mode ``L``:
    0 background, ``k + 1`` for the ``k``-th shape class) and ``out/classes.txt``
    (``background`` then the shape classes). Splits train/val/test 70/15/15 by a fixed
    interleave. Give ``n`` images, or ``per_class`` (``n = per_class * len(classes)``, each class
    the first shape of ``per_class`` images). The set is built beside ``out`` and moved into
    place, so a reader never sees half of it.

    Raises:
        ConfigError: neither or both of ``n`` and ``per_class``, a count below 1, or an unknown
            shape class.
        DatasetError: ``out`` exists and is not an empty folder.
    """
    names = list(classes or DEFAULT_CLASSES)
    if (n is None) == (per_class is None):
        raise ConfigError("write_shapes_segmentation: give either n or per_class")
    total = n if n is not None else int(per_class or 0) * len(names)
    if total < 1 or not 1 <= min_objects <= max_objects:
        raise ConfigError(
            f"need at least one image and 1 <= min_objects <= max_objects; got {total} images, "
            f"objects {min_objects}..{max_objects}"
        )
    out = Path(out)
    if out.exists() and (not out.is_dir() or any(out.iterdir())):
        raise DatasetError(
            f"{out}: already exists and is not an empty folder; refusing to write into it,"
            " choose a new or empty output folder"
        )
    out.parent.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(seed)
    counts = rng.integers(min_objects, max_objects + 1, size=total)
    tmp = make_temp_dir(out.parent, prefix=f"{out.name}.tmp-")
    try:
        for i in range(total):
            pixels, record = render_image(
                i,
                label=i % len(names),
                img_size=img_size,
                classes=names,
                seed=seed,
                objects_per_image=int(counts[i]),
            )
            split = _split_of(i, total)
            for folder, array in (("images", pixels), ("masks", shapes_mask(record))):
                path = tmp / folder / split / f"shape_{i:05d}.png"
                path.parent.mkdir(parents=True, exist_ok=True)
                Image.fromarray(array).save(path, compress_level=1)
        lines = "".join(f"{c}\n" for c in (_BACKGROUND, *names))
        (tmp / "classes.txt").write_text(lines, encoding="utf-8")
        if out.exists():
            out.rmdir()  # empty, checked above
        tmp.replace(out)
    finally:
        if tmp.exists():
            shutil.rmtree(tmp, ignore_errors=True)
    return out
