"""Openclipart drawings pasted onto real photos: a detection set with exact boxes (COCO layout).

Drawings come from Debian's ``openclipart-png`` (public-domain PNGs with alpha), photos from
``opencv-doc``'s sample images and scikit-image's bundled photos. Every drawing belongs to one
split (near-duplicates, such as a drawing and its ``_bw`` twin, go together), so no test object is
seen in training; photos are shared. A box is the tight box of the object's visible alpha > 127
pixels; with ``masks=True`` each annotation also gets those pixels as its mask (compressed COCO
RLE): the drawing's alpha > 127 at its pasted place and scale, less what later drawings cover, so
masks never overlap and the box is the mask's box. ``composite_sources.json`` and each
annotation's ``imgrec_source`` record the drawing used.
"""

from __future__ import annotations

import fnmatch
import json
import re
import tempfile
import warnings
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image

from imgrec.data.detection.coco import write_coco
from imgrec.data.detection.masks import encode_mask
from imgrec.data.detection.model import DetectionDataset, DetectionImage
from imgrec.data.manifest import Split
from imgrec.errors import DatasetError

__all__ = ["DEFAULT_CLASSES", "find_backgrounds", "find_openclipart", "write_composite_detection"]

OPENCLIPART = Path("/usr/share/openclipart/png")
OPENCV_EXAMPLES = Path("/usr/share/doc/opencv-doc/examples")
_HINT = "run scripts/install-real-data.sh (apt-get install openclipart-png opencv-doc)"
# fnmatch patterns on paths relative to the openclipart root; "!" excludes (chosen by looking:
# logos, scenes, signs, blueprints, groups and "image not found" placeholders are left out).
DEFAULT_CLASSES: dict[str, list[str]] = {
    "mammal": ["animals/mammals/*", "!*sleeping_bear_under*", "!*toro_al_tramonto*", "!*mhooo*",
               "!*stambecco*", "!*shaezy*", "!*skoynk*", "!*squeek*", "!*emule*", "!*contour_bat*",
               "!*cat_scrathing_post*", "!*elephant_symbol*"],
    "bird": ["animals/birds/*", "!*tux_didier*", "!*duck_yellow_ii*", "!*mirjam_meijer*",
             "!*stormo_di_uccelli*", "!*turkey_on_platter*", "!*contour_bat*", "!*wing_mitchell*"],
    "insect": ["animals/bugs/*", "!*virus_*", "!*quattro_farfalle*", "!*lumaca*"],
    "fruit": ["food/fruit/*", "!*juice*", "!*pie_*", "!*fruitcollection*", "!*slate-apple*",
              "!*straw_tote*", "!*tile_orange*", "!*tree_whit*", "!*turkey*", "!*kallisti*",
              "!*gumnut*", "!*champignon*", "!*_mateya_*", "!*candied*"],
    "vehicle": [f"transportation/*{k}*" for k in (
        "car", "truck", "bus", "hummer", "plane", "aircraft", "4wd", "trattore", "motorcycle",
        "bicycle", "bicicletta", "bike", "tramway", "chevrolet", "dodge", "toyota", "blazer",
        "formula_one", "abrams", "skoda", "vtt_", "autos")] + [
        "!*/roadsigns/*", "!*/aiga-symbols/*", "!*/boating/*", "!*bus_lane*", "!*bus_opposite*",
        "!*buses_and*", "!*shelby_cobra*", "!*bus_symbol*", "!*/airplane.png", "!*toy_paper*",
        "!*departing*"],
}  # fmt: skip
# opencv-doc sample photographs: no calibration patterns, renders, drawings (graffiti), text
# pages or paintings, and none showing a person or a real animal, bird, fruit or vehicle (it would
# be an unlabelled object: a person is a mammal to the model, home.jpg's sky holds birds).
OPENCV_PHOTOS = [f"data/{n}" for n in (
    "aero1.jpg", "aero3.jpg", "aloeL.jpg", "aloeR.jpg", "board.jpg", "building.jpg", "left.jpg",
    "right.jpg", "leuvenA.jpg", "leuvenB.jpg", "stuff.jpg", "rubberwhale1.png",
    "ela_original.jpg")] + ["hfs/data/001.jpg", "hfs/data/002.jpg", "reg/home.png",
    "alphamat/input_images/plant.jpg", "text/scenetext02.jpg", "text/scenetext04.jpg"]  # fmt: skip
SKIMAGE_PHOTOS = ["coffee", "rocket", "grass", "gravel"]  # not astronaut or camera: people
_MAX_PIXELS = 20_000_000  # a few drawings are 16000 px tall: skipped rather than decoded
_MIN_SIDE = 8


def find_openclipart(
    classes: dict[str, list[str]] | None = None, root: Path = OPENCLIPART
) -> dict[str, list[Path]]:
    """PNG paths per class by fnmatch rules (``"!"`` excludes); a file name is used once."""
    if not root.is_dir():
        raise DatasetError(f"openclipart drawings not found at {root}; {_HINT}")
    files = sorted(p.relative_to(root).as_posix() for p in root.rglob("*.png"))
    seen: set[str] = set()
    found: dict[str, list[Path]] = {}
    for name, rules in (classes or DEFAULT_CLASSES).items():
        keep = [r for r in rules if not r.startswith("!")]
        drop = [r[1:] for r in rules if r.startswith("!")]
        found[name] = []
        for rel in files:
            base = rel.rsplit("/", 1)[-1].lower()
            hit = any(fnmatch.fnmatch(rel, r) for r in keep)
            if hit and base not in seen and not any(fnmatch.fnmatch(rel, r) for r in drop):
                seen.add(base)
                found[name].append(root / rel)
    return found


def _is_photo(path: Path) -> bool:
    """A colour image at least 200 px a side (not a grey calibration pattern or a thumbnail)."""
    try:
        with Image.open(path) as im:
            side, rgb = min(im.size), np.asarray(im.convert("RGB").resize((64, 64)), np.float32)
    except OSError:
        return False
    return side >= 200 and float(np.abs(rgb - rgb.mean(2, keepdims=True)).mean()) > 3.0


def find_backgrounds(
    cache: Path, *, opencv_root: Path = OPENCV_EXAMPLES, skimage_names: list[str] | None = None
) -> list[Path]:
    """opencv-doc's colour photographs plus scikit-image's photos (saved as PNGs in ``cache``)."""
    if not (opencv_root / "data").is_dir():
        raise DatasetError(f"opencv-doc sample photos not found at {opencv_root}; {_HINT}")
    found = [opencv_root / n for n in OPENCV_PHOTOS if _is_photo(opencv_root / n)]
    names = SKIMAGE_PHOTOS if skimage_names is None else skimage_names
    if names:
        import skimage.data

        cache.mkdir(parents=True, exist_ok=True)
        for name in names:
            target = cache / f"skimage_{name}.png"
            if not target.is_file():
                pixels = getattr(skimage.data, name)()
                Image.fromarray(pixels[0] if isinstance(pixels, tuple) else pixels).save(target)
            found.append(target)
    return found


def _load_drawing(path: Path, max_side: int) -> np.ndarray | str:
    """The drawing cropped to its alpha > 127 box, longest side ``max_side``, or why not."""
    try:
        with warnings.catch_warnings(), Image.open(path) as im:
            warnings.simplefilter("ignore", Image.DecompressionBombWarning)
            if im.width * im.height > _MAX_PIXELS:
                return "too large"
            rgba = im.convert("RGBA")
    except (OSError, ValueError, Image.DecompressionBombError):
        return "unreadable"
    solid = rgba.getchannel("A").point(lambda v: 255 if v > 127 else 0)
    box = solid.getbbox()
    if box is None:
        return "empty alpha"
    if min(box[2] - box[0], box[3] - box[1]) < _MIN_SIDE:
        return "tiny"
    if np.asarray(solid.crop(box)).mean() > 0.98 * 255:
        return "no transparency"
    crop = rgba.crop(box)
    crop.thumbnail((max_side, max_side), Image.Resampling.LANCZOS)
    return np.asarray(crop)


def _group_key(path: Path, pixels: np.ndarray) -> tuple[str, int]:
    """Name stem without ``_bw`` and trailing numbers, and a difference hash of the pixels."""
    stem = re.sub(r"(?:[_.]+\d*r?|\d+r?)+$", "", path.stem.lower().replace("_bw", "")) or path.stem
    rgba = pixels.astype(np.float32) / 255
    gray = (rgba[..., :3].mean(2) * rgba[..., 3] + 1 - rgba[..., 3]) * 255
    small = np.asarray(Image.fromarray(gray.astype(np.uint8)).resize((9, 8)), np.int16)
    bits = (small[:, 1:] > small[:, :-1]).ravel()
    return stem, int(sum(1 << i for i, b in enumerate(bits) if b))


def _split_drawings(
    items: list[tuple[Path, np.ndarray]], rng: np.random.Generator, test: float, val: float
) -> dict[Split, list[int]]:
    """Indices of ``items`` per split; same-stem or near-identical drawings share a split."""
    keys = [_group_key(p, px) for p, px in items]
    parent = list(range(len(items)))

    def find(i: int) -> int:
        while parent[i] != i:
            i = parent[i]
        return i

    for i in range(len(items)):
        for j in range(i):
            same = keys[i][0] == keys[j][0] or bin(keys[i][1] ^ keys[j][1]).count("1") <= 3
            if same:
                parent[find(i)] = find(j)
    groups: dict[int, list[int]] = {}
    for i in range(len(items)):
        groups.setdefault(find(i), []).append(i)
    order = [groups[k] for k in sorted(groups)]
    out: dict[Split, list[int]] = {"test": [], "val": [], "train": []}
    for g in rng.permutation(len(order)):
        split: Split = "train"
        if len(out["test"]) < test * len(items):
            split = "test"
        elif len(out["val"]) < val * len(items):
            split = "val"
        out[split] += order[int(g)]
    return out


def _crowds(a: tuple[int, ...], b: tuple[int, ...]) -> bool:
    """IoU >= 0.3, or over half of the smaller box inside the other (no nesting)."""
    w = max(0, min(a[2], b[2]) - max(a[0], b[0]))
    h = max(0, min(a[3], b[3]) - max(a[1], b[1]))
    area_a, area_b = (a[2] - a[0]) * (a[3] - a[1]), (b[2] - b[0]) * (b[3] - b[1])
    return w * h >= 0.3 * (area_a + area_b - w * h) or w * h > 0.5 * min(area_a, area_b)


def _background(photo: np.ndarray, size: int, rng: np.random.Generator) -> np.ndarray:
    h, w = photo.shape[:2]
    side = int(min(h, w) * rng.uniform(0.5, 1.0))
    y, x = int(rng.integers(0, h - side + 1)), int(rng.integers(0, w - side + 1))
    crop = Image.fromarray(photo[y : y + side, x : x + side]).resize((size, size))
    pixels = np.asarray(crop, np.float32)
    return pixels[:, ::-1] if rng.random() < 0.5 else pixels


def _compose(
    canvas: np.ndarray,
    picks: list[tuple[int, np.ndarray]],
    rng: np.random.Generator,
) -> tuple[list[tuple[int, int, tuple[int, int, int, int]]], np.ndarray]:
    """Paste ``(label, rgba)`` drawings onto ``canvas`` (in place).

    Returns:
        ``(pick index, label, visible box)`` of the drawings kept, and the ``(H, W)`` map of
        which pick each pixel shows (its alpha > 127 and no later drawing's is; -1: none).
        ``owner == pick index`` is a kept object's visible mask; its box is that mask's box.
    """
    size = canvas.shape[0]
    owner = np.full((size, size), -1, np.int32)
    boxes: list[tuple[int, ...]] = []
    full: dict[int, int] = {}
    visible: dict[int, int] = {}  # pick index -> its pixels not covered by later drawings
    for k, (_, rgba) in enumerate(picks):
        longest = rng.uniform(0.15, 0.6) * size
        scale = longest / max(rgba.shape[:2])
        dims = (max(1, round(rgba.shape[1] * scale)), max(1, round(rgba.shape[0] * scale)))
        art = np.asarray(Image.fromarray(rgba).resize(dims, Image.Resampling.LANCZOS))
        art = art[:, ::-1] if rng.random() < 0.5 else art
        mask = art[..., 3] > 127
        if mask.sum() < _MIN_SIDE * _MIN_SIDE // 2:
            continue
        ys, xs = np.nonzero(mask)
        for _ in range(20):
            y = int(rng.integers(0, size - art.shape[0] + 1))
            x = int(rng.integers(0, size - art.shape[1] + 1))
            box = (x + xs.min(), y + ys.min(), x + xs.max() + 1, y + ys.max() + 1)
            region = owner[y : y + art.shape[0], x : x + art.shape[1]]
            covered = np.bincount(region[mask] + 1, minlength=len(picks) + 1)[1:]
            if not any(_crowds(box, b) for b in boxes) and all(
                covered[i] <= 0.2 * n for i, n in visible.items()
            ):
                break
        else:
            continue  # no free place: the object is skipped
        alpha = art[..., 3:4].astype(np.float32) / 255
        patch = canvas[y : y + art.shape[0], x : x + art.shape[1]]
        patch[:] = patch * (1 - alpha) + art[..., :3] * alpha
        region[mask] = k
        boxes.append(box)
        visible = {i: n - int(covered[i]) for i, n in visible.items()} | {k: int(mask.sum())}
        full[k] = int(mask.sum())
    kept = []
    for i in visible:
        ys, xs = np.nonzero(owner == i)
        if len(xs) and len(xs) >= 0.5 * full[i]:  # never below 0.8 by the rule above
            box4 = (int(xs.min()), int(ys.min()), int(xs.max()) + 1, int(ys.max()) + 1)
            kept.append((i, picks[i][0], box4))
    return kept, owner


def write_composite_detection(
    out: Path,
    *,
    drawings: dict[str, list[Path]],
    backgrounds: list[Path],
    n_images: int = 600,
    img_size: int = 256,
    objects_per_image: tuple[int, int] = (1, 4),
    seed: int = 0,
    test_fraction: float = 0.2,
    val_fraction: float = 0.1,
    masks: bool = False,
) -> Path:
    """Write ``n_images`` photos with 1-4 pasted drawings each and their boxes to ``out`` (COCO
    layout, images split test/val/train by ``test_fraction``/``val_fraction``, drawings split
    the same way by drawing). ``out`` must not exist or be empty.

    Args:
        out: The dataset folder to write.
        drawings: Class name -> drawing PNGs with alpha (:func:`find_openclipart`).
        backgrounds: Photos to paste onto (:func:`find_backgrounds`).
        n_images: Images in the set.
        img_size: Side of the square images.
        objects_per_image: Fewest and most drawings tried per image (a drawing with no free
            place, or mostly covered by later ones, is left out).
        seed: Seed of every random choice.
        test_fraction: Share of the images (and of each class's drawings) for test.
        val_fraction: Share of the images (and of each class's drawings) for val.
        masks: Also give each annotation its object's visible pixels as a compressed COCO RLE
            ``segmentation`` (and its ``area`` is the mask's): an instance-segmentation set,
            also read as a semantic one. Without it the set is the same, byte for byte, as one
            written before this option existed.

    Returns:
        ``out``.

    Raises:
        DatasetError: No drawings or photos, every drawing unusable, or too few drawings to give
            each split some.
    """
    rng = np.random.default_rng(seed)
    classes = [c for c in drawings if drawings[c]]
    if not classes or not backgrounds:
        raise DatasetError(f"no drawings or no background photos given; {_HINT}")
    skipped: dict[str, list[str]] = {}
    pools: dict[Split, list[list[tuple[Path, np.ndarray]]]] = {"train": [], "val": [], "test": []}
    for name in classes:
        items = []
        for path in sorted(drawings[name]):
            loaded = _load_drawing(path, max(_MIN_SIDE, round(0.6 * img_size)))
            if isinstance(loaded, str):
                skipped.setdefault(loaded, []).append(str(path))
            else:
                items.append((path, loaded))
        parts = _split_drawings(items, rng, test_fraction, val_fraction)
        for part, per_class in pools.items():
            per_class.append([items[i] for i in parts[part]])
    if not any(pools["train"]):
        raise DatasetError("every drawing was skipped (unreadable, empty or opaque); " + _HINT)
    photos = []
    for path in backgrounds:
        with Image.open(path) as im:
            photo = im.convert("RGB")
        photo.thumbnail((4 * img_size, 4 * img_size))
        photos.append(np.asarray(photo))
    n_test, n_val = round(n_images * test_fraction), round(n_images * val_fraction)
    order: list[Split] = [
        "test" if j < n_test else "val" if j < n_test + n_val else "train"
        for j in rng.permutation(n_images)
    ]
    empty = {s for s in order if not any(pools[s])}
    if empty:
        raise DatasetError(f"too few drawings to give the {sorted(empty)} split(s) any")
    lo, hi = objects_per_image
    sources: dict[int, tuple[str, list[str]]] = {}
    with tempfile.TemporaryDirectory(prefix="imgrec-composite-") as tmp:
        images: list[DetectionImage] = []
        for i, split in enumerate(order):
            usable = [c for c, pool in enumerate(pools[split]) if pool]
            b = int(rng.integers(len(photos)))
            canvas = _background(photos[b], img_size, rng).copy()
            picks, used = [], []
            for _ in range(int(rng.integers(lo, hi + 1))):
                label = usable[int(rng.integers(len(usable)))]
                choices = pools[split][label]
                path, pixels = choices[int(rng.integers(len(choices)))]
                picks.append((label, pixels))
                used.append(str(path))
            kept, owner = _compose(canvas, picks, rng)
            file = Path(tmp) / f"composite_{i:05d}.jpg"
            Image.fromarray(canvas.round().clip(0, 255).astype(np.uint8)).save(file, quality=92)
            sources[i + 1] = (str(backgrounds[b]), [used[k] for k, _, _ in kept])
            boxes = np.array([box for _, _, box in kept], np.float32).reshape(-1, 4)
            labels = np.array([label for _, label, _ in kept], np.int64)
            segs = tuple(encode_mask(owner == k) for k, _, _ in kept) if masks else ()
            images.append(DetectionImage(file, file.name, i + 1, img_size, img_size, boxes,
                                         labels, np.zeros(len(kept), bool), split,
                                         segs))  # fmt: skip
        ids = list(range(1, len(classes) + 1))
        write_coco(DetectionDataset(Path(tmp), Path(tmp), "coco", classes, images, [], ids), out)
    _annotate_sources(out, sources)
    summary: dict[str, Any] = {
        "seed": seed,
        "classes": classes,
        "drawings": {
            s: {c: sorted(str(p) for p, _ in pools[s][k]) for k, c in enumerate(classes)}
            for s in pools
        },
        "skipped_drawings": skipped,
        "backgrounds": [str(p) for p in backgrounds],
    }
    (out / "composite_sources.json").write_text(json.dumps(summary, indent=1), encoding="utf-8")
    return out


def _annotate_sources(out: Path, sources: dict[int, tuple[str, list[str]]]) -> None:
    """Add ``imgrec_background`` to each image and ``imgrec_source`` to each annotation."""
    for file in sorted((out / "annotations").glob("instances_*.json")):
        payload = json.loads(file.read_text(encoding="utf-8"))
        for entry in payload["images"]:
            entry["imgrec_background"] = sources[entry["id"]][0]
        seen: dict[int, int] = {}
        for ann in payload["annotations"]:
            k = seen.get(ann["image_id"], 0)
            ann["imgrec_source"] = sources[ann["image_id"]][1][k]
            seen[ann["image_id"]] = k + 1
        file.write_text(json.dumps(payload), encoding="utf-8")
