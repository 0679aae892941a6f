"""``coco-seg``: semantic masks rasterised from COCO instance annotations (polygons and RLE).

The COCO JSON is read by the detection reader (:func:`imgrec.data.detection.coco.read_coco`):
its images, splits, categories and every problem it finds (malformed JSON, duplicate or
unreadable images, unknown categories, bad boxes) come from there, so the two tasks judge a
file alike. An annotation that reader drops is left out of the masks too. Classes are
``background`` (0) then the categories sorted by id, as in detection (``category_ids`` keeps
the ids; background is 0).

Rasterising (pycocotools.mask): polygons ``[[x0, y0, x1, y1, ...], ...]`` (rings of fewer than
three points are dropped), uncompressed RLE ``{"size": [h, w], "counts": [...]}`` and compressed
RLE (``counts`` a string). **Overlaps**: crowd regions (``iscrowd: 1``) are painted first as
ignore (255); then the other instances in order of decreasing mask area, so a smaller object
lying on a larger one stays visible and an instance wins over a crowd region it overlaps; equal
areas keep the file's order (the later one on top). An annotation whose segmentation is missing
or invalid paints its box as ignore (it is an object, just not outlined, so it must not teach
background), reported. Pixels of no annotation are background.

The masks are index PNGs written once under ``work_dir/coco-seg/<name>-<hash>/`` (the hash
covers the JSON files and the images' sizes, so an edited file gets new masks); the user's
folder is only read.
"""

from __future__ import annotations

import hashlib
import json
import math
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image
from pycocotools import mask as mask_utils

from imgrec._files import atomic_path
from imgrec.data.detection.coco import coco_files, read_coco
from imgrec.data.detection.masks import rle_string_counts
from imgrec.data.detection.model import DetectionProblem
from imgrec.data.segmentation.model import (
    IGNORE_INDEX,
    MaskEncoding,
    SegmentationDataset,
    SegmentationProblem,
)
from imgrec.data.segmentation.names import NAMES_FILES
from imgrec.data.segmentation.scan import Pair, finish, rel_key, scan_pairs
from imgrec.errors import DatasetError

__all__ = ["is_coco_segmentation", "read_coco_segmentation"]

_RULES = "coco-seg/1"  # bump when the rasterising rules change: old masks are not reused
_Shape = tuple[int, int]
_NONE = "no segmentation"


def is_coco_segmentation(path: Path) -> bool:
    """A COCO layout as detection probes it, not counting a ``classes.json`` names file (which
    a ``mask-folders`` set keeps beside ``images/``), whose annotations hold masks: a COCO set
    of boxes only is a detection set. A JSON that does not parse counts (the reader reports it).
    """
    if not path.is_dir():
        return False
    return any(_has_masks(p) for p in coco_files(path) if p.name not in NAMES_FILES)


def _has_masks(json_file: Path) -> bool:
    try:
        data = json.loads(json_file.read_bytes())
    except (OSError, ValueError):
        return True
    annotations = data.get("annotations") if isinstance(data, dict) else None
    return not isinstance(annotations, list) or any(
        isinstance(a, dict) and a.get("segmentation") for a in annotations
    )


def _converted(p: DetectionProblem) -> SegmentationProblem:
    what, _, done = p.message.rpartition(" — ")
    message = f"{what} ({done})" if what else p.message
    if p.where and p.where.startswith("annotations["):
        advice = "fix the annotation; the object is left out of the mask"
        return SegmentationProblem(p.file, p.where, "annotation", message, "kept", advice)
    if p.where and p.where.startswith("images["):
        advice = "fix the image entry or the image file"
        return SegmentationProblem(p.file, p.where, "image-entry", message, "excluded", advice)
    return SegmentationProblem(p.file, p.where, "file", message, "skipped", "fix the JSON file")


def _from_counts(counts: list[int], shape: _Shape) -> np.ndarray | str:
    h, w = shape
    if any(c < 0 for c in counts) or sum(counts) != h * w:
        return f"RLE counts must be non-negative and sum to {h} x {w} = {h * w}"
    runs = np.repeat(np.arange(len(counts)) % 2, counts).astype(bool)
    return runs.reshape(w, h).T  # COCO runs go down the columns


def _region(seg: Any, shape: _Shape) -> np.ndarray | str:
    """The segmentation's pixels, bool ``(H, W)``, or why it cannot be used.

    pycocotools rasterises polygons (its rule is what COCO's own masks follow); run lengths are
    decoded here, which also keeps pycocotools' numpy-2 deprecation warning out of reading.
    """
    h, w = shape
    if seg is None or (isinstance(seg, list | dict) and not seg):
        return _NONE
    if isinstance(seg, list):
        rings = [r for r in seg if isinstance(r, list) and len(r) >= 6 and len(r) % 2 == 0]
        numbers = all(
            isinstance(v, int | float) and not isinstance(v, bool) and math.isfinite(v)
            for r in rings
            for v in r
        )
        if not rings or not numbers:
            return "segmentation has no polygon of three or more finite [x, y] points"
        rle = mask_utils.merge(mask_utils.frPyObjects([[float(v) for v in r] for r in rings], h, w))
        return _from_counts(rle_string_counts(rle["counts"].decode("ascii")), shape)
    if not isinstance(seg, dict) or "counts" not in seg or "size" not in seg:
        return "segmentation is neither polygons [[x, y, ...]] nor RLE {size, counts}"
    if list(seg["size"]) != [h, w]:
        return f"RLE size {seg['size']} differs from the image's [height, width] [{h}, {w}]"
    counts = seg["counts"]
    if isinstance(counts, list) and all(isinstance(c, int) for c in counts):
        return _from_counts(counts, shape)
    if isinstance(counts, str):
        try:
            return _from_counts(rle_string_counts(counts), shape)
        except ValueError as exc:
            return f"RLE counts string cannot be decoded ({exc})"
    return "RLE counts must be a list of integers or a string"


def _paint(
    shape: _Shape,
    anns: list[tuple[str, dict[str, Any]]],
    labels: dict[int, int],
    *,
    file: str,
    problems: list[SegmentationProblem],
    missing: list[str],
) -> np.ndarray:
    """The semantic mask of one image (overlap rules in the module docstring)."""
    canvas = np.zeros(shape, dtype=np.uint8)
    instances: list[tuple[int, int, np.ndarray, int]] = []
    for order, (where, ann) in enumerate(anns):
        cls = labels[ann["category_id"]]
        decoded = _region(ann.get("segmentation"), shape)
        if isinstance(decoded, str):
            x, y, bw, bh = (float(v) for v in ann["bbox"])  # checked by read_coco
            rows = slice(max(0, math.floor(y)), max(0, math.ceil(y + bh)))
            canvas[rows, slice(max(0, math.floor(x)), max(0, math.ceil(x + bw)))] = IGNORE_INDEX
            if decoded == _NONE:
                missing.append(where)
            else:
                advice = "fix the segmentation; the object's box is read as ignore"
                problems.append(
                    SegmentationProblem(file, where, "annotation", decoded, "kept", advice)
                )
        elif ann.get("iscrowd"):
            canvas[decoded] = IGNORE_INDEX
        else:
            instances.append((-int(decoded.sum()), order, decoded, cls))
    for _, _, region, cls in sorted(instances, key=lambda t: (t[0], t[1])):
        canvas[region] = cls
    return canvas


def _write(path: Path, canvas: np.ndarray) -> None:
    with atomic_path(path) as tmp:
        Image.fromarray(canvas, "L").save(tmp, format="PNG")


def read_coco_segmentation(root: Path, source: Path, work_dir: Path) -> SegmentationDataset:
    """Read the COCO layout at ``root`` into semantic masks under ``work_dir`` (rules above).

    Raises:
        DatasetError: more than 254 categories (8-bit masks with 255 as ignore).
    """
    det = read_coco(root, source)
    problems = [  # a broken mask is reported once, by this reader's own check of it
        _converted(p)
        for p in det.problems
        if p.outcome != "clipped" and not (p.where or "").endswith(".segmentation")
    ]
    dropped = {(p.file, p.where) for p in det.problems if p.outcome == "dropped"}
    if len(det.classes) >= IGNORE_INDEX:
        raise DatasetError(f"{source}: {len(det.classes)} categories; at most 254 fit 8-bit masks")
    labels = {cid: i + 1 for i, cid in enumerate(det.category_ids)}
    anns: dict[int, list[tuple[str, dict[str, Any]]]] = {img.image_id: [] for img in det.images}
    owner: dict[int, str] = {}
    digest = hashlib.sha256(_RULES.encode())
    for path in coco_files(root):
        name, raw = rel_key(path, root), path.read_bytes()
        digest.update(f"{name}\0{hashlib.sha256(raw).hexdigest()}\n".encode())
        try:
            data = json.loads(raw)
        except (ValueError, UnicodeDecodeError):
            continue  # read_coco reported it
        for k, ann in enumerate(data.get("annotations", []) if isinstance(data, dict) else []):
            where = f"annotations[{k}]"
            if (name, where) not in dropped and ann.get("image_id") in anns:
                anns[ann["image_id"]].append((where, ann))
                owner[ann["image_id"]] = name
    for img in det.images:
        digest.update(f"{img.image_id}:{img.key}:{img.width}x{img.height}\n".encode())
    out = Path(work_dir) / "coco-seg" / f"{root.name}-{digest.hexdigest()[:16]}"
    out.mkdir(parents=True, exist_ok=True)
    pairs: list[Pair] = []
    missing: dict[str, list[str]] = {}
    for img in det.images:
        target = out / f"{img.image_id}.png"
        file = owner.get(img.image_id, "")
        holes: list[str] = []
        shape = (img.height, img.width)
        canvas = _paint(
            shape, anns[img.image_id], labels, file=file, problems=problems, missing=holes
        )
        missing.setdefault(file, []).extend(holes)
        if not target.is_file():
            _write(target, canvas)
        pairs.append(Pair(img.path, target, img.split))
    for file, wheres in missing.items():
        if wheres:
            why = f"{len(wheres)} annotation(s) have no segmentation (first: {wheres[0]})"
            advice = "their boxes are read as ignore; add polygons or RLE to train on them"
            problems.append(SegmentationProblem(file, None, "annotation", why, "kept", advice))
    background = "_background_" if "background" in det.classes else "background"
    ds = SegmentationDataset(
        root=root,
        source=source,
        layout="coco-seg",
        classes=[background, *det.classes],
        images=[],
        problems=problems,
        notes=[f"masks rasterised from the COCO annotations into {out}"],
        category_ids=[0, *det.category_ids],
    )
    scanned = scan_pairs(pairs, root, problems)
    encodings: list[MaskEncoding] = ["index"] * len(scanned)
    ds.images = finish(
        scanned, ds, root=root, table="the COCO categories", background=0, encodings=encodings
    )
    return ds
