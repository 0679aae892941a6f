"""Pascal VOC layout: ``Annotations/<id>.xml``, ``JPEGImages/``, ``ImageSets/Main/<split>.txt``.

Coordinates: VOC's are 1-based and inclusive (a box over pixel columns 0..9 has ``xmin=1``,
``xmax=10``), ours are 0-based with exclusive ends, so reading maps ``x0 = xmin - 1``,
``y0 = ymin - 1``, ``x1 = xmax``, ``y1 = ymax`` and writing does the inverse. Fractional values
are kept as they are (written with 10 significant digits, so a round trip is lossless).

``difficult`` objects are read as crowd (``iscrowd``: evaluation ignores them) and crowd boxes
are written ``difficult=1``. VOC itself has no class list: a ``labels.txt`` (or ``classes.txt``)
at the root, one name per line as CVAT and labelImg write it, gives the classes and their order;
without one the classes are the sorted set of object names over all readable files. Object names
missing from the list are appended (and reported). ``write_voc`` writes ``labels.txt``, so class
order and classes without objects survive a round trip.

Splits come from ``ImageSets/Main/{train,val,test}.txt`` (one id per line); ``trainval.txt``
counts, as train, only when neither ``train.txt`` nor ``val.txt`` exists. When those lists exist,
an XML that none of them names is reported and skipped. The size in the XML is checked against
the image, whose real (EXIF-transposed) size is used.
"""

from __future__ import annotations

import shutil

# ElementTree, not defusedxml (not installed, and no dependency is added for it): it never fetches
# external entities, and expat >= 2.4.1 (what current Pythons ship) caps entity expansion.
import xml.etree.ElementTree as ET
from dataclasses import dataclass
from pathlib import Path

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
from imgrec.data.detection.model import DetectionDataset, DetectionProblem
from imgrec.data.manifest import SPLITS, Split

__all__ = ["read_voc", "write_voc"]

_BOX = ("xmin", "ymin", "xmax", "ymax")


@dataclass
class _Parsed:
    xml: str
    image: Path
    size: tuple[int, int]
    objects: list[tuple[str, RawBox]]  # class name, box with a placeholder label
    split: Split | None


def _image_sets(root: Path) -> dict[str, tuple[Split, str, int]]:
    """``{id: (split, list file, line)}`` from ``ImageSets/Main``; empty when there are none."""
    folder = root / "ImageSets" / "Main"
    present = [s for s in (*SPLITS, "trainval") if (folder / f"{s}.txt").is_file()]
    if "train" in present or "val" in present:
        present = [s for s in present if s != "trainval"]
    listed: dict[str, tuple[Split, str, int]] = {}
    for name in present:
        split: Split = "train" if name == "trainval" else name  # type: ignore[assignment]
        file = folder / f"{name}.txt"
        text = file.read_text(encoding="utf-8", errors="replace")
        for n, line in enumerate(text.splitlines(), 1):
            if line.split():
                listed.setdefault(line.split()[0], (split, rel_key(file, root), n))
    return listed


def _image_file(root: Path, xml: Path, filename: str | None) -> Path | None:
    folder = root / "JPEGImages"
    if filename and filename.strip() and (folder / Path(filename.strip()).name).is_file():
        return folder / Path(filename.strip()).name
    found = (folder / f"{xml.stem}{s}" for s in sorted(IMAGE_SUFFIXES))
    return next((p for p in found if p.is_file()), None)


def _flag(text: str | None) -> bool:
    try:
        return bool(int(float(text or "0")))
    except (ValueError, OverflowError):
        return (text or "").strip().lower() == "true"


def _objects(
    top: ET.Element, name: str, problems: list[DetectionProblem]
) -> list[tuple[str, RawBox]]:
    found = []
    for k, obj in enumerate(top.findall("object")):
        where = f"object[{k}]"
        label = (obj.findtext("name") or "").strip()
        box = obj.find("bndbox")
        if not label:
            problems.append(problem(name, where, "object has no <name>", "dropped", "object"))
            continue
        if box is None:
            problems.append(problem(name, where, "object has no <bndbox>", "dropped", "object"))
            continue
        try:
            xmin, ymin, xmax, ymax = (float(box.findtext(t) or "") for t in _BOX)
        except ValueError:
            shown = ", ".join(f"{t}={box.findtext(t)!r}" for t in _BOX)
            what = f"<bndbox> needs numbers xmin, ymin, xmax, ymax; found {shown}"
            problems.append(problem(name, f"{where}/bndbox", what, "dropped", "object"))
            continue
        crowd = _flag(obj.findtext("difficult"))
        found.append((label, RawBox(xmin - 1, ymin - 1, xmax, ymax, -1, crowd, where)))
    return found


def _parse(
    path: Path, root: Path, split: Split | None, problems: list[DetectionProblem]
) -> _Parsed | None:
    name = rel_key(path, root)
    try:
        top = ET.parse(path).getroot()
    except ET.ParseError as exc:
        line, column = exc.position
        what = f"malformed XML ({str(exc).split(': line')[0]})"
        problems.append(problem(name, f"line {line} column {column + 1}", what, "skipped", "file"))
        return None
    except OSError as exc:
        problems.append(problem(name, None, f"unreadable ({exc})", "skipped", "file"))
        return None
    if top.tag != "annotation":
        what = f"root element is <{top.tag}>, not <annotation>"
        problems.append(problem(name, None, what, "skipped", "file"))
        return None
    filename = top.findtext("filename")
    image = _image_file(root, path, filename)
    if image is None:
        what = f"image file not found: JPEGImages/{filename or path.stem + '.*'}"
        problems.append(problem(name, "filename", what, "skipped", "image"))
        return None
    size = image_size(image)
    if isinstance(size, str):
        what = f"{size}: {rel_key(image, root)}"
        problems.append(problem(name, "filename", what, "skipped", "image"))
        return None
    try:
        declared = (int(float(top.findtext("size/width") or "")),
                    int(float(top.findtext("size/height") or "")))  # fmt: skip
    except (ValueError, OverflowError):
        declared = size  # no size or an unreadable one: the image's own is used anyway
    if declared != size:
        what = (
            f"<size> {declared[0]}x{declared[1]} differs from the image's {size[0]}x{size[1]}"
            " — the image's real size is used"
        )
        problems.append(DetectionProblem(name, "size", what, "error"))
    return _Parsed(name, image, size, _objects(top, name, problems), split)


_LABEL_FILES = ("labels.txt", "classes.txt")


def _class_list(root: Path, parsed: list[_Parsed], problems: list[DetectionProblem]) -> list[str]:
    """The root's ``labels.txt`` order (unlisted names appended), else the sorted names."""
    seen = sorted({label for p in parsed for label, _ in p.objects})
    listing = next((root / n for n in _LABEL_FILES if (root / n).is_file()), None)
    if listing is None:
        return seen
    names = [ln.strip() for ln in listing.read_text(encoding="utf-8").splitlines() if ln.strip()]
    classes = list(dict.fromkeys(names))
    for name in seen:
        if name not in classes:
            what = f"object name {name!r} is not in {listing.name}"
            problems.append(
                DetectionProblem(listing.name, None, f"{what} — class appended", "error")
            )
            classes.append(name)
    return classes


def read_voc(root: Path, source: Path) -> DetectionDataset:
    """Read ``root/Annotations/*.xml``; classes from ``labels.txt`` or the sorted object names."""
    problems: list[DetectionProblem] = []
    listed = _image_sets(root)
    parsed: list[_Parsed] = []
    xml_files = sorted((root / "Annotations").glob("*.xml"))
    for path in xml_files:
        entry = listed.get(path.stem)
        if listed and entry is None:
            what = "not named in any ImageSets/Main/{train,val,test}.txt"
            problems.append(problem(rel_key(path, root), None, what, "skipped", "file"))
            continue
        found = _parse(path, root, entry[0] if entry else None, problems)
        if found is not None:
            parsed.append(found)
    stems = {p.stem for p in xml_files}
    for voc_id, (_, file, n) in listed.items():
        if voc_id not in stems:
            what = f"id {voc_id!r} has no Annotations/{voc_id}.xml"
            problems.append(problem(file, f"line {n}", what, "skipped", "image"))
    classes = _class_list(root, parsed, problems)
    index = {c: i for i, c in enumerate(classes)}
    images = [
        build_image(
            path=p.image,
            key=rel_key(p.image, root),
            image_id=i,
            size=p.size,
            raw=[box._replace(label=index[label]) for label, box in p.objects],
            file=p.xml,
            problems=problems,
            split=p.split,
        )
        for i, p in enumerate(parsed, 1)
    ]
    return DetectionDataset(
        root=root, source=source, layout="voc", classes=classes, images=images, problems=problems
    )


def _sub(parent: ET.Element, tag: str, text: str | int) -> ET.Element:
    child = ET.SubElement(parent, tag)
    child.text = str(text)
    return child


def write_voc(ds: DetectionDataset, out: Path) -> Path:
    """Write ``out/Annotations/<stem>.xml``, ``out/JPEGImages/`` and ``ImageSets/Main/<split>.txt``.

    Raises:
        DatasetError: ``out`` is not an empty folder.
    """
    out = prepare_out(out)
    for folder in ("Annotations", "JPEGImages", "ImageSets/Main"):
        (out / folder).mkdir(parents=True)
    ids: dict[str, list[str]] = {}
    for img, fname in zip(ds.images, output_names(ds.images), strict=True):
        stem = Path(fname).stem
        shutil.copyfile(img.path, out / "JPEGImages" / fname)
        ids.setdefault(split_dir(img.split), []).append(stem)
        top = ET.Element("annotation")
        _sub(top, "folder", "JPEGImages")
        _sub(top, "filename", fname)
        size = ET.SubElement(top, "size")
        for tag, value in (("width", img.width), ("height", img.height), ("depth", 3)):
            _sub(size, tag, value)
        _sub(top, "segmented", 0)
        for box, label, crowd in zip(img.boxes, img.labels, img.iscrowd, strict=True):
            obj = ET.SubElement(top, "object")
            _sub(obj, "name", ds.classes[int(label)])
            _sub(obj, "pose", "Unspecified")
            _sub(obj, "truncated", 0)
            _sub(obj, "difficult", int(crowd))
            bndbox = ET.SubElement(obj, "bndbox")
            x0, y0, x1, y1 = (float(v) for v in box)
            for tag, v in zip(_BOX, (x0 + 1, y0 + 1, x1, y1), strict=True):
                _sub(bndbox, tag, f"{v:.10g}")
        ET.indent(top)
        ET.ElementTree(top).write(out / "Annotations" / f"{stem}.xml", encoding="utf-8")
    for split in SPLITS:
        if split in ids:
            lines = "".join(f"{stem}\n" for stem in ids[split])
            (out / "ImageSets" / "Main" / f"{split}.txt").write_text(lines, encoding="utf-8")
    (out / "labels.txt").write_text("".join(f"{c}\n" for c in ds.classes), encoding="utf-8")
    return out
