"""COCO layout: ``annotations/instances_<split>*.json`` (or one ``*.json`` beside ``images/``).

Instance masks: an annotation's ``segmentation`` (polygons or RLE) is checked against its
image's size (:func:`~imgrec.data.detection.masks.segmentation_problem`); an unusable one is a
problem at ``annotations[k].segmentation`` and its box is kept without a mask. An empty
segmentation (``[]``) is a problem only in a file where some annotation has a mask: in a file of
boxes only it is how many tools write "no mask".
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Any

from imgrec.data.detection._common import (
    RawBox,
    build_image,
    image_size,
    output_names,
    prepare_out,
    problem,
    rel_key,
    split_dir,
)
from imgrec.data.detection.masks import mask_area, segmentation_problem
from imgrec.data.detection.model import DetectionDataset, DetectionImage, DetectionProblem
from imgrec.data.manifest import SPLITS, Split
from imgrec.errors import DatasetError


def coco_files(folder: Path) -> list[Path]:
    found = sorted((folder / "annotations").glob("instances_*.json"))
    if not found and (folder / "images").is_dir():
        # not a mask-folders set's class names (classes.json) beside its images/
        found = sorted(p for p in folder.glob("*.json") if p.name != "classes.json")
    return found


def _split_of(path: Path) -> Split | None:
    tail = path.stem.removeprefix("instances_")
    return next((s for s in SPLITS if tail.startswith(s)), None)


def _resolve(root: Path, json_file: Path, file_name: str) -> Path:
    tail = json_file.stem.removeprefix("instances_")
    for base in (root / "images", root / "images" / tail, root / tail, root):
        if (base / file_name).is_file():
            return base / file_name
    return root / "images" / file_name


def read_coco(root: Path, source: Path) -> DetectionDataset:
    """Read every COCO json under ``root``; category ids sorted give the class indices."""
    problems: list[DetectionProblem] = []
    payloads: list[tuple[Path, dict[str, Any]]] = []
    for path in coco_files(root):
        name = rel_key(path, root)
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
        except json.JSONDecodeError as exc:
            where = f"line {exc.lineno} column {exc.colno}"
            problems.append(problem(name, where, f"malformed JSON ({exc.msg})", "skipped", "file"))
            continue
        except (OSError, UnicodeDecodeError) as exc:
            problems.append(problem(name, None, f"unreadable ({exc})", "skipped", "file"))
            continue
        if not isinstance(data, dict):
            problems.append(problem(name, None, "top level is not an object", "skipped", "file"))
            continue
        payloads.append((path, data))
    names: dict[int, str] = {}
    for _, data in payloads:
        for cat in data.get("categories", []):
            names.setdefault(int(cat["id"]), str(cat["name"]))
    category_ids = sorted(names)
    index = {cid: i for i, cid in enumerate(category_ids)}
    images: list[DetectionImage] = []
    seen: set[int] = set()
    for path, data in payloads:
        images += _read_file(root, path, data, index, seen, problems)
    return DetectionDataset(
        root=root,
        source=source,
        layout="coco",
        classes=[names[c] for c in category_ids],
        images=images,
        problems=problems,
        category_ids=category_ids,
    )


def _read_file(
    root: Path,
    path: Path,
    data: dict[str, Any],
    index: dict[int, int],
    seen: set[int],
    problems: list[DetectionProblem],
) -> list[DetectionImage]:
    name, split = rel_key(path, root), _split_of(path)
    entries: dict[int, tuple[Path, tuple[int, int]]] = {}
    order: list[int] = []
    for k, entry in enumerate(data.get("images", [])):
        where = f"images[{k}]"
        image_id = int(entry["id"])
        if image_id in seen:
            what = f"duplicate image id {image_id}"
            problems.append(problem(name, where, what, "skipped", "image"))
            continue
        file = _resolve(root, path, str(entry["file_name"]))
        size = image_size(file)
        if isinstance(size, str):
            what = f"{size}: {rel_key(file, root)}"
            problems.append(problem(name, where, what, "skipped", "image"))
            continue
        seen.add(image_id)
        entries[image_id] = (file, size)
        order.append(image_id)
    raw: dict[int, list[RawBox]] = {i: [] for i in order}
    annotations = data.get("annotations", [])
    with_masks = any(isinstance(a, dict) and a.get("segmentation") for a in annotations)
    for k, ann in enumerate(annotations):
        where = f"annotations[{k}]"
        image_id, cat = ann.get("image_id"), ann.get("category_id")
        if image_id not in raw:
            what = f"image_id {image_id} is not among the file's readable images"
            problems.append(problem(name, where, what, "dropped", "annotation"))
            continue
        if cat not in index:
            what = f"unknown category_id {cat}"
            problems.append(problem(name, where, what, "dropped", "annotation"))
            continue
        try:
            x, y, w, h = (float(v) for v in ann["bbox"])
        except (KeyError, TypeError, ValueError):
            what = f"bbox {ann.get('bbox')!r} is not 4 numbers [x, y, w, h]"
            problems.append(problem(name, where, what, "dropped", "annotation"))
            continue
        crowd = bool(ann.get("iscrowd", 0))
        seg = ann.get("segmentation")
        if seg is not None and (seg or with_masks):
            width, height = entries[image_id][1]
            why = segmentation_problem(seg, height, width)
            if why is not None:
                what = (
                    f"segmentation {why}; the box is kept without a mask, fix or remove the"
                    " segmentation to use it"
                )
                problems.append(problem(name, f"{where}.segmentation", what, "dropped", "mask"))
                seg = None
        else:
            seg = None
        raw[image_id].append(RawBox(x, y, x + w, y + h, index[cat], crowd, where, seg))
    return [
        build_image(
            path=entries[i][0],
            key=rel_key(entries[i][0], root),
            image_id=i,
            size=entries[i][1],
            raw=raw[i],
            file=name,
            problems=problems,
            split=split,
        )
        for i in order
    ]


def write_coco(ds: DetectionDataset, out: Path) -> Path:
    """Write ``out/images/<split>/`` and ``out/annotations/instances_<split>.json``.

    A box with a mask gets its ``segmentation`` as read and its ``area`` is the mask's (else the
    box's), so COCO to COCO keeps masks exactly.

    Raises:
        DatasetError: ``out`` is not a new or empty folder, or a mask does not fit its image.
    """
    out = prepare_out(out)
    ids = ds.category_ids or list(range(1, len(ds.classes) + 1))
    names = output_names(ds.images)
    per_split: dict[str, list[tuple[DetectionImage, str]]] = {}
    for img, fname in zip(ds.images, names, strict=True):
        per_split.setdefault(split_dir(img.split), []).append((img, fname))
    ann_id = 1
    (out / "annotations").mkdir()
    for split, members in per_split.items():
        (out / "images" / split).mkdir(parents=True)
        payload: dict[str, Any] = {
            "images": [],
            "annotations": [],
            "categories": [{"id": c, "name": n} for c, n in zip(ids, ds.classes, strict=True)],
        }
        for img, fname in members:
            shutil.copyfile(img.path, out / "images" / split / fname)
            payload["images"].append(
                {"id": img.image_id, "file_name": f"{split}/{fname}", "width": img.width,
                 "height": img.height}
            )  # fmt: skip
            masks = img.segmentations or (None,) * len(img.labels)
            for j, (box, label, crowd, seg) in enumerate(
                zip(img.boxes, img.labels, img.iscrowd, masks, strict=True)
            ):
                x0, y0, x1, y1 = (float(v) for v in box)
                ann: dict[str, Any] = {
                    "id": ann_id, "image_id": img.image_id, "category_id": ids[int(label)],
                    "bbox": [x0, y0, x1 - x0, y1 - y0], "area": (x1 - x0) * (y1 - y0),
                    "iscrowd": int(crowd),
                }  # fmt: skip
                if seg is not None:
                    ann["segmentation"] = seg
                    ann["area"] = float(_area(seg, img, j))
                payload["annotations"].append(ann)
                ann_id += 1
        target = out / "annotations" / f"instances_{split}.json"
        target.write_text(json.dumps(payload), encoding="utf-8")
    return out


def _area(seg: Any, img: DetectionImage, j: int) -> int:
    try:
        return mask_area(seg, img.height, img.width)
    except ValueError as exc:
        raise DatasetError(
            f"{img.key}: the mask of box {j} does not fit the {img.width}x{img.height} image"
            f" ({exc}); give a segmentation of that image or None"
        ) from None
