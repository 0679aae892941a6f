"""YOLO layout: ``data.yaml`` (``names``, ``train``/``val``/``test``), ``images/``, ``labels/``.

A split is a folder (``images/train``) or a ``.txt`` list of image paths, relative to the yaml's
folder or to its ``path`` key (a ``path`` that leaves the dataset's folder is ignored). A yaml
without split keys means every image under ``images/``, unsplit. An image's labels are in the
file found by replacing the last ``images`` folder of its path with ``labels`` and its suffix with
``.txt``; an image without one has no objects. Each label line is ``class cx cy w h``, normalised
to the image's displayed (EXIF-transposed) size. YOLO has no crowd flag.
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path
from typing import Any

import yaml

from imgrec.data.detection._common import (
    IMAGE_SUFFIXES,
    RawBox,
    build_image,
    image_size,
    output_names,
    prepare_out,
    problem,
    rel_key,
    split_dir,
)
from imgrec.data.detection.model import DetectionDataset, DetectionImage, DetectionProblem
from imgrec.data.manifest import SPLITS, Split
from imgrec.errors import DatasetError

__all__ = ["YAML_NAMES", "read_yolo", "write_yolo"]

YAML_NAMES = ("data.yaml", "data.yml", "dataset.yaml")
_FIELDS = "expected 5 fields (class cx cy w h)"


def _load_yaml(root: Path) -> tuple[str, dict[str, Any]]:
    path = next((root / n for n in YAML_NAMES if (root / n).is_file()), None)
    if path is None:
        raise DatasetError(f"{root}: no {' or '.join(YAML_NAMES)}; a YOLO dataset needs one")
    name = rel_key(path, root)
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" at line {mark.line + 1} column {mark.column + 1}" if mark else ""
        why = getattr(exc, "problem", None) or exc
        raise DatasetError(
            f"{name}: malformed YAML{where} ({why}); fix the file: a YOLO dataset cannot be read"
            " without its class names. Nothing in your folder was changed."
        ) from exc
    except (OSError, UnicodeDecodeError) as exc:
        raise DatasetError(f"{name}: unreadable ({exc})") from exc
    if not isinstance(data, dict) or "names" not in data:
        raise DatasetError(f"{name}: no 'names' key; list the class names, e.g. names: [cat, dog]")
    return name, data


def _class_names(name: str, names: Any) -> list[str]:
    if isinstance(names, list) and names:
        return [str(n) for n in names]
    if isinstance(names, dict) and names:
        try:
            by_id = {int(k): str(v) for k, v in names.items()}
        except (TypeError, ValueError):
            by_id = {}
        if sorted(by_id) == list(range(len(by_id))):
            return [by_id[i] for i in range(len(by_id))]
    raise DatasetError(
        f"{name}: 'names' must be a non-empty list of class names or a dict {{0: name, 1: ...}}"
        f" with ids 0..N-1; found {names!r}"
    )


def _inside(path: Path, root: Path) -> bool:
    return path.resolve().is_relative_to(root.resolve())


def _scan(folder: Path) -> list[Path]:
    return sorted(p for p in folder.rglob("*") if p.suffix.lower() in IMAGE_SUFFIXES)


def _split_images(
    root: Path, base: Path, name: str, key: str, entry: Any, problems: list[DetectionProblem]
) -> list[Path]:
    found: list[Path] = []
    for item in entry if isinstance(entry, list) else [entry]:
        target = Path(os.path.normpath(base / str(item)))
        if not target.exists() and str(item).startswith("../"):  # Roboflow's yaml, as Ultralytics
            target = Path(os.path.normpath(base / str(item)[3:]))
        if not _inside(target, root) or not target.exists():
            what = f"{item!r} is not a folder or .txt list inside the dataset"
            problems.append(problem(name, key, what, "skipped", "split"))
        elif target.is_dir():
            found += _scan(target)
        else:
            listed = rel_key(target, root)
            lines = target.read_text(encoding="utf-8", errors="replace").splitlines()
            for n, line in enumerate(lines, 1):
                if not line.strip():
                    continue
                rel = line.strip().removeprefix("./")
                image = next(
                    (p for p in (target.parent / rel, base / rel) if p.is_file()), base / rel
                )
                if _inside(image, root):
                    found.append(Path(os.path.normpath(image)))
                else:
                    what = f"{line.strip()!r} lies outside the dataset"
                    problems.append(problem(listed, f"line {n}", what, "skipped", "image"))
    return found


def _label_path(image: Path, root: Path) -> Path:
    parts = list(image.relative_to(root).parts)
    for i in range(len(parts) - 2, -1, -1):
        if parts[i] == "images":
            parts[i] = "labels"
            break
    return root.joinpath(*parts).with_suffix(".txt")


def _read_labels(
    file: Path, root: Path, size: tuple[int, int], n_classes: int, problems: list[DetectionProblem]
) -> list[RawBox]:
    name, (width, height) = rel_key(file, root), size
    boxes = []
    for n, line in enumerate(file.read_text(encoding="utf-8", errors="replace").splitlines(), 1):
        fields, where = line.split(), f"line {n}"
        if not fields:
            continue
        if len(fields) != 5:
            what = f"{_FIELDS}, found {len(fields)}"
            problems.append(problem(name, where, what, "dropped", "line"))
            continue
        try:
            cls_f, cx, cy, w, h = (float(v) for v in fields)
        except ValueError:
            what = f"{line.strip()!r} is not 5 numbers (class cx cy w h)"
            problems.append(problem(name, where, what, "dropped", "line"))
            continue
        if not cls_f.is_integer() or not 0 <= cls_f < n_classes:
            what = f"unknown class index {fields[0]} (names has {n_classes}: 0..{n_classes - 1})"
            problems.append(problem(name, where, what, "dropped", "line"))
            continue
        x0, y0 = (cx - w / 2) * width, (cy - h / 2) * height
        x1, y1 = (cx + w / 2) * width, (cy + h / 2) * height
        boxes.append(RawBox(x0, y0, x1, y1, int(cls_f), False, where))
    return boxes


def _orphan(label: Path, root: Path, yaml_name: str) -> DetectionProblem:
    parts = list(label.relative_to(root).parts)
    i = len(parts) - 2 - parts[-2::-1].index("labels")
    folder = root.joinpath(*parts[:i], "images", *parts[i + 1 : -1])
    found = (
        p for p in sorted(folder.glob(f"{label.stem}.*")) if p.suffix.lower() in IMAGE_SUFFIXES
    )
    image = next(found, None)
    if image is None:
        what = f"label file without an image (no {label.stem}.* in {rel_key(folder, root)}/)"
    else:
        what = f"its image {rel_key(image, root)} is in no split that {yaml_name} lists"
    return problem(rel_key(label, root), None, what, "skipped", "file")


def read_yolo(root: Path, source: Path) -> DetectionDataset:
    """Read the YOLO dataset whose yaml is in ``root``; the yaml's ``names`` give the classes.

    Raises:
        DatasetError: the yaml is malformed (with its line) or has no usable ``names``.
    """
    name, data = _load_yaml(root)
    classes = _class_names(name, data["names"])
    problems: list[DetectionProblem] = []
    base = root / str(data.get("path") or ".")
    if not base.is_dir() or not _inside(base, root):
        base = root
    keys = [s for s in SPLITS if data.get(s)]
    listed: list[tuple[Path, Split | None]] = []
    for split in keys:
        found = _split_images(root, base, name, split, data[split], problems)
        listed += [(p, split) for p in found]
    if not keys and (base / "images").is_dir():
        listed = [(p, None) for p in _scan(base / "images")]
    images: list[DetectionImage] = []
    used: set[Path] = set()
    for path, in_split in listed:
        key = rel_key(path, root)
        if path in used:
            problems.append(problem(key, None, "listed in more than one split", "skipped", "copy"))
            continue
        used.add(path)
        labels = _label_path(path, root)
        used.add(labels)
        size = image_size(path)
        if isinstance(size, str):
            problems.append(problem(key, None, size, "skipped", "image"))
            continue
        raw = _read_labels(labels, root, size, len(classes), problems) if labels.is_file() else []
        images.append(
            build_image(path=path, key=key, image_id=len(images) + 1, size=size, raw=raw,
                        file=rel_key(labels, root), problems=problems, split=in_split)
        )  # fmt: skip
    for orphan in sorted(root.rglob("*.txt")):
        if "labels" in orphan.relative_to(root).parts[:-1] and orphan not in used:
            problems.append(_orphan(orphan, root, name))
    return DetectionDataset(
        root=root, source=source, layout="yolo", classes=classes, images=images, problems=problems
    )


def _fmt(v: float) -> str:
    return f"{v:.10g}"


def write_yolo(ds: DetectionDataset, out: Path, *, drop_crowd: bool = False) -> Path:
    """Write ``out/data.yaml``, ``out/images/<split>/`` and ``out/labels/<split>/<stem>.txt``.

    Raises:
        DatasetError: a box is crowd (YOLO cannot mark it) and ``drop_crowd`` is not set, or
            ``out`` is not an empty folder. Nothing is written then.
    """
    crowd = sum(int(img.iscrowd.sum()) for img in ds.images)
    if crowd and not drop_crowd:
        n_img = sum(1 for img in ds.images if img.iscrowd.any())
        raise DatasetError(
            f"{crowd} crowd/difficult boxes in {n_img} images: YOLO has no field for them, so"
            " they would become ordinary objects. Pass drop_crowd=True to leave them out, or"
            " convert to COCO or VOC, which keep them. Nothing was written."
        )
    out = prepare_out(out)
    splits: list[str] = []
    for img, fname in zip(ds.images, output_names(ds.images), strict=True):
        split = split_dir(img.split)
        if split not in splits:
            splits.append(split)
            (out / "images" / split).mkdir(parents=True)
            (out / "labels" / split).mkdir(parents=True)
        shutil.copyfile(img.path, out / "images" / split / fname)
        lines = []
        for box, label, is_crowd in zip(img.boxes, img.labels, img.iscrowd, strict=True):
            if is_crowd:
                continue
            x0, y0, x1, y1 = (float(v) for v in box)
            w, h = (x1 - x0) / img.width, (y1 - y0) / img.height
            cx, cy = (x0 + x1) / 2 / img.width, (y0 + y1) / 2 / img.height
            lines.append(f"{int(label)} {_fmt(cx)} {_fmt(cy)} {_fmt(w)} {_fmt(h)}\n")
        label_file = out / "labels" / split / Path(fname).with_suffix(".txt")
        label_file.write_text("".join(lines), encoding="utf-8")
    data: dict[str, Any] = {"path": "."}
    data.update({s: f"images/{s}" for s in SPLITS if s in splits})
    data.update({"nc": len(ds.classes), "names": list(ds.classes)})
    text = yaml.safe_dump(data, sort_keys=False, allow_unicode=True)
    (out / "data.yaml").write_text(text, encoding="utf-8")
    return out
