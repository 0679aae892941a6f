"""Shapes detection through the normal `imgrec train` path: COCO mAP and time per detector.

Target (issue 10): the best detector reaches COCO mAP@[.5:.95] >= 0.50 (AP50 >= 0.85) within 15
minutes of training wall time on a 2-core CPU; every family is reported on the same data, with
imgrec's mAP recomputed by pycocotools from the run's saved files (must agree to 1e-4).

    python benchmarks/detection_shapes.py [--models tinydet,fcos] [--epochs tinydet=15,fcos=8]
    python benchmarks/detection_shapes.py --models detr,conditional_detr --epochs 6 \
        --result detection_shapes_detr      # the transformer detectors, on the same data

Writes benchmarks/results/detection_shapes.json.
"""

from __future__ import annotations

import argparse
import contextlib
import io
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import machine, write_result


def pycocotools_map(run_dir: Path) -> tuple[float, float]:
    """(mAP, AP50) of the run's saved ground truth and predictions, by pycocotools itself."""
    from pycocotools.coco import COCO
    from pycocotools.cocoeval import COCOeval

    with contextlib.redirect_stdout(io.StringIO()):
        truth = COCO(str(run_dir / "test_ground_truth.json"))
        results = json.loads((run_dir / "test_predictions.json").read_text())
        if not results:
            return 0.0, 0.0
        evaluator = COCOeval(truth, truth.loadRes(results), iouType="bbox")
        evaluator.evaluate()
        evaluator.accumulate()
        evaluator.summarize()
    return float(evaluator.stats[0]), float(evaluator.stats[1])


def epochs_for(spec: str, model: str) -> int:
    """``"12"`` for every model, or ``"tinydet=15,fcos=8"`` (by family; others get 8)."""
    if spec.isdigit():
        return int(spec)
    pairs = dict(part.split("=", 1) for part in spec.split(",") if "=" in part)
    return int(pairs.get(model.split(":")[0], 8))


def model_args(spec: str) -> list[str]:
    """``"fcos:backbone=efficientnet_lite0:pretrained"`` -> the ``imgrec train`` model flags."""
    name, *extras = spec.split(":")
    flags = ["--model", name]
    for extra in extras:
        flags += ["-o", extra] if "=" in extra else [f"--{extra}"]
    return flags


def run_imgrec_train(
    imgrec: str, data: Path, task: str, model: str, args: argparse.Namespace, out: Path
) -> tuple[Path | None, float | None, str]:
    """``imgrec train`` of ``model`` on ``data`` for ``task``: ``(run directory or None, process
    wall seconds, stderr tail)``. A finished run already in ``out`` is reused (wall None)."""
    run_name = model.replace(":", "-").replace("=", "-")
    run_dir = out / run_name
    if (run_dir / "metrics.json").is_file():  # a finished run in --work is scored again
        return run_dir, None, ""
    command = [
        imgrec, "train", str(data), "--task", task, *model_args(model),
        "--epochs", str(epochs_for(args.epochs, model)), "--img-size", str(args.img_size),
        "--batch-size", str(args.batch_size), "--lr", str(args.lr), "--out", str(out),
        "--name", run_name, "--no-record", "--quiet",
        *(f for pair in getattr(args, "set", None) or [] for f in ("--set", pair)),
    ]  # fmt: skip
    started = time.perf_counter()
    done = subprocess.run(command, capture_output=True, text=True, check=False)
    wall = time.perf_counter() - started
    lines = done.stdout.strip().splitlines()
    if done.returncode != 0 or not lines:  # a stopped run prints no run directory
        return None, wall, done.stderr[-2000:]
    return Path(lines[-1]), wall, ""


def train_one(
    imgrec: str, data: Path, model: str, args: argparse.Namespace, out: Path
) -> dict[str, Any]:
    run_dir, wall, error = run_imgrec_train(imgrec, data, "detect", model, args, out)
    if run_dir is None:
        return {"model": model, "error": error, "wall_s": round(wall or 0.0, 1)}
    metrics = json.loads((run_dir / "metrics.json").read_text())
    ref_map, ref_ap50 = pycocotools_map(run_dir)
    return {
        "model": model,
        "map": metrics["map"],
        "map50": metrics["map50"],
        "map75": metrics["map75"],
        "pycocotools_map": ref_map,
        "pycocotools_map50": ref_ap50,
        "agrees_1e-4": abs(ref_map - metrics["map"]) <= 1e-4
        and abs(ref_ap50 - metrics["map50"]) <= 1e-4,
        "train_wall_s": metrics["training"]["wall_time_s"],
        "epochs": metrics["training"]["epochs_completed"],
        "process_wall_s": round(wall, 1) if wall is not None else None,
        "latency_batch1_ms": latency(run_dir, data),
        "run_dir": str(run_dir),
    }


def latency(run_dir: Path, data: Path, repeats: int = 30) -> dict[str, float]:
    """Batch-1 CPU latency of ``imgrec.load(run).predict`` on one test image (p50/p95, ms)."""
    import imgrec

    image = next(iter(sorted((data / "images" / "test").glob("*"))))
    model = imgrec.load(run_dir, device="cpu")
    model.predict([image])  # warm-up
    times = []
    for _ in range(repeats):
        started = time.perf_counter()
        model.predict([image])
        times.append((time.perf_counter() - started) * 1000)
    times.sort()
    return {
        "p50": round(times[len(times) // 2], 2),
        "p95": round(times[int(len(times) * 0.95) - 1], 2),
        "images_per_second": round(1000 / times[len(times) // 2], 1),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--models", default="tinydet,fcos,retinanet,ssdlite,fasterrcnn")
    parser.add_argument("--images", type=int, default=1200, help="Images in the generated set.")
    parser.add_argument(
        "--epochs",
        default="tinydet=15,fcos=8,retinanet=8,fasterrcnn=6,ssdlite=10",
        help="Epochs for every model (12) or per model (tinydet=15,fcos=8).",
    )
    parser.add_argument("--img-size", type=int, default=128)
    parser.add_argument("--batch-size", type=int, default=16)
    parser.add_argument("--lr", type=float, default=2e-3)
    parser.add_argument("--work", type=Path, default=None)
    parser.add_argument(
        "--result", default="detection_shapes", help="Name of the JSON under results/."
    )
    args = parser.parse_args()
    work = args.work or Path(tempfile.mkdtemp(prefix="imgrec-det-"))
    imgrec = str(Path(sys.executable).with_name("imgrec"))
    data = work / "shapes-detect"
    if not data.exists():
        per_class = max(1, args.images // 4)
        subprocess.run([imgrec, "data", "synth", str(data), "--task", "detect", "--per-class",
                        str(per_class), "--img-size", str(args.img_size)], check=True)  # fmt: skip
    rows = []
    for model in args.models.split(","):
        row = train_one(imgrec, data, model.strip(), args, work / "runs")
        print(json.dumps(row), flush=True)
        rows.append(row)
    scored = [r for r in rows if "map" in r]
    best = max(scored, key=lambda r: r["map"], default=None)
    write_result(
        args.result,
        {
            "target": "mAP >= 0.50 and AP50 >= 0.85 within 900 s of training (best detector)",
            "settings": vars(args) | {"work": str(work)},
            "machine": machine(),
            "models": rows,
            "best": best["model"] if best else None,
            "met": bool(best and best["map"] >= 0.5 and best["map50"] >= 0.85
                        and best["train_wall_s"] <= 900),
        },
    )  # fmt: skip


if __name__ == "__main__":
    main()
