"""Shapes instance segmentation through the normal `imgrec train` path: mask AP and time per model.

Target (issue 11): mask AP (COCO mAP@[.5:.95] of the masks) >= 0.40 within 20 minutes of
training wall time on a 2-core CPU; imgrec's box and mask AP recomputed by pycocotools from the
run's saved files (must agree to 1e-4).

    python benchmarks/instance_shapes.py [--models tinymask,maskrcnn] [--epochs tinymask=12]

Writes benchmarks/results/instance_shapes.json.
"""

from __future__ import annotations

import argparse
import contextlib
import io
import json
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import machine, write_result
from detection_shapes import latency, run_imgrec_train


def pycocotools_stats(run_dir: Path, iou_type: str) -> tuple[float, float]:
    """(mAP, AP50) of the saved files by pycocotools; for masks each result's bbox is dropped
    (so a detection's area is its mask's, as detectron2 and MMDetection evaluate)."""
    from pycocotools.coco import COCO
    from pycocotools.cocoeval import COCOeval

    with contextlib.redirect_stdout(io.StringIO()):
        truth = COCO(str(run_dir / "test_ground_truth.json"))
        results = json.loads((run_dir / "test_predictions.json").read_text())
        if not results:
            return 0.0, 0.0
        if iou_type == "segm":
            results = [{k: v for k, v in r.items() if k != "bbox"} for r in results]
        evaluator = COCOeval(truth, truth.loadRes(results), iouType=iou_type)
        evaluator.evaluate()
        evaluator.accumulate()
        evaluator.summarize()
    return max(float(evaluator.stats[0]), 0.0), max(float(evaluator.stats[1]), 0.0)


def train_one(
    imgrec: str, data: Path, model: str, args: argparse.Namespace, out: Path
) -> dict[str, Any]:
    run_dir, wall, error = run_imgrec_train(imgrec, data, "instance", model, args, out)
    if run_dir is None:
        return {"model": model, "error": error, "wall_s": round(wall or 0.0, 1)}
    metrics = json.loads((run_dir / "metrics.json").read_text())
    mask_map, mask_map50 = pycocotools_stats(run_dir, "segm")
    box_map, box_map50 = pycocotools_stats(run_dir, "bbox")
    agrees = all(
        abs(a - b) <= 1e-4
        for a, b in (
            (metrics["mask_map"], mask_map),
            (metrics["mask_map50"], mask_map50),
            (metrics["map"], box_map),
            (metrics["map50"], box_map50),
        )
    )
    return {
        "model": model,
        "mask_map": metrics["mask_map"],
        "mask_map50": metrics["mask_map50"],
        "mask_map75": metrics["mask_map75"],
        "box_map": metrics["map"],
        "box_map50": metrics["map50"],
        "pycocotools": {
            "mask_map": mask_map,
            "mask_map50": mask_map50,
            "box_map": box_map,
            "box_map50": box_map50,
        },
        "agrees_1e-4": agrees,
        "train_wall_s": metrics["training"]["wall_time_s"],
        "epochs": metrics["training"]["epochs_completed"],
        "process_wall_s": round(wall, 1) if wall is not None else None,
        "latency_batch1_ms": latency(run_dir, data),
        "run_dir": str(run_dir),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--models", default="tinymask")
    parser.add_argument("--images", type=int, default=1200, help="Images in the generated set.")
    parser.add_argument("--epochs", default="tinymask=12,maskrcnn=3")
    parser.add_argument("--img-size", type=int, default=128)
    parser.add_argument("--batch-size", type=int, default=8)
    parser.add_argument("--lr", type=float, default=2e-3)
    parser.add_argument("--work", type=Path, default=None)
    args = parser.parse_args()
    work = args.work or Path(tempfile.mkdtemp(prefix="imgrec-inst-"))
    imgrec = str(Path(sys.executable).with_name("imgrec"))
    data = work / "shapes-instance"
    if not data.exists():
        subprocess.run([imgrec, "data", "synth", str(data), "--task", "instance", "--per-class",
                        str(max(1, args.images // 4)), "--img-size", str(args.img_size)],
                       check=True)  # fmt: skip
    rows = []
    for model in args.models.split(","):
        row = train_one(imgrec, data, model.strip(), args, work / "runs")
        print(json.dumps(row), flush=True)
        rows.append(row)
    scored = [r for r in rows if r.get("mask_map") is not None]
    best = max(scored, key=lambda r: r["mask_map"], default=None)
    write_result(
        "instance_shapes",
        {
            "target": "mask AP >= 0.40 within 1200 s of training",
            "settings": vars(args) | {"work": str(work)},
            "machine": machine(),
            "models": rows,
            "best": best["model"] if best else None,
            "met": bool(best and best["mask_map"] >= 0.4 and best["train_wall_s"] <= 1200),
        },
    )


if __name__ == "__main__":
    main()
