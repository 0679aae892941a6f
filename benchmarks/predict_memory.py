"""Peak memory of `imgrec predict` on a 4000 x 3000 photo, per segmentation / instance model.

Each model is trained for one epoch on a few generated images (its weights do not matter for
memory), then `imgrec predict RUN photo.jpg --save-images DIR` runs in a fresh process whose
peak resident set size (``ru_maxrss``) is read when it exits. Issue 11 asks that it be bounded:
far below what ``K`` float score maps (or 100 float instance masks) at 12 megapixels would take.

    python benchmarks/predict_memory.py [--models segment:smallunet,instance:tinymask,zoo:selfie]

Writes benchmarks/results/predict_memory.json.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import machine, write_result

DEFAULT = (
    "segment:smallunet,segment:lraspp,segment:unet,segment:fcn,instance:tinymask,"
    "instance:maskrcnn,zoo:selfie"
)


def photo(path: Path, width: int = 4000, height: int = 3000) -> Path:
    """A 12-megapixel JPEG with structure (gradients and blocks), not flat noise."""
    y, x = np.mgrid[0:height, 0:width]
    rgb = np.stack([x * 255 // width, y * 255 // height, (x // 200 + y // 200) % 2 * 200], axis=-1)
    Image.fromarray(rgb.astype(np.uint8)).save(path, quality=90)
    return path


def peak_rss_mib(command: list[str]) -> tuple[float, float, int]:
    """(peak RSS MiB, wall seconds, exit code) of ``command`` run alone in a child process."""
    probe = (
        "import resource, subprocess, sys, json; "
        "rc = subprocess.run(sys.argv[1:], capture_output=True).returncode; "
        "print(json.dumps([resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss, rc]))"
    )
    started = time.perf_counter()
    done = subprocess.run([sys.executable, "-c", probe, *command], capture_output=True, text=True)
    wall = time.perf_counter() - started
    kib, rc = json.loads(done.stdout.strip().splitlines()[-1])
    return kib / 1024, wall, int(rc)


def trained_run(imgrec: str, task: str, model: str, work: Path, img_size: int) -> Path:
    data = work / f"data-{task}"
    if not data.exists():
        subprocess.run([imgrec, "data", "synth", str(data), "--task", task, "--per-class", "3",
                        "--img-size", "64"], check=True, capture_output=True)  # fmt: skip
    done = subprocess.run(
        [imgrec, "train", str(data), "--task", task, "--model", model, "--epochs", "1",
         "--img-size", str(img_size), "--batch-size", "4", "--out", str(work / "runs"),
         "--name", f"{task}-{model}", "--no-record", "--quiet"],
        capture_output=True, text=True, check=True,
    )  # fmt: skip
    return Path(done.stdout.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--models", default=DEFAULT)
    parser.add_argument("--img-size", type=int, default=256, help="The models' input size.")
    parser.add_argument("--work", type=Path, default=None)
    args = parser.parse_args()
    work = args.work or Path(tempfile.mkdtemp(prefix="imgrec-mem-"))
    work.mkdir(parents=True, exist_ok=True)
    imgrec = str(Path(sys.executable).with_name("imgrec"))
    image = photo(work / "photo-4000x3000.jpg")
    baseline, _, _ = peak_rss_mib([sys.executable, "-c", "import imgrec.api, torch"])
    rows: list[dict[str, Any]] = []
    for spec in args.models.split(","):
        task, _, model = spec.strip().partition(":")
        run = spec if task == "zoo" else str(trained_run(imgrec, task, model, work, args.img_size))
        out = work / "out" / spec.replace(":", "-")
        command = [imgrec, "predict", run, str(image), "--save-images", str(out)]
        mib, wall, rc = peak_rss_mib(command)
        row = {"model": spec, "peak_rss_mib": round(mib, 1), "wall_s": round(wall, 2), "rc": rc}
        print(json.dumps(row), flush=True)
        rows.append(row)
    write_result(
        "predict_memory",
        {
            "what": "peak RSS of one `imgrec predict` process on a 4000x3000 JPEG (saving masks)",
            "settings": {"img_size": args.img_size, "models": args.models},
            "baseline_import_mib": round(baseline, 1),
            "machine": machine(),
            "models": rows,
        },
    )


if __name__ == "__main__":
    main()
