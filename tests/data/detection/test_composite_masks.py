"""Composite set with masks: each object's visible alpha as COCO RLE, read by the three readers."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from PIL import Image, ImageDraw

from imgrec.data.detection import read_detection
from imgrec.data.detection.composite import write_composite_detection
from imgrec.data.detection.masks import decode_segmentation
from imgrec.data.segmentation import read_segmentation
from imgrec.data.segmentation.masks import load_mask
from imgrec.tasks.registry import get_task

SIZE = 96
BAND = 2  # px either side of a mask edge left unchecked: partial alpha, JPEG ringing, chroma
Sources = tuple[dict[str, list[Path]], list[Path]]
# fill and spot colours per class: all bright in some channel (the photos are dark), red > blue
# for class 1 and blue > red for class 2 everywhere, spots of another grey for distinct hashes
COLOURS = {"red": ((255, 150, 150), (170, 40, 40)), "blue": ((150, 150, 255), (40, 40, 170))}


def _drawing(path: Path, fill: tuple[int, ...], spot: tuple[int, ...], k: int) -> Path:
    im = Image.new("RGBA", (80, 60), (0, 0, 0, 0))
    draw = ImageDraw.Draw(im)
    draw.ellipse((6, 6, 74, 54), fill=(*fill, 255))
    for bit, (x, y) in enumerate(((28, 22), (52, 22), (28, 38), (52, 38))):
        if k >> bit & 1:
            draw.ellipse((x - 7, y - 6, x + 7, y + 6), fill=(*spot, 255))
    im.save(path)
    return path


@pytest.fixture()
def sources(tmp_path: Path) -> Sources:
    art = tmp_path / "art"
    art.mkdir()
    drawings = {
        name: [_drawing(art / f"{name}_{'abcdef'[k]}.png", *COLOURS[name], k + 1) for k in range(6)]
        for name in COLOURS
    }
    rng = np.random.default_rng(1)
    backgrounds = []
    for k in range(2):
        path = tmp_path / f"photo_{k}.png"
        Image.fromarray(rng.integers(0, 50, (120, 150, 3), dtype=np.uint8)).save(path)
        backgrounds.append(path)
    return drawings, backgrounds


def _write(out: Path, sources: Sources, *, masks: bool) -> Path:
    drawings, backgrounds = sources
    return write_composite_detection(
        out, drawings=drawings, backgrounds=backgrounds, n_images=24, img_size=SIZE,
        objects_per_image=(2, 5), seed=7, masks=masks,
    )  # fmt: skip


def _annotations(out: Path) -> dict[str, dict]:
    return {
        f.stem.removeprefix("instances_"): json.loads(f.read_text())
        for f in sorted((out / "annotations").glob("instances_*.json"))
    }


def _edge_band(labels: np.ndarray, width: int) -> np.ndarray:
    """Pixels within ``width`` px (square neighbourhood) of a change in ``labels``."""
    padded = np.pad(labels, width, mode="edge")
    band = np.zeros(labels.shape, bool)
    h, w = labels.shape
    for dy in range(2 * width + 1):
        for dx in range(2 * width + 1):
            band |= padded[dy : dy + h, dx : dx + w] != labels
    return band


@pytest.fixture()
def written(tmp_path: Path, sources: Sources) -> Path:
    return _write(tmp_path / "set", sources, masks=True)


def test_masks_are_the_visible_drawings(written: Path) -> None:
    n_masks = touching = 0
    for payload in _annotations(written).values():
        for entry in payload["images"]:
            pixels = np.asarray(Image.open(written / "images" / entry["file_name"]), np.int16)
            anns = [a for a in payload["annotations"] if a["image_id"] == entry["id"]]
            owner = np.zeros((SIZE, SIZE), np.int32)  # 0: no object, k + 1: annotation k
            decoded = []
            for k, ann in enumerate(anns):
                assert ann["segmentation"]["size"] == [SIZE, SIZE]
                assert isinstance(ann["segmentation"]["counts"], str)  # compressed RLE
                mask = decode_segmentation(ann["segmentation"], SIZE, SIZE)
                assert mask.sum() >= 32 and ann["area"] == int(mask.sum())
                # the box is the mask's tight box
                ys, xs = np.nonzero(mask)
                x, y, w, h = ann["bbox"]
                assert [xs.min(), ys.min(), xs.max() + 1, ys.max() + 1] == [x, y, x + w, y + h]
                assert not (owner[mask] > 0).any(), "masks overlap: occlusion not removed"
                owner[mask] = k + 1
                decoded.append(mask)
                n_masks += 1
            for a in range(len(decoded)):
                grown = decoded[a].copy()
                grown[1:] |= decoded[a][:-1]
                grown[:-1] |= decoded[a][1:]
                grown[:, 1:] |= decoded[a][:, :-1]
                grown[:, :-1] |= decoded[a][:, 1:]
                touching += sum(bool((grown & decoded[b]).any()) for b in range(a + 1, len(anns)))
            # away from edges: drawn (bright) pixels are exactly the masks' union, and each
            # mask's pixels show its own class's colour (the drawing on top, where two overlap)
            inner = ~_edge_band(owner, BAND)
            bright = pixels.max(2) > 100
            assert (bright[inner] == (owner[inner] > 0)).all()
            for k, ann in enumerate(anns):
                own = pixels[inner & (owner == k + 1)]
                assert len(own) > 0
                assert ((own[:, 0] > own[:, 2]) == (ann["category_id"] == 1)).all()
    assert n_masks >= 40
    assert touching >= 3, "no drawing lay on another: the occlusion rule went untested"


def test_without_masks_the_set_is_unchanged(tmp_path: Path, sources: Sources) -> None:
    plain = _write(tmp_path / "a", sources, masks=False)
    with_masks = _write(tmp_path / "b", sources, masks=True)
    a, b = _annotations(plain), _annotations(with_masks)
    assert not any("segmentation" in ann for p in a.values() for ann in p["annotations"])
    for split in a:
        stripped = [
            {k: v for k, v in ann.items() if k not in ("segmentation", "area")}
            for ann in b[split]["annotations"]
        ]
        assert stripped == [
            {k: v for k, v in ann.items() if k != "area"} for ann in a[split]["annotations"]
        ]
        for ann_a, ann_b in zip(a[split]["annotations"], b[split]["annotations"], strict=True):
            assert ann_b["area"] <= ann_a["area"]  # the mask's pixels, within the box's
    files = sorted(p.relative_to(plain) for p in (plain / "images").rglob("*.jpg"))
    assert files and all((plain / f).read_bytes() == (with_masks / f).read_bytes() for f in files)
    sides = [(d / "composite_sources.json").read_bytes() for d in (plain, with_masks)]
    assert sides[0] == sides[1]


def test_reads_as_instance_and_semantic_set(tmp_path: Path, written: Path) -> None:
    ds = read_detection(written, work_dir=tmp_path / "work")
    assert ds.layout == "coco" and ds.has_masks and ds.problems == []
    assert all(len(img.segmentations) == len(img.labels) for img in ds.images)
    assert get_task("instance").recognises(written) == "coco"
    assert get_task("segment").recognises(written) == "coco-seg"

    seg = read_segmentation(written, work_dir=tmp_path / "work")
    assert seg.layout == "coco-seg" and seg.problems == []
    assert seg.classes == ["background", "red", "blue"]
    assert {img.split for img in seg.images} == {"train", "val", "test"}
    payloads = _annotations(written)
    for img in seg.images[:6]:
        payload = payloads[img.split or ""]
        entry = next(e for e in payload["images"] if e["file_name"] == img.key.split("/", 1)[1])
        expected = np.zeros((SIZE, SIZE), np.int64)
        for ann in payload["annotations"]:
            if ann["image_id"] == entry["id"]:
                mask = decode_segmentation(ann["segmentation"], SIZE, SIZE)
                expected[mask] = ann["category_id"]
        assert (np.asarray(load_mask(img, seg)) == expected).all()
