"""Composite detection set: generated drawings pasted onto generated photos (no Debian packages)."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from PIL import Image, ImageDraw

from imgrec.data.detection.composite import (
    find_backgrounds,
    find_openclipart,
    write_composite_detection,
)
from imgrec.errors import DatasetError

SIZE = 64
Sources = tuple[dict[str, list[Path]], list[Path]]


def _drawing(path: Path, colour: tuple[int, int, int], k: int, empty: bool = False) -> Path:
    """A bright ellipse (alpha 255) with dark spots in the quadrants that ``k``'s bits pick."""
    im = Image.new("RGBA", (80, 60), (0, 0, 0, 0))
    if not empty:
        draw = ImageDraw.Draw(im)
        draw.ellipse((6, 6, 74, 54), fill=(*colour, 255))
        for bit, (x, y) in enumerate(((28, 22), (52, 22), (28, 38), (52, 38))):
            if k >> bit & 1:
                draw.ellipse((x - 7, y - 6, x + 7, y + 6), fill=(20, 20, 20, 255))
    im.save(path)
    return path


@pytest.fixture()
def sources(tmp_path: Path) -> Sources:
    art = tmp_path / "art"
    art.mkdir()
    drawings = {
        name: [_drawing(art / f"{name}_{'abcdef'[k]}.png", colour, k + 1) for k in range(6)]
        for name, colour in (("red", (255, 190, 190)), ("blue", (190, 190, 255)))
    }
    rng = np.random.default_rng(1)
    backgrounds = []
    for k in range(2):
        path = tmp_path / f"photo_{k}.png"
        Image.fromarray(rng.integers(0, 60, (90, 120, 3), dtype=np.uint8)).save(path)
        backgrounds.append(path)
    return drawings, backgrounds


def _write(out: Path, drawings: dict[str, list[Path]], backgrounds: list[Path]) -> Path:
    return write_composite_detection(
        out, drawings=drawings, backgrounds=backgrounds, n_images=16, img_size=SIZE, seed=3
    )


def _annotations(out: Path) -> dict[str, dict]:
    return {
        f.stem.removeprefix("instances_"): json.loads(f.read_text())
        for f in sorted((out / "annotations").glob("instances_*.json"))
    }


def test_layout_boxes_are_the_visible_drawing(tmp_path: Path, sources: Sources) -> None:
    out = _write(tmp_path / "set", *sources)
    payloads = _annotations(out)
    assert set(payloads) == {"train", "val", "test"}
    assert sum(len(p["images"]) for p in payloads.values()) == 16
    n_boxes = 0
    for split, payload in payloads.items():
        assert [c["id"] for c in payload["categories"]] == [1, 2]
        by_image: dict[int, list[dict]] = {}
        for ann in payload["annotations"]:
            by_image.setdefault(ann["image_id"], []).append(ann)
        for entry in payload["images"]:
            assert entry["file_name"].startswith(f"{split}/")
            pixels = np.asarray(Image.open(out / "images" / entry["file_name"]), np.int16)
            assert pixels.shape == (SIZE, SIZE, 3)
            for ann in by_image.get(entry["id"], []):
                n_boxes += 1
                x, y, w, h = (int(v) for v in ann["bbox"])
                assert ann["bbox"] == [x, y, w, h] and w > 0 and h > 0
                assert x >= 0 and x + w <= SIZE and y >= 0 and y + h <= SIZE
                # bright drawings on a dark photo: the box is the bright blob's, to 1 px
                bright = pixels.mean(2) > 128
                box = bright[y : y + h, x : x + w]
                assert box.mean() > 0.4
                ys, xs = np.nonzero(box)
                assert xs.min() <= 1 and ys.min() <= 1
                assert xs.max() >= w - 2 and ys.max() >= h - 2
                # nothing bright just outside the box but other objects
                near = np.zeros_like(bright)
                near[max(0, y - 2) : y + h + 2, max(0, x - 2) : x + w + 2] = True
                for other in by_image[entry["id"]]:
                    ox, oy, ow, oh = (int(v) for v in other["bbox"])
                    m = 0 if other is ann else 1
                    near[max(0, oy - m) : oy + oh + m, max(0, ox - m) : ox + ow + m] = False
                assert (bright & near).sum() <= 3
                # the colour says which drawing class it is (blue-ish vs red-ish)
                r, b = (pixels[y : y + h, x : x + w][box][:, c].mean() for c in (0, 2))
                assert (r > b) == (ann["category_id"] == 1)
    assert n_boxes >= 16


def test_split_by_drawing_and_sources_recorded(tmp_path: Path, sources: Sources) -> None:
    out = _write(tmp_path / "set", *sources)
    used: dict[str, set[str]] = {}
    for split, payload in _annotations(out).items():
        used[split] = {ann["imgrec_source"] for ann in payload["annotations"]}
        assert all(entry["imgrec_background"] for entry in payload["images"])
    assert not used["train"] & used["test"]
    assert not used["train"] & used["val"]
    assert not used["val"] & used["test"]
    side = json.loads((out / "composite_sources.json").read_text())
    assigned = [p for per in side["drawings"].values() for paths in per.values() for p in paths]
    assert len(assigned) == len(set(assigned)) == 12
    for split, paths in used.items():
        assert paths <= {p for ps in side["drawings"][split].values() for p in ps}


def test_deterministic_for_a_seed(tmp_path: Path, sources: Sources) -> None:
    a, b = _write(tmp_path / "a", *sources), _write(tmp_path / "b", *sources)
    assert _annotations(a) == _annotations(b)
    files = sorted(p.relative_to(a) for p in (a / "images").rglob("*.jpg"))
    assert files and all((a / f).read_bytes() == (b / f).read_bytes() for f in files)
    c = write_composite_detection(
        tmp_path / "c", drawings=sources[0], backgrounds=sources[1], n_images=4, img_size=SIZE,
        test_fraction=0.25, val_fraction=0.25, seed=4,
    )  # fmt: skip
    assert _annotations(c) != _annotations(a)


def test_empty_alpha_drawing_is_skipped(tmp_path: Path, sources: Sources) -> None:
    drawings, backgrounds = sources
    blank = _drawing(tmp_path / "art" / "red_blank.png", (0, 0, 0), 0, empty=True)
    broken = tmp_path / "art" / "red_broken.png"
    broken.write_bytes(b"not a png")
    drawings["red"] += [blank, broken]
    out = _write(tmp_path / "set", drawings, backgrounds)
    side = json.loads((out / "composite_sources.json").read_text())
    assert side["skipped_drawings"] == {"empty alpha": [str(blank)], "unreadable": [str(broken)]}
    sources_used = {
        a["imgrec_source"] for p in _annotations(out).values() for a in p["annotations"]
    }
    assert str(blank) not in sources_used and str(broken) not in sources_used


def test_missing_packages_say_how_to_install(tmp_path: Path) -> None:
    with pytest.raises(DatasetError, match=r"install-real-data\.sh"):
        find_openclipart(root=tmp_path / "no-openclipart")
    with pytest.raises(DatasetError, match=r"install-real-data\.sh"):
        find_backgrounds(tmp_path / "cache", opencv_root=tmp_path / "no-opencv")


def test_find_openclipart_rules(tmp_path: Path) -> None:
    for rel in ("animals/birds/owl.png", "animals/birds/logo.png", "animals/owl.png",
                "food/fruit/apple.png"):  # fmt: skip
        (tmp_path / rel).parent.mkdir(parents=True, exist_ok=True)
        _drawing(tmp_path / rel, (1, 2, 3), 0)
    found = find_openclipart({"bird": ["animals/*", "!*logo*"], "fruit": ["food/*"]}, tmp_path)
    assert found == {"bird": [tmp_path / "animals/birds/owl.png"],
                     "fruit": [tmp_path / "food/fruit/apple.png"]}  # fmt: skip
