"""Detection on real photos: Openclipart drawings pasted onto opencv-doc/scikit-image photos.

Builds the set with ``imgrec.data.detection.composite`` (5 classes: mammal, bird, insect, fruit,
vehicle; drawings split by drawing, so no test object is seen in training; exact boxes from the
alpha). With ``--train`` it then trains each model through the normal ``imgrec train`` path, like
benchmarks/detection_shapes.py, and recomputes the mAP with pycocotools.

    scripts/install-real-data.sh   # Debian's openclipart-png and opencv-doc
    python benchmarks/detection_real.py --out /tmp/real-detect            # build and summarise
    python benchmarks/detection_real.py --out /tmp/real-detect --train [--models tinydet]

Writes benchmarks/results/detection_real.json (only with --train).
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import machine, write_result
from detection_shapes import train_one
from imgrec.data.detection.composite import (
    find_backgrounds,
    find_openclipart,
    write_composite_detection,
)


def build(args: argparse.Namespace) -> Path:
    """The composite set at ``args.out`` (built unless it is already there)."""
    if (args.out / "composite_sources.json").is_file():
        print(f"using the existing set at {args.out}")
        return args.out
    drawings = find_openclipart()
    backgrounds = find_backgrounds(args.out.parent / f"{args.out.name}-photo-cache")
    write_composite_detection(
        args.out,
        drawings=drawings,
        backgrounds=backgrounds,
        n_images=args.images,
        img_size=args.img_size,
        seed=args.seed,
    )
    return args.out


def summary(data: Path) -> dict[str, object]:
    """Drawings per class and split, skipped drawings, backgrounds, images and boxes per split."""
    sources = json.loads((data / "composite_sources.json").read_text())
    per_split = {}
    for file in sorted((data / "annotations").glob("instances_*.json")):
        payload = json.loads(file.read_text())
        split = file.stem.removeprefix("instances_")
        per_split[split] = {"images": len(payload["images"]), "boxes": len(payload["annotations"])}
    return {
        "classes": sources["classes"],
        "drawings": {s: {c: len(v) for c, v in d.items()} for s, d in sources["drawings"].items()},
        "skipped_drawings": {k: len(v) for k, v in sources["skipped_drawings"].items()},
        "backgrounds": len(sources["backgrounds"]),
        "splits": per_split,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--out", type=Path, default=None, help="Where the set is (or goes).")
    parser.add_argument("--images", type=int, default=600, help="Images in the generated set.")
    parser.add_argument("--img-size", type=int, default=256)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--train", action="store_true", help="Also train and score the models.")
    parser.add_argument("--models", default="tinydet,fasterrcnn")
    parser.add_argument(
        "--epochs",
        default="tinydet=30,fasterrcnn=8",
        help="Epochs for every model (12) or per model (tinydet=30,fasterrcnn=8).",
    )
    parser.add_argument("--batch-size", type=int, default=16)
    parser.add_argument("--lr", type=float, default=2e-3)
    args = parser.parse_args()
    args.out = args.out or Path(tempfile.mkdtemp(prefix="imgrec-real-det-")) / "real-detect"
    data = build(args)
    info = summary(data)
    print(json.dumps(info, indent=1))
    if not args.train:
        print(f"set at {data} (pass --train to train on it)")
        return
    imgrec = str(Path(sys.executable).with_name("imgrec"))
    rows = []
    for model in args.models.split(","):
        row = train_one(imgrec, data, model.strip(), args, data.parent / "runs")
        print(json.dumps(row), flush=True)
        rows.append(row)
    scored = [r for r in rows if "map" in r]
    best = max(scored, key=lambda r: r["map"], default=None)
    write_result(
        "detection_real",
        {
            "settings": {k: str(v) for k, v in vars(args).items()},
            "data": info,
            "machine": machine(),
            "models": rows,
            "best": best["model"] if best else None,
        },
    )


if __name__ == "__main__":
    main()
