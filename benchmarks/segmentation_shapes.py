"""Shapes semantic segmentation through the normal `imgrec train` path: mIoU and time per model.

Target (issue 11): mIoU (background included) >= 0.80 within 10 minutes of training wall time on
a 2-core CPU; each architecture reported on the same generated data.

    python benchmarks/segmentation_shapes.py [--models smallunet,lraspp] [--epochs smallunet=20]
    python benchmarks/segmentation_shapes.py --models smallunet:width=16 --epochs 60 \
        --batch-size 8 --set train.loss=ce+dice
    python benchmarks/segmentation_shapes.py --models lraspp,unet:backbone=resnet18,deeplabv3 \
        --epochs lraspp=60,unet=40,deeplabv3=40 --result segmentation_shapes_architectures

Writes benchmarks/results/segmentation_shapes.json.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import machine, write_result
from detection_shapes import latency, run_imgrec_train


def train_one(
    imgrec: str, data: Path, model: str, args: argparse.Namespace, out: Path
) -> dict[str, Any]:
    run_dir, wall, error = run_imgrec_train(imgrec, data, "segment", model, args, out)
    if run_dir is None:
        return {"model": model, "error": error, "wall_s": round(wall or 0.0, 1)}
    metrics = json.loads((run_dir / "metrics.json").read_text())
    return {
        "model": model,
        "miou": metrics["miou"],
        "pixel_accuracy": metrics["pixel_accuracy"],
        "mean_dice": metrics["mean_dice"],
        "per_class_iou": {r["name"]: r["iou"] for r in metrics["per_class"]},
        "train_wall_s": metrics["training"]["wall_time_s"],
        "epochs": metrics["training"]["epochs_completed"],
        "process_wall_s": round(wall, 1) if wall is not None else None,
        "latency_batch1_ms": latency(run_dir, data),
        "run_dir": str(run_dir),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--models", default="smallunet")
    parser.add_argument("--images", type=int, default=800, help="Images in the generated set.")
    parser.add_argument("--epochs", default="smallunet=20,lraspp=20,unet=15")
    parser.add_argument("--img-size", type=int, default=64)
    parser.add_argument("--batch-size", type=int, default=16)
    parser.add_argument("--lr", type=float, default=3e-3)
    parser.add_argument("--work", type=Path, default=None)
    parser.add_argument(
        "--set", action="append", default=[], help="Config key=value for every run (repeat)."
    )
    parser.add_argument(
        "--result", default="segmentation_shapes", help="Name of the JSON under results/."
    )
    args = parser.parse_args()
    work = args.work or Path(tempfile.mkdtemp(prefix="imgrec-seg-"))
    imgrec = str(Path(sys.executable).with_name("imgrec"))
    data = work / "shapes-segment"
    if not data.exists():
        subprocess.run([imgrec, "data", "synth", str(data), "--task", "segment", "--per-class",
                        str(max(1, args.images // 4)), "--img-size", str(args.img_size)],
                       check=True)  # fmt: skip
    rows = []
    for model in args.models.split(","):
        row = train_one(imgrec, data, model.strip(), args, work / "runs")
        print(json.dumps(row), flush=True)
        rows.append(row)
    scored = [r for r in rows if r.get("miou") is not None]
    best = max(scored, key=lambda r: r["miou"], default=None)
    write_result(
        args.result,
        {
            "target": "mIoU (background included) >= 0.80 within 600 s of training",
            "settings": vars(args) | {"work": str(work)},
            "machine": machine(),
            "models": rows,
            "best": best["model"] if best else None,
            "met": bool(best and best["miou"] >= 0.8 and best["train_wall_s"] <= 600),
        },
    )


if __name__ == "__main__":
    main()
