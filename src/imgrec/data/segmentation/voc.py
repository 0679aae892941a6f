"""Pascal VOC segmentation: ``SegmentationClass/<id>.png``, ``JPEGImages/<id>.jpg`` and
``ImageSets/Segmentation/<split>.txt``.

VOC masks are palette PNGs whose indices are the 21 VOC classes (0 background .. 20 tvmonitor)
and 255 the void border (ignore). RGB masks (a VOC set re-saved, or CVAT's export) read through
the VOC colour palette, void ``(224, 224, 192)`` included; a ``labelmap.txt`` at the root (CVAT:
``name:r,g,b::`` lines) replaces the VOC names and colours.

Splits come from ``ImageSets/Segmentation/{train,val,test}.txt``; ``trainval.txt`` counts, as
train, only when neither ``train.txt`` nor ``val.txt`` exists (as for VOC detection). With such
lists, a mask none names is skipped; listed ids without a mask are reported once per list (VOC's
``test.txt`` has none). The many ``JPEGImages`` without a mask (detection-only images) are
counted in a note. The folder may hold ``Annotations/`` too: the ``voc`` detection reader keeps
reading it for task ``detect``; this reader serves task ``segment``.
"""

from __future__ import annotations

from pathlib import Path

from imgrec.data.images import IMAGE_EXTENSIONS, is_image_name
from imgrec.data.manifest import SPLITS, Split
from imgrec.data.segmentation.model import MaskEncoding, SegmentationDataset, SegmentationProblem
from imgrec.data.segmentation.scan import Pair, finish, rel_key, scan_pairs
from imgrec.errors import DatasetError

__all__ = ["VOC_CLASSES", "VOC_VOID", "is_voc_segmentation", "read_voc_segmentation", "voc_palette"]

VOC_CLASSES: tuple[str, ...] = (
    "background", "aeroplane", "bicycle", "bird", "boat", "bottle", "bus", "car", "cat", "chair",
    "cow", "diningtable", "dog", "horse", "motorbike", "person", "pottedplant", "sheep", "sofa",
    "train", "tvmonitor",
)  # fmt: skip
VOC_VOID = (224, 224, 192)  # the colour of index 255 in the VOC palette
_MASKS, _IMAGES, _SETS = "SegmentationClass", "JPEGImages", "ImageSets/Segmentation"


def voc_palette(n: int = 256) -> list[tuple[int, int, int]]:
    """The VOC colour map: index ``i``'s colour (bits of ``i`` spread over r, g, b)."""
    colours = []
    for i in range(n):
        r = g = b = 0
        c = i
        for j in range(8):
            r |= (c & 1) << (7 - j)
            g |= (c >> 1 & 1) << (7 - j)
            b |= (c >> 2 & 1) << (7 - j)
            c >>= 3
        colours.append((r, g, b))
    return colours


def is_voc_segmentation(path: Path) -> bool:
    """``SegmentationClass/`` holding at least one mask image (cheap)."""
    folder = path / _MASKS
    return folder.is_dir() and any(is_image_name(p) for p in folder.iterdir())


def _image_sets(root: Path) -> dict[str, tuple[Split, str, int]]:
    """``{id: (split, list file, line)}`` from ``ImageSets/Segmentation``; empty without lists."""
    folder = root / _SETS
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


def _labelmap(root: Path) -> tuple[list[str], list[tuple[int, int, int]]] | None:
    path = root / "labelmap.txt"
    if not path.is_file():
        return None
    names, colours = [], []
    for n, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
        if not line.strip() or line.lstrip().startswith("#"):
            continue
        parts = line.split(":")
        try:
            r, g, b = (int(v) for v in parts[1].split(","))
        except (IndexError, ValueError) as exc:
            raise DatasetError(
                f"labelmap.txt line {n}: expected 'name:r,g,b::', got {line.strip()!r}"
            ) from exc
        names.append(parts[0].strip())
        colours.append((r, g, b))
    if not names or len(set(colours)) != len(colours) or len(names) > 255:
        raise DatasetError("labelmap.txt: needs 1-255 classes, each with its own colour")
    return names, colours


def _image_of(root: Path, stem: str) -> Path | None:
    found = (root / _IMAGES / f"{stem}{s}" for s in (".jpg", *sorted(IMAGE_EXTENSIONS)))
    return next((p for p in found if p.is_file()), None)


def _pairs(root: Path, problems: list[SegmentationProblem], notes: list[str]) -> list[Pair]:
    listed = _image_sets(root)
    masks = sorted(p for p in (root / _MASKS).iterdir() if is_image_name(p))
    pairs = []
    for mask in masks:
        entry = listed.get(mask.stem)
        name = rel_key(mask, root)
        if listed and entry is None:
            why = f"not named in any {_SETS}/{{train,val,test}}.txt"
            advice = "add its id to a split list, or remove the mask"
            problems.append(SegmentationProblem(name, None, "unlisted", why, "skipped", advice))
            continue
        image = _image_of(root, mask.stem)
        if image is None:
            why = f"no image {_IMAGES}/{mask.stem}.jpg for this mask"
            advice = "add the image, or remove the mask"
            problems.append(SegmentationProblem(name, None, "orphan-mask", why, "skipped", advice))
            continue
        pairs.append(Pair(image, mask, entry[0] if entry else None))
    stems = {m.stem for m in masks}
    missing: dict[str, list[tuple[str, int]]] = {}
    for voc_id, (_, file, n) in listed.items():
        if voc_id not in stems:
            missing.setdefault(file, []).append((voc_id, n))
    for file, ids in missing.items():
        first, line = ids[0]
        why = f"{len(ids)} listed id(s) have no {_MASKS}/<id>.png (first: {first!r} at line {line})"
        advice = "add the masks, or leave those ids out (VOC's test.txt ships without masks)"
        problems.append(SegmentationProblem(file, None, "listed-missing", why, "skipped", advice))
    if (root / _IMAGES).is_dir():
        extra = sum(
            1 for p in (root / _IMAGES).iterdir() if is_image_name(p) and p.stem not in stems
        )
        if extra:
            notes.append(f"{extra} image(s) in {_IMAGES}/ have no mask (detection-only): not used")
    if (root / "SegmentationObject").is_dir():
        notes.append("SegmentationObject/ (instance masks) is not read: semantic masks only")
    return pairs


def read_voc_segmentation(root: Path, source: Path) -> SegmentationDataset:
    """Read the VOC segmentation layout at ``root`` (``source``: what the user gave).

    Raises:
        DatasetError: ``labelmap.txt`` is malformed.
    """
    problems: list[SegmentationProblem] = []
    notes: list[str] = []
    custom = _labelmap(root)
    if custom is None:
        classes, colours, table = (
            list(VOC_CLASSES),
            voc_palette(len(VOC_CLASSES)),
            "the VOC classes",
        )
    else:
        (classes, colours), table = custom, "labelmap.txt"
        notes.append(f"classes and colours from labelmap.txt ({len(classes)} classes)")
    palette = dict(enumerate(colours))
    palette.setdefault(255, VOC_VOID)
    scanned = scan_pairs(_pairs(root, problems, notes), root, problems)
    encodings: list[MaskEncoding] = ["colour" if s.rgb and not s.grey else "index" for s in scanned]
    ds = SegmentationDataset(
        root=root,
        source=source,
        layout="voc-seg",
        classes=classes,
        images=[],
        palette=palette,
        problems=problems,
        notes=notes,
    )
    ds.images = finish(scanned, ds, root=root, table=table, background=0, encodings=encodings)
    return ds
