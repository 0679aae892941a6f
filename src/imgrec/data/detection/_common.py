"""Helpers every layout shares: image sizes, box checks, splits, output folders."""

from __future__ import annotations

import hashlib
import math
from collections import Counter, defaultdict
from collections.abc import Sequence
from pathlib import Path
from typing import Any, NamedTuple

import numpy as np
from PIL import Image, UnidentifiedImageError

from imgrec.data.detection.model import DetectionImage, DetectionProblem, Outcome
from imgrec.data.images import open_quietly
from imgrec.data.manifest import SPLITS, Split
from imgrec.errors import DatasetError

IMAGE_SUFFIXES = frozenset({".jpg", ".jpeg", ".png", ".bmp", ".gif", ".tif", ".tiff", ".webp"})
_EDGE_TOL = 1e-3  # a box edge this close outside the image is float noise: clamp silently
_SWAPPED = frozenset({5, 6, 7, 8})  # EXIF orientations that transpose the image


class RawBox(NamedTuple):
    """A box as written in the source, before checks (``where``: its line or key;
    ``segmentation``: its checked COCO mask, or ``None``)."""

    x0: float
    y0: float
    x1: float
    y1: float
    label: int
    crowd: bool
    where: str | None
    segmentation: Any = None


def problem(
    file: str, where: str | None, what: str, outcome: Outcome, subject: str
) -> DetectionProblem:
    """``what — <subject> <outcome>``, e.g. ``"... — line dropped"``."""
    return DetectionProblem(file, where, f"{what} — {subject} {outcome}", outcome)


def rel_key(path: Path, root: Path) -> str:
    try:
        return path.relative_to(root).as_posix()
    except ValueError:
        return path.as_posix()


def image_size(path: Path) -> tuple[int, int] | str:
    """``(width, height)`` as displayed (EXIF-transposed), or why the image cannot be read."""
    try:
        with open_quietly(path) as img:
            width, height = img.size
            orientation = img.getexif().get(0x0112)
    except FileNotFoundError:
        return "image file not found"
    except Image.DecompressionBombError as exc:
        return f"too large in pixels ({exc})"
    except (UnidentifiedImageError, OSError, ValueError) as exc:
        return f"unreadable image ({type(exc).__name__}: {exc})"
    if orientation in _SWAPPED:
        width, height = height, width
    return width, height


def check_box(
    raw: RawBox, width: int, height: int, file: str, problems: list[DetectionProblem]
) -> tuple[float, float, float, float] | None:
    """The box clipped to the image, or ``None`` (dropped); a problem is logged either way."""
    coords = (raw.x0, raw.y0, raw.x1, raw.y1)
    shown = "(" + ", ".join(f"{v:.6g}" for v in coords) + ")"
    if not all(math.isfinite(v) for v in coords):
        problems.append(problem(file, raw.where, f"box {shown} is not finite", "dropped", "box"))
        return None
    lo = (0.0, 0.0, 0.0, 0.0)
    hi = (float(width), float(height), float(width), float(height))
    clipped = tuple(min(max(v, a), b) for v, a, b in zip(coords, lo, hi, strict=True))
    x0, y0, x1, y1 = clipped
    if x1 <= x0 or y1 <= y0:
        what = f"box {shown} has zero or negative width or height"
        if clipped != coords:
            what += f" once clipped to the {width}x{height} image"
        problems.append(problem(file, raw.where, what, "dropped", "box"))
        return None
    if any(abs(a - b) > _EDGE_TOL for a, b in zip(clipped, coords, strict=True)):
        to = "(" + ", ".join(f"{v:.6g}" for v in clipped) + ")"
        what = f"box {shown} lies partly outside the {width}x{height} image, clipped to {to}"
        problems.append(DetectionProblem(file, raw.where, what + " — box clipped", "clipped"))
    return x0, y0, x1, y1


def build_image(
    *,
    path: Path,
    key: str,
    image_id: int,
    size: tuple[int, int],
    raw: Sequence[RawBox],
    file: str,
    problems: list[DetectionProblem],
    split: Split | None,
) -> DetectionImage:
    """Check every raw box against the image size and pack the arrays; the segmentations of the
    kept boxes stay aligned with them (``()`` when no raw box has one)."""
    width, height = size
    boxes, labels, crowd, masks = [], [], [], []
    for box in raw:
        kept = check_box(box, width, height, file, problems)
        if kept is not None:
            boxes.append(kept)
            labels.append(box.label)
            crowd.append(box.crowd)
            masks.append(box.segmentation)
    any_mask = any(box.segmentation is not None for box in raw)
    return DetectionImage(
        path=path,
        key=key,
        image_id=image_id,
        width=width,
        height=height,
        boxes=np.asarray(boxes, dtype=np.float32).reshape(-1, 4),
        labels=np.asarray(labels, dtype=np.int64),
        iscrowd=np.asarray(crowd, dtype=bool),
        split=split,
        segmentations=tuple(masks) if any_mask else (),
    )


def _group(img: DetectionImage) -> str:
    if len(img.labels) == 0:
        return "no-objects"
    counts = Counter(int(v) for v in img.labels)
    return f"class-{max(counts, key=lambda c: (counts[c], -c))}"


def assign_splits(
    images: list[DetectionImage], *, val_fraction: float, test_fraction: float, seed: int
) -> list[DetectionImage]:
    """Split images deterministically, stratified by each image's most frequent class."""
    if not 0 <= val_fraction < 1 or not 0 <= test_fraction < 1 or val_fraction + test_fraction >= 1:
        raise DatasetError(
            f"val_fraction {val_fraction} and test_fraction {test_fraction} must be in [0, 1)"
            " and sum to less than 1"
        )
    groups: dict[str, list[int]] = defaultdict(list)
    for i, img in enumerate(images):
        groups[_group(img)].append(i)
    split_of: dict[int, Split] = {}
    for name, members in groups.items():
        members.sort(key=lambda i: images[i].key)
        digest = hashlib.sha256(name.encode()).digest()
        rng = np.random.default_rng([seed, int.from_bytes(digest[:4], "little")])
        order = [members[j] for j in rng.permutation(len(members))]
        n_val = round(len(order) * val_fraction)
        n_test = round(len(order) * test_fraction)
        if n_val + n_test >= len(order):  # keep at least one training image per group
            n_val = n_test = 0
        for rank, i in enumerate(order):
            split_of[i] = "val" if rank < n_val else "test" if rank < n_val + n_test else "train"
    return [_with_split(img, split_of[i]) for i, img in enumerate(images)]


def _with_split(img: DetectionImage, split: Split) -> DetectionImage:
    from dataclasses import replace

    return replace(img, split=split)


def prepare_out(out: Path) -> Path:
    """Create ``out``; refuse a file or a non-empty folder (nothing is ever overwritten)."""
    out = Path(out)
    if out.exists() and (not out.is_dir() or any(out.iterdir())):
        raise DatasetError(
            f"{out}: already exists and is not an empty folder; refusing to write into it,"
            " choose a new or empty output folder"
        )
    out.mkdir(parents=True, exist_ok=True)
    return out


def output_names(images: Sequence[DetectionImage]) -> list[str]:
    """A distinct flat file name per image (its base name, or its key flattened on clashes)."""
    taken: set[str] = set()
    stems: set[str] = set()
    names = []
    for img in images:
        name = Path(img.key).name
        if name in taken or Path(name).stem.lower() in stems:
            name = img.key.replace("/", "__")
            stem, suffix, n = Path(name).stem, Path(name).suffix, 1
            while name in taken:
                n += 1
                name = f"{stem}_{n}{suffix}"
        taken.add(name)
        stems.add(Path(name).stem.lower())
        names.append(name)
    return names


def split_dir(split: Split | None) -> Split:
    """The folder an image goes to when written: images without a split count as train."""
    return split if split in SPLITS else "train"
