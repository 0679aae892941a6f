"""The ``mask-folders`` layout: ``images/`` beside ``masks/`` (or ``annotations/``, ``labels/``).

An image and its mask share their path under the two folders up to the suffix
(``images/train/street/a.jpg`` and ``masks/train/street/a.png``); a first folder level named
``train``, ``val`` (``valid``, ``validation``) or ``test`` is the split, in either folder. Class
names come from ``classes.txt`` or ``classes.json`` at the root (:mod:`.names`); how mask values
become classes (index masks, colour masks, 0/255 binary masks, "reduce zero label" sets) is
settled by :func:`~imgrec.data.segmentation.table.settle_table`.

Images without a mask are excluded and masks without an image skipped, each reported; so is a
name that two images (or two masks) share, ``a.jpg`` and ``a.png``: which belongs to the mask
cannot be told.
"""

from __future__ import annotations

import os
from collections import defaultdict
from pathlib import Path

from imgrec.data._found import SPLIT_ALIASES
from imgrec.data.archive import is_ignored_name
from imgrec.data.images import is_image_name
from imgrec.data.manifest import Split
from imgrec.data.segmentation.model import SegmentationDataset, SegmentationProblem
from imgrec.data.segmentation.names import read_names
from imgrec.data.segmentation.scan import Pair, finish, rel_key, scan_pairs
from imgrec.data.segmentation.table import settle_table
from imgrec.errors import DatasetError

__all__ = ["IMAGES_DIR", "MASK_DIRS", "is_mask_folders", "mask_dir", "read_mask_folders"]

IMAGES_DIR = "images"
MASK_DIRS = ("masks", "annotations", "labels")


def _has_image(folder: Path) -> bool:
    for _, dirs, files in os.walk(folder):
        dirs[:] = [d for d in dirs if not is_ignored_name(d)]
        if any(is_image_name(Path(f)) for f in files):
            return True
    return False


def mask_dir(root: Path) -> Path | None:
    """The mask folder of ``root`` (``masks/``, ``annotations/`` or ``labels/`` holding image
    files), or ``None``.

    Raises:
        DatasetError: two of them hold image files.
    """
    found = [root / n for n in MASK_DIRS if (root / n).is_dir() and _has_image(root / n)]
    if len(found) > 1:
        names = " and ".join(f"{p.name}/" for p in found)
        raise DatasetError(f"{root}: both {names} hold mask images; keep one mask folder")
    return found[0] if found else None


def is_mask_folders(path: Path) -> bool:
    """``images/`` with a mask folder beside it (cheap: listings only)."""
    return path.is_dir() and (path / IMAGES_DIR).is_dir() and mask_dir(path) is not None


def _listing(folder: Path, notes: list[str]) -> dict[tuple[Split | None, str], list[Path]]:
    """``{(split, path under the split without suffix): files}`` of the image files."""
    found: dict[tuple[Split | None, str], list[Path]] = defaultdict(list)
    aliased: set[str] = set()
    for here, dirs, files in os.walk(folder):
        dirs[:] = sorted(d for d in dirs if not is_ignored_name(d))
        for name in sorted(files):
            path = Path(here) / name
            if is_ignored_name(name) or not is_image_name(path):
                continue
            parts = path.relative_to(folder).with_suffix("").parts
            split = SPLIT_ALIASES.get(parts[0].lower()) if len(parts) > 1 else None
            if split is not None and parts[0] != split:
                aliased.add(f"{folder.name}/{parts[0]}")
            rest = "/".join(parts[1:] if split is not None else parts)
            found[(split, rest)].append(path)
    for name in sorted(aliased):
        notes.append(f"split folder '{name}' read as {SPLIT_ALIASES[name.split('/')[-1].lower()]}")
    return found


def _pairs(
    root: Path, masks: Path, problems: list[SegmentationProblem], notes: list[str]
) -> list[Pair]:
    images = _listing(root / IMAGES_DIR, notes)
    found = _listing(masks, notes)
    pairs = []
    for key in sorted(images, key=lambda k: (k[0] or "", k[1])):
        files = images[key]
        first = rel_key(files[0], root)
        if len(files) > 1:
            names = ", ".join(rel_key(p, root) for p in files)
            why = f"images {names} share one name, so which one a mask belongs to is unclear"
            advice = "rename all but one"
            problems.append(
                SegmentationProblem(first, None, "ambiguous-name", why, "excluded", advice)
            )
            continue
        candidates = found.get(key, [])
        if not candidates:
            where = f"{masks.name}/{key[0] + '/' if key[0] else ''}{key[1]}.png"
            why = f"no mask: expected {where} (any image suffix)"
            advice = "add its mask, or remove the image"
            problems.append(
                SegmentationProblem(first, None, "missing-mask", why, "excluded", advice)
            )
            continue
        if len(candidates) > 1:
            names = ", ".join(rel_key(p, root) for p in candidates)
            why = f"masks {names} all match this image"
            advice = "keep one mask per image"
            problems.append(
                SegmentationProblem(first, None, "ambiguous-name", why, "excluded", advice)
            )
            continue
        pairs.append(Pair(files[0], candidates[0], key[0]))
    for key in sorted(set(found) - set(images), key=lambda k: (k[0] or "", k[1])):
        for path in found[key]:
            why = f"no image for this mask under {IMAGES_DIR}/"
            advice = "add the image, or remove the mask"
            problems.append(
                SegmentationProblem(
                    rel_key(path, root), None, "orphan-mask", why, "skipped", advice
                )
            )
    return pairs


def read_mask_folders(root: Path, source: Path) -> SegmentationDataset:
    """Read the ``mask-folders`` layout at ``root`` (``source``: what the user gave).

    Raises:
        DatasetError: no mask folder, two of them, a malformed names file, or colour masks
            with more colours than 8-bit masks can number.
    """
    masks = mask_dir(root)
    if masks is None:
        raise DatasetError(f"{root}: no masks/ (or annotations/, labels/) folder of mask images")
    problems: list[SegmentationProblem] = []
    notes: list[str] = [f"layout: {IMAGES_DIR}/ with {masks.name}/"]
    names = read_names(root, notes)
    pairs = _pairs(root, masks, problems, notes)
    scanned = scan_pairs(pairs, root, problems)
    table = settle_table(scanned, names, notes)
    for i in table.excluded:
        why = "colour (RGB) mask in a set of index masks, and no classes.json gives colours"
        advice = "export it as an index mask like the others, or give classes.json colours"
        problems.append(
            SegmentationProblem(
                rel_key(scanned[i].pair.mask, root), None, "mixed-masks", why, "excluded", advice
            )
        )
    keep = [i for i in range(len(scanned)) if i not in set(table.excluded)]
    ds = SegmentationDataset(
        root=root,
        source=source,
        layout="mask-folders",
        classes=table.classes,
        images=[],
        palette=table.palette,
        binary_255=table.binary_255,
        problems=problems,
        notes=notes,
    )
    ds.images = finish(
        [scanned[i] for i in keep],
        ds,
        root=root,
        table=table.source,
        background=table.background,
        encodings=[table.encodings[i] for i in keep],
    )
    return ds
