"""Fashion-MNIST through the normal `imgrec train` path: test accuracy and training wall time.

Target (issue 2): >= 92% test accuracy within 10 minutes of training wall time on a 2-core CPU.

    python benchmarks/fashion_mnist.py [--epochs 8] [--width 24] [--augment none]

Needs Debian's `dataset-fashion-mnist` (installed here if missing). Writes
benchmarks/results/fashion_mnist.json.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import ensure_fashion_mnist, machine, write_result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--epochs", type=int, default=8)
    parser.add_argument("--model", default="simple_cnn")
    parser.add_argument("--batch-size", type=int, default=128)
    parser.add_argument("--lr", type=float, default=3e-3)
    parser.add_argument("--width", type=int, default=24, help="simple_cnn width option.")
    parser.add_argument("--augment", default="none", help="none, light, randaugment, ...")
    parser.add_argument("--work", type=Path, default=None, help="Working folder (default: temp).")
    args = parser.parse_args()
    work = args.work or Path(tempfile.mkdtemp(prefix="imgrec-fmnist-"))
    imgrec = str(Path(sys.executable).with_name("imgrec"))

    started = time.perf_counter()
    images = work / "fashion-mnist-png"
    subprocess.run([imgrec, "data", "idx", str(ensure_fashion_mnist()), str(images)], check=True)
    convert_s = time.perf_counter() - started

    command = [
        imgrec,
        "train",
        str(images),
        "--model",
        args.model,
        "--epochs",
        str(args.epochs),
        "--img-size",
        "28",
        "--batch-size",
        str(args.batch_size),
        "--lr",
        str(args.lr),
        "--option",
        f"width={args.width}",
        "--augment",
        args.augment,
        "--set",
        "train.warmup_epochs=1",
        "--out",
        str(work / "runs"),
        "--name",
        "fashion-mnist",
    ]
    print(" ".join(command))
    started = time.perf_counter()
    done = subprocess.run(command, check=True, stdout=subprocess.PIPE, text=True)
    command_s = time.perf_counter() - started
    run_dir = Path(done.stdout.strip().splitlines()[-1])
    metrics = json.loads((run_dir / "metrics.json").read_text())
    training = metrics["training"]
    result = {
        "command": " ".join(command),
        "model": args.model,
        "width": args.width,
        "augment": args.augment,
        "epochs": args.epochs,
        "test_accuracy": metrics["accuracy"],
        "test_macro_f1": metrics["macro_f1"],
        "test_images": metrics["num_samples"],
        "train_wall_time_s": training["wall_time_s"],
        "train_images_per_second": training["images_per_second"],
        "best_epoch": training["best_epoch"],
        "idx_to_png_s": round(convert_s, 1),
        "whole_command_s": round(command_s, 1),
        "inference": metrics.get("inference"),
        "targets": {"test_accuracy": 0.92, "train_wall_time_s": 600},
        "met": metrics["accuracy"] >= 0.92 and training["wall_time_s"] <= 600,
        "run_dir": str(run_dir),
        "machine": machine(),
    }
    write_result("fashion_mnist", result)
    print(json.dumps({k: result[k] for k in ("test_accuracy", "train_wall_time_s", "met")}))


if __name__ == "__main__":
    main()
