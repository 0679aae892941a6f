"""A synthetic "shapes" dataset: coloured shapes on noisy gradient backgrounds.

Every image comes with a :class:`ShapesRecord` that says exactly what was drawn: for each object
its class, bounding box, geometry (centre, radius, rotation, vertices), colour, and a caption for
the whole image ("a small red circle near the top left"). Masks are rasterised from a record with
:func:`render_mask` by the same code that drew the image, so detection, segmentation, captioning
and the Grad-CAM pointing game can all reuse this generator without a second source of truth.

Generation is deterministic: image ``i`` of seed ``s`` depends on ``(s, i)`` only, so the first
``k`` images of ``make_shapes(n)`` are those of ``make_shapes(k)``.

Coordinates are continuous pixel coordinates: pixel ``(row r, column c)`` covers
``[c, c + 1) x [r, r + 1)``; a bounding box ``(x0, y0, x1, y1)`` is in the same units (COCO-like,
``x1``/``y1`` exclusive).
"""

from __future__ import annotations

import json
import math
import shutil
import tempfile
from collections.abc import Sequence
from dataclasses import asdict, dataclass, replace
from pathlib import Path
from typing import Any, Literal, NamedTuple

import numpy as np
from PIL import Image, ImageDraw

from imgrec._files import make_temp_dir
from imgrec.errors import ConfigError, DatasetError

__all__ = [
    "ANNOTATIONS_FILE",
    "DEFAULT_CLASSES",
    "SHAPE_KINDS",
    "ShapeObject",
    "Shapes",
    "ShapesRecord",
    "make_shapes",
    "read_annotations",
    "render_image",
    "render_mask",
    "write_shapes_dataset",
]

SHAPE_KINDS: tuple[str, ...] = (
    "circle",
    "square",
    "triangle",
    "star",
    "cross",
    "hexagon",
    "pentagon",
)
DEFAULT_CLASSES: tuple[str, ...] = ("circle", "square", "triangle", "star")
ANNOTATIONS_FILE = "annotations.json"

# Named base colours; an object's colour is one of these, jittered, so its caption stays true.
_COLOURS: dict[str, tuple[int, int, int]] = {
    "red": (220, 40, 40),
    "green": (40, 170, 60),
    "blue": (40, 80, 220),
    "yellow": (235, 215, 40),
    "orange": (240, 140, 30),
    "purple": (140, 50, 180),
    "pink": (240, 120, 180),
    "cyan": (40, 200, 210),
    "white": (240, 240, 240),
    "black": (20, 20, 20),
}
_SIZE_RANGE_SINGLE = (0.25, 0.60)  # circumscribed diameter as a fraction of the image side
_SIZE_RANGE_MULTI = (0.15, 0.35)
_SUPERSAMPLE = 4  # anti-aliasing factor; the mask is coverage >= 0.5 at this resolution
_MIN_CONTRAST = 110.0  # RGB distance between an object's colour and the background under it
_SPLIT_FRACTIONS = (0.7, 0.15)  # train, val; test takes the rest


@dataclass(frozen=True)
class ShapeObject:
    """One drawn shape.

    Attributes:
        kind: Shape kind (one of :data:`SHAPE_KINDS`); also the class name.
        label: Index of ``kind`` in the dataset's class list.
        bbox: ``(x0, y0, x1, y1)`` in pixels, tight around the geometry.
        center: ``(x, y)`` of the shape's centre in pixels.
        radius: Circumscribed radius in pixels (the circle's radius; the polygon's outer radius).
        rotation: Rotation in degrees, counter-clockwise on screen.
        vertices: Polygon outline ``[(x, y), ...]`` (a 32-gon approximation for circles, which
            are drawn as exact circles).
        colour: RGB colour as drawn (before the image noise).
        colour_name: The named colour the RGB value was jittered from (used in captions).
        size_word: ``"small"``, ``"medium"`` or ``"large"`` (used in captions).
        position_words: Where the centre lies, e.g. ``"top left"``, ``"centre"``.
    """

    kind: str
    label: int
    bbox: tuple[float, float, float, float]
    center: tuple[float, float]
    radius: float
    rotation: float
    vertices: tuple[tuple[float, float], ...]
    colour: tuple[int, int, int]
    colour_name: str
    size_word: str
    position_words: str

    @property
    def phrase(self) -> str:
        """``"a small red circle near the top left"``."""
        where = (
            "in the centre"
            if self.position_words == "centre"
            else f"near the {self.position_words}"
        )
        return f"a {self.size_word} {self.colour_name} {self.kind} {where}"

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> ShapeObject:
        x0, y0, x1, y1 = _floats(data["bbox"], 4)
        r, g, b = (int(c) for c in _floats(data["colour"], 3))
        return cls(
            kind=str(data["kind"]),
            label=int(data["label"]),
            bbox=(x0, y0, x1, y1),
            center=_point(data["center"]),
            radius=float(data["radius"]),
            rotation=float(data["rotation"]),
            vertices=tuple(_point(v) for v in data["vertices"]),
            colour=(r, g, b),
            colour_name=str(data["colour_name"]),
            size_word=str(data["size_word"]),
            position_words=str(data["position_words"]),
        )


@dataclass(frozen=True)
class ShapesRecord:
    """What one generated image shows.

    Attributes:
        index: Position of the image in its generation sequence.
        width: Image width in pixels.
        height: Image height in pixels.
        objects: The shapes drawn, in drawing order (they never overlap).
        caption: One sentence describing the image.
        path: Path of the PNG relative to the dataset root (``None`` for in-memory images).
        split: ``"train"``, ``"val"`` or ``"test"`` when written with splits, else ``None``.
    """

    index: int
    width: int
    height: int
    objects: tuple[ShapeObject, ...]
    caption: str
    path: str | None = None
    split: str | None = None

    @property
    def label(self) -> int:
        """The label of the first (for classification: the only) object."""
        return self.objects[0].label

    @property
    def class_name(self) -> str:
        return self.objects[0].kind

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready dict; :meth:`from_dict` gives back an equal record."""
        data = asdict(self)
        data["label"] = self.label
        data["class_name"] = self.class_name
        return data

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> ShapesRecord:
        return cls(
            index=int(data["index"]),
            width=int(data["width"]),
            height=int(data["height"]),
            objects=tuple(ShapeObject.from_dict(o) for o in data["objects"]),
            caption=str(data["caption"]),
            path=data.get("path"),
            split=data.get("split"),
        )


class Shapes(NamedTuple):
    """In-memory shapes: ``images`` uint8 ``(N, H, W, 3)``, ``labels`` int64 ``(N,)``, records."""

    images: np.ndarray
    labels: np.ndarray
    records: list[ShapesRecord]


def _floats(values: Sequence[Any], n: int) -> tuple[float, ...]:
    out = tuple(float(v) for v in values)
    if len(out) != n:
        raise DatasetError(f"shapes record: expected {n} numbers, got {list(values)!r}")
    return out


def _point(values: Sequence[Any]) -> tuple[float, float]:
    x, y = _floats(values, 2)
    return x, y


def _check_classes(classes: Sequence[str]) -> list[str]:
    names = list(classes)
    unknown = [c for c in names if c not in SHAPE_KINDS]
    if unknown:
        raise ConfigError(f"unknown shape class(es) {unknown}; choose from {list(SHAPE_KINDS)}")
    if len(names) < 1 or len(set(names)) != len(names):
        raise ConfigError(f"shape classes must be distinct and non-empty, got {names}")
    return names


def _unit_outline(kind: str) -> list[tuple[float, float]]:
    """The outline of ``kind`` around the origin with circumscribed radius 1, unrotated."""

    def ring(n: int, start: float = -90.0, radius: float = 1.0) -> list[tuple[float, float]]:
        return [
            (
                radius * math.cos(math.radians(start + 360.0 * k / n)),
                radius * math.sin(math.radians(start + 360.0 * k / n)),
            )
            for k in range(n)
        ]

    if kind == "circle":
        return ring(32)
    if kind == "square":
        return ring(4, start=45.0)
    if kind == "triangle":
        return ring(3)
    if kind == "pentagon":
        return ring(5)
    if kind == "hexagon":
        return ring(6, start=0.0)
    if kind == "star":
        outer, inner = ring(5), ring(5, start=-54.0, radius=0.42)
        return [p for pair in zip(outer, inner, strict=True) for p in pair]
    if kind == "cross":
        a, b = 1.0 / math.sqrt(2.0), 0.3 / math.sqrt(2.0)  # arm half-length, half-width (r = 1)
        return [(b, -a), (b, -b), (a, -b), (a, b), (b, b), (b, a),
                (-b, a), (-b, b), (-a, b), (-a, -b), (-b, -b), (-b, -a)]  # fmt: skip
    raise ConfigError(f"unknown shape kind {kind!r}; choose from {list(SHAPE_KINDS)}")


def _geometry(
    kind: str, center: tuple[float, float], radius: float, rotation: float
) -> tuple[tuple[tuple[float, float], ...], tuple[float, float, float, float]]:
    """Vertices and tight bbox of a shape (rounded to 1/1000 px so JSON round-trips exactly)."""
    theta = math.radians(-rotation)  # counter-clockwise on screen (y grows downwards)
    cos, sin = math.cos(theta), math.sin(theta)
    cx, cy = center
    verts = tuple(
        (round(cx + radius * (x * cos - y * sin), 3), round(cy + radius * (x * sin + y * cos), 3))
        for x, y in _unit_outline(kind)
    )
    if kind == "circle":
        bbox = (cx - radius, cy - radius, cx + radius, cy + radius)
    else:
        xs, ys = [v[0] for v in verts], [v[1] for v in verts]
        bbox = (min(xs), min(ys), max(xs), max(ys))
    return verts, (round(bbox[0], 3), round(bbox[1], 3), round(bbox[2], 3), round(bbox[3], 3))


def _coverage(
    objects: Sequence[ShapeObject], height: int, width: int, scale: tuple[float, float]
) -> np.ndarray:
    """Fraction of each pixel covered by ``objects`` (float32 ``(H, W)`` in [0, 1])."""
    ss = _SUPERSAMPLE
    sx, sy = scale[0] * ss, scale[1] * ss
    canvas = Image.new("L", (width * ss, height * ss), 0)
    draw = ImageDraw.Draw(canvas)
    for obj in objects:
        if obj.kind == "circle":
            (cx, cy), r = obj.center, obj.radius
            # PIL fills pixel centres inside the box; -0.5 maps continuous coords to pixel indices
            draw.ellipse(
                (
                    (cx - r) * sx - 0.5,
                    (cy - r) * sy - 0.5,
                    (cx + r) * sx - 0.5,
                    (cy + r) * sy - 0.5,
                ),
                fill=255,
            )
        else:
            draw.polygon([(x * sx - 0.5, y * sy - 0.5) for x, y in obj.vertices], fill=255)
    small = canvas.reduce(ss)  # box filter: mean over each ss x ss block
    return np.asarray(small, dtype=np.float32) / 255.0


def render_mask(
    record: ShapesRecord | ShapeObject,
    size: int | tuple[int, int] | None = None,
    *,
    object_index: int | None = None,
) -> np.ndarray:
    """Rasterise the object(s) of ``record`` to a boolean mask ``(H, W)``.

    Args:
        record: An image record (mask of all its objects, or of ``object_index`` only) or a
            single object (drawn in the pixel coordinates it was generated in).
        size: Output ``(H, W)`` or a side length. For an image record the geometry is scaled from
            the record's own size (``None``: that size), so a mask can match a resized image or a
            heatmap. For a single object, ``size`` is the canvas of the original image (required).
        object_index: With an image record, rasterise only this object.

    Returns:
        Boolean ``(H, W)``: True where at least half the pixel is covered, exactly as drawn.
    """
    if isinstance(record, ShapeObject):
        if size is None:
            raise ValueError("render_mask(object, size): size is required for a single object")
        objects: Sequence[ShapeObject] = [record]
        own = (size, size) if isinstance(size, int) else size
    else:
        objects = record.objects if object_index is None else [record.objects[object_index]]
        own = (record.height, record.width)
    height, width = own if size is None else ((size, size) if isinstance(size, int) else size)
    scale = (width / own[1], height / own[0])
    return _coverage(objects, height, width, scale) >= 0.5


def _position_words(cx: float, cy: float, size: int) -> str:
    col = min(int(3 * cx / size), 2)
    row = min(int(3 * cy / size), 2)
    vertical, horizontal = ("top", "", "bottom")[row], ("left", "", "right")[col]
    return " ".join(w for w in (vertical, horizontal) if w) or "centre"


def _background(rng: np.random.Generator, size: int) -> np.ndarray:
    """A muted linear gradient (grey with a tint, random direction), float32 ``(H, W, 3)``.

    Backgrounds are kept low in saturation and objects vivid, so shape, not colour, is what
    separates the classes; brightness still varies from near-black to near-white.
    """
    base = rng.uniform(30.0, 225.0) + rng.uniform(-30.0, 30.0, size=3)
    ends = np.clip(base + rng.uniform(-45.0, 45.0, size=(2, 1)), 0, 255).astype(np.float32)
    angle = rng.uniform(0.0, 2.0 * math.pi)
    yy, xx = np.mgrid[0:size, 0:size].astype(np.float32) + 0.5
    t = xx * math.cos(angle) + yy * math.sin(angle)
    t = (t - t.min()) / max(float(t.max() - t.min()), 1e-6)
    return ends[0] * (1.0 - t[..., None]) + ends[1] * t[..., None]


def _pick_colour(rng: np.random.Generator, under: np.ndarray) -> tuple[str, tuple[int, int, int]]:
    """A named colour, jittered, far enough from every background colour in ``under`` (K, 3)."""
    names = list(_COLOURS)
    best: tuple[float, str, tuple[int, int, int]] | None = None
    for _ in range(20):
        name = names[int(rng.integers(len(names)))]
        base = np.array(_COLOURS[name], dtype=np.float32)
        rgb = np.clip(base + rng.uniform(-25, 25, size=3), 0, 255)
        contrast = float(np.linalg.norm(under - rgb, axis=-1).min())
        colour = (int(rgb[0]), int(rgb[1]), int(rgb[2]))
        if contrast >= _MIN_CONTRAST:
            return name, colour
        if best is None or contrast > best[0]:
            best = (contrast, name, colour)
    assert best is not None
    return best[1], best[2]


def _place(
    rng: np.random.Generator,
    kind: str,
    *,
    label: int,
    size: int,
    others: Sequence[ShapeObject],
    size_range: tuple[float, float],
    rotate: bool,
) -> ShapeObject:
    """Choose size, rotation and a position that keeps the shape inside and off ``others``."""
    lo, hi = size_range
    for attempt in range(200):
        frac = rng.uniform(lo, hi) * (0.98 ** (attempt // 20))  # shrink if space is tight
        radius = round(frac * size / 2.0, 3)
        rotation = round(float(rng.uniform(0.0, 360.0)), 3) if rotate else 0.0
        _, box = _geometry(kind, (0.0, 0.0), radius, rotation)
        margin = 1.0
        cx = round(rng.uniform(margin - box[0], size - margin - box[2]), 3)
        cy = round(rng.uniform(margin - box[1], size - margin - box[3]), 3)
        verts, bbox = _geometry(kind, (cx, cy), radius, rotation)
        clear = all(
            bbox[2] + margin <= o.bbox[0] or o.bbox[2] + margin <= bbox[0]
            or bbox[3] + margin <= o.bbox[1] or o.bbox[3] + margin <= bbox[1]
            for o in others
        )  # fmt: skip
        if clear:
            t = (frac - lo) / (hi - lo)  # thirds of the size range
            word = "small" if t < 1 / 3 else "medium" if t < 2 / 3 else "large"
            return ShapeObject(
                kind=kind, label=label, bbox=bbox, center=(cx, cy), radius=radius,
                rotation=rotation, vertices=verts, colour=(0, 0, 0), colour_name="",
                size_word=word, position_words=_position_words(cx, cy, size),
            )  # fmt: skip
    raise DatasetError(f"no room for another {kind} in a {size}x{size} image; use fewer objects")


def _generate(
    rng: np.random.Generator,
    index: int,
    *,
    img_size: int,
    classes: Sequence[str],
    first_label: int,
    objects_per_image: int,
    rotate: bool,
) -> tuple[np.ndarray, ShapesRecord]:
    """Draw one image: background, non-overlapping shapes, pixel noise."""
    img = _background(rng, img_size)
    objects: list[ShapeObject] = []
    size_range = _SIZE_RANGE_SINGLE if objects_per_image == 1 else _SIZE_RANGE_MULTI
    for k in range(objects_per_image):
        label = first_label if k == 0 else int(rng.integers(len(classes)))
        placed = _place(
            rng, classes[label], label=label, size=img_size, others=objects,
            size_range=size_range, rotate=rotate,
        )  # fmt: skip
        x0, y0, x1, y1 = (int(v) for v in placed.bbox)
        under = img[max(y0, 0) : y1 + 1, max(x0, 0) : x1 + 1].reshape(-1, 3)
        name, colour = _pick_colour(rng, under[:: max(1, len(under) // 64)])
        obj = replace(placed, colour=colour, colour_name=name)
        alpha = _coverage([obj], img_size, img_size, (1.0, 1.0))[..., None]
        img = img * (1.0 - alpha) + np.array(colour, dtype=np.float32) * alpha
        objects.append(obj)
    sigma = rng.uniform(3.0, 12.0)
    img = img + rng.normal(0.0, sigma, size=img.shape).astype(np.float32)
    pixels = np.clip(np.rint(img), 0, 255).astype(np.uint8)
    phrases = [o.phrase for o in objects]
    caption = phrases[0] if len(phrases) == 1 else ", ".join(phrases[:-1]) + " and " + phrases[-1]
    record = ShapesRecord(
        index=index, width=img_size, height=img_size, objects=tuple(objects), caption=caption
    )
    return pixels, record


def render_image(
    index: int,
    *,
    label: int,
    img_size: int = 64,
    classes: Sequence[str] = DEFAULT_CLASSES,
    seed: int = 0,
    objects_per_image: int = 1,
    rotate: bool = True,
) -> tuple[np.ndarray, ShapesRecord]:
    """Generate image ``index`` of ``seed`` whose first object has class ``classes[label]``.

    Returns:
        ``(pixels uint8 (H, W, 3), record)``; the same arguments always give the same result.
    """
    names = _check_classes(classes)
    if not 0 <= label < len(names):
        raise ConfigError(f"label {label} out of range for {len(names)} classes")
    if img_size < 8:
        raise ConfigError(f"img_size must be at least 8 pixels, got {img_size}")
    if objects_per_image < 1:
        raise ConfigError(f"objects_per_image must be at least 1, got {objects_per_image}")
    rng = np.random.default_rng([seed, index])
    return _generate(
        rng, index, img_size=img_size, classes=names, first_label=label,
        objects_per_image=objects_per_image, rotate=rotate,
    )  # fmt: skip


def make_shapes(
    n: int,
    *,
    img_size: int = 64,
    classes: Sequence[str] = DEFAULT_CLASSES,
    seed: int = 0,
    objects_per_image: int = 1,
    rotate: bool = True,
) -> Shapes:
    """Generate ``n`` shape images in memory, classes in turn (image ``i`` has class ``i % K``).

    Memory: ``n * img_size**2 * 3`` bytes for the images.

    Returns:
        :class:`Shapes` ``(images uint8 (N, H, W, 3), labels int64 (N,), records)``; ``labels``
        are those of each image's first object.
    """
    names = _check_classes(classes)
    images = np.empty((n, img_size, img_size, 3), dtype=np.uint8)
    records: list[ShapesRecord] = []
    for i in range(n):
        images[i], record = render_image(
            i, label=i % len(names), img_size=img_size, classes=names, seed=seed,
            objects_per_image=objects_per_image, rotate=rotate,
        )  # fmt: skip
        records.append(record)
    labels = np.array([r.label for r in records], dtype=np.int64)
    return Shapes(images=images, labels=labels, records=records)


def read_annotations(root: Path) -> list[ShapesRecord]:
    """Read ``root/annotations.json`` (or the file itself) written by :func:`write_shapes_dataset`.

    Raises:
        DatasetError: the file is missing or is not a list of shapes records.
    """
    path = root / ANNOTATIONS_FILE if root.is_dir() else root
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
        if not isinstance(data, list):
            raise TypeError("top level is not a list")
        return [ShapesRecord.from_dict(item) for item in data]
    except (OSError, ValueError, TypeError, KeyError) as exc:
        raise DatasetError(f"{path}: not a shapes annotations file ({exc})") from exc


def _is_shapes_dataset(folder: Path) -> bool:
    try:
        read_annotations(folder / ANNOTATIONS_FILE)
    except DatasetError:
        return False
    return True


def write_shapes_dataset(
    out: Path,
    *,
    task: Literal["classify"] = "classify",
    per_class: int = 100,
    img_size: int = 64,
    classes: Sequence[str] = DEFAULT_CLASSES,
    seed: int = 0,
    splits: bool = False,
) -> Path:
    """Write a shapes dataset of PNGs plus ``annotations.json`` and return ``out``.

    Layout: ``out/<class>/<class>_00001.png``, or with ``splits=True``
    ``out/{train,val,test}/<class>/<class>_00001.png`` (70/15/15 per class; file numbers run on
    across splits). ``out/annotations.json`` lists every image's :class:`ShapesRecord` with its
    ``path`` relative to ``out``. The dataset is built beside ``out`` and moved into place, so a
    reader never sees half of it; a previous shapes dataset at ``out`` is replaced.

    Raises:
        DatasetError: ``out`` is a non-empty folder that is not a shapes dataset, or a file.
        ConfigError: unknown task or class, ``per_class`` < 1.
    """
    if task != "classify":
        raise ConfigError(
            f"write_shapes_dataset: task {task!r} is not supported yet (use 'classify')"
        )
    if per_class < 1:
        raise ConfigError(f"per_class must be at least 1, got {per_class}")
    names = _check_classes(classes)
    out = Path(out)
    if out.exists() and not out.is_dir():
        raise DatasetError(f"{out}: exists and is not a folder; choose another output path")
    if out.is_dir() and any(out.iterdir()) and not _is_shapes_dataset(out):
        raise DatasetError(
            f"{out}: folder is not empty and is not a shapes dataset (no valid {ANNOTATIONS_FILE});"
            " refusing to write into it, choose an empty or new folder"
        )
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = make_temp_dir(out.parent, prefix=f"{out.name}.tmp-")
    try:
        records = []
        n_val = max(round(per_class * _SPLIT_FRACTIONS[1]), 1 if per_class >= 3 else 0)
        n_train = min(round(per_class * _SPLIT_FRACTIONS[0]), per_class - 2 * n_val)
        for label, name in enumerate(names):
            for j in range(per_class):
                index = label * per_class + j
                pixels, record = render_image(
                    index, label=label, img_size=img_size, classes=names, seed=seed
                )
                split = None
                if splits:
                    split = "train" if j < n_train else "val" if j < n_train + n_val else "test"
                rel = Path(*([split] if split else []), name, f"{name}_{j + 1:05d}.png")
                (tmp / rel).parent.mkdir(parents=True, exist_ok=True)
                Image.fromarray(pixels, "RGB").save(tmp / rel, compress_level=1)
                records.append(replace(record, path=rel.as_posix(), split=split))
        (tmp / ANNOTATIONS_FILE).write_text(
            json.dumps([r.to_dict() for r in records], separators=(",", ":")), encoding="utf-8"
        )
        _swap_into_place(tmp, out)
    finally:
        if tmp.exists():
            shutil.rmtree(tmp, ignore_errors=True)
    return out


def _swap_into_place(tmp: Path, out: Path) -> None:
    """Move ``tmp`` to ``out``; an existing ``out`` (empty or a shapes dataset) is removed."""
    old: Path | None = None
    if out.exists():
        old = Path(tempfile.mkdtemp(prefix=f"{out.name}.old-", dir=out.parent))
        out.replace(old / out.name)
    tmp.replace(out)
    if old is not None:
        shutil.rmtree(old, ignore_errors=True)
