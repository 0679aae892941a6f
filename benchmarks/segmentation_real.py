"""Instance and semantic segmentation on real photos: Openclipart drawings pasted onto photos.

The set of benchmarks/detection_real.py (``imgrec.data.detection.composite``: 5 classes, mammal,
bird, insect, fruit, vehicle, on opencv-doc/scikit-image photos; drawings split by drawing, so
no test object is seen in training) written with ``masks=True``: every annotation also holds its
object's exact visible mask (the drawing's alpha, less what later drawings cover) as COCO RLE.
The same folder is an instance set (``--task instance``) and a semantic one (``--task segment``,
read as ``coco-seg``: background plus the 5 classes). With ``--train`` it trains each model
through the normal ``imgrec train`` path: instance models scored by mask AP/AP50 and box AP,
recomputed by pycocotools from the run's saved files (as benchmarks/instance_shapes.py), and
semantic models by mIoU (background included, as benchmarks/segmentation_shapes.py).

    scripts/install-real-data.sh   # Debian's openclipart-png and opencv-doc
    python benchmarks/segmentation_real.py --out /tmp/real-seg             # build and summarise
    python benchmarks/segmentation_real.py --out /tmp/real-seg --train \\
        [--instance-models tinymask] [--segment-models smallunet,unet] \\
        [--instance-epochs tinymask=20,maskrcnn=6] [--segment-epochs smallunet=15,unet=10] \
        [--result segmentation_real_more]   # another name keeps the earlier rows

A model is ``name[:key=value...][:pretrained]`` (``unet:backbone=efficientnet_lite0:pretrained``);
give an empty list (``--instance-models ''``) to skip a task. Epochs are one number for every
model of the task or ``family=epochs`` pairs (a family not named gets 8).

Writes benchmarks/results/segmentation_real.json (only with --train).
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
from pathlib import Path
from typing import Any, cast

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import machine, write_result
from detection_real import summary as detection_summary
from imgrec.data.detection.composite import (
    find_backgrounds,
    find_openclipart,
    write_composite_detection,
)
from instance_shapes import train_one as train_instance
from segmentation_shapes import train_one as train_segment


def build(args: argparse.Namespace) -> Path:
    """The composite set with masks at ``args.out`` (built unless it is already there).

    Raises:
        SystemExit: ``args.out`` holds a composite set without masks (one detection_real.py
            built): give another ``--out``.
    """
    if (args.out / "composite_sources.json").is_file():
        if not _has_masks(args.out):
            raise SystemExit(
                f"{args.out} holds a composite set without masks (built by detection_real.py?);"
                " give another --out (or delete it) to build one with masks"
            )
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
        masks=True,
    )
    return args.out


def _has_masks(data: Path) -> bool:
    """Whether any of the set's annotations holds a segmentation."""
    for file in (data / "annotations").glob("instances_*.json"):
        if any("segmentation" in ann for ann in json.loads(file.read_text())["annotations"]):
            return True
    return False


def summary(data: Path) -> dict[str, object]:
    """detection_real.py's summary plus, per split, the masks and the share of pixels that are
    objects (the rest is background to the semantic models)."""
    info = detection_summary(data)
    splits = cast(dict[str, dict[str, Any]], info["splits"])
    for file in sorted((data / "annotations").glob("instances_*.json")):
        payload = json.loads(file.read_text())
        split = file.stem.removeprefix("instances_")
        pixels = sum(e["width"] * e["height"] for e in payload["images"])
        masks = [a for a in payload["annotations"] if "segmentation" in a]
        splits[split] |= {
            "masks": len(masks),
            "object_pixel_share": round(sum(a["area"] for a in masks) / max(1, pixels), 4),
        }
    return info


def _settings(args: argparse.Namespace, task: str) -> argparse.Namespace:
    """What the shared ``train_one`` functions read (epochs, img_size, batch_size, lr) for
    ``task``'s models."""
    return argparse.Namespace(
        epochs=getattr(args, f"{task}_epochs"),
        img_size=args.img_size,
        batch_size=getattr(args, f"{task}_batch_size"),
        lr=getattr(args, f"{task}_lr"),
    )


def _models(spec: str) -> list[str]:
    return [m.strip() for m in spec.split(",") if m.strip()]


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--out", type=Path, default=None, help="Where the set is (or goes).")
    parser.add_argument("--images", type=int, default=600, help="Images in the generated set.")
    parser.add_argument("--img-size", type=int, default=256)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--train", action="store_true", help="Also train and score the models.")
    parser.add_argument(
        "--instance-models",
        default="tinymask,maskrcnn:backbone=efficientnet_lite0:pretrained",
        help="--task instance models, comma-separated ('' for none).",
    )
    parser.add_argument(
        "--instance-epochs",
        default="tinymask=20,maskrcnn=6",
        help="Epochs for every instance model (12) or per family (tinymask=20,maskrcnn=6).",
    )
    parser.add_argument("--instance-batch-size", type=int, default=8)
    parser.add_argument("--instance-lr", type=float, default=2e-3)
    parser.add_argument(
        "--segment-models",
        default="smallunet,unet:backbone=efficientnet_lite0:pretrained",
        help="--task segment models, comma-separated ('' for none).",
    )
    parser.add_argument(
        "--segment-epochs",
        default="smallunet=15,unet=10",
        help="Epochs for every semantic model (12) or per family (smallunet=15,unet=10).",
    )
    parser.add_argument("--segment-batch-size", type=int, default=16)
    parser.add_argument("--segment-lr", type=float, default=3e-3)
    parser.add_argument(
        "--result", default="segmentation_real", help="Name of the JSON under results/."
    )
    args = parser.parse_args()
    args.out = args.out or Path(tempfile.mkdtemp(prefix="imgrec-real-seg-")) / "real-seg"
    data = build(args)
    info = summary(data)
    print(json.dumps(info, indent=1))
    if not args.train:
        print(f"set at {data} (pass --train to train on it)")
        return
    imgrec = str(Path(sys.executable).with_name("imgrec"))
    rows: list[dict[str, Any]] = []
    tasks = (("instance", train_instance), ("segment", train_segment))
    for task, train_one in tasks:
        settings = _settings(args, task)
        for model in _models(getattr(args, f"{task}_models")):
            row = {"task": task} | train_one(
                imgrec, data, model, settings, data.parent / f"runs-{task}"
            )
            print(json.dumps(row), flush=True)
            rows.append(row)
    best = {}
    for task, key in (("instance", "mask_map"), ("segment", "miou")):
        scored = [r for r in rows if r["task"] == task and r.get(key) is not None]
        top = max(scored, key=lambda r: r[key], default=None)
        best[task] = top["model"] if top else None
    write_result(
        args.result,
        {
            "settings": {k: str(v) for k, v in vars(args).items()},
            "data": info,
            "machine": machine(),
            "models": rows,
            "best": best,
        },
    )


if __name__ == "__main__":
    main()
