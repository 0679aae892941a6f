"""Segmenter training cost on this CPU: forward + backward seconds per batch, per model.

Each model gets a batch of 8 random images at 128 x 128 px (normalised) and random 3-class masks;
one step is forward, pixel cross-entropy, backward (no optimiser step: the same for all models).
One untimed warm-up step, then the median of ``--repeats`` timed steps. Models are built as
``create_segmenter`` builds them (no pretrained weights: the cost does not depend on them).

    python benchmarks/segmentation_models.py [--repeats 3] [--batch 8] [--size 128]

Writes benchmarks/results/segmentation_models.json.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path
from typing import Any

import torch
import torch.nn.functional as F

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import machine, write_result
from imgrec.models.segmenters import create_segmenter

MODELS: list[tuple[str, dict[str, Any]]] = [
    ("smallunet", {}),
    ("unet", {"backbone": "resnet18"}),
    ("lraspp", {"backbone": "mobilenet_v3_large"}),
    ("deeplabv3", {"backbone": "mobilenet_v3_large"}),
    ("fcn", {"backbone": "resnet50"}),
    ("unet", {"backbone": "efficientnet_lite0"}),
]
CLASSES = 3


def measure(
    name: str, options: dict[str, Any], *, batch: int, size: int, repeats: int
) -> dict[str, Any]:
    started = time.perf_counter()
    model = create_segmenter(name, num_classes=CLASSES, **options).train()
    built_s = time.perf_counter() - started
    images = torch.randn(batch, 3, size, size)
    masks = torch.randint(0, CLASSES, (batch, size, size))

    def step() -> float:
        t0 = time.perf_counter()
        model.zero_grad(set_to_none=True)
        F.cross_entropy(model(images), masks).backward()
        return time.perf_counter() - t0

    step()  # warm-up: allocator, oneDNN kernels
    times = [step() for _ in range(repeats)]
    row = {
        "model": name,
        "options": model.options,
        "parameters_m": round(sum(p.numel() for p in model.parameters()) / 1e6, 2),
        "backbone_parameters_m": round(
            sum(p.numel() for p in model.backbone_parameters()) / 1e6, 2
        ),
        "build_s": round(built_s, 2),
        "step_s_median": round(statistics.median(times), 3),
        "step_s_all": [round(t, 3) for t in times],
        "images_per_s": round(batch / statistics.median(times), 1),
    }
    print(f"{name:10s} {model.options}: {row['step_s_median']:.3f} s/batch", flush=True)
    return row


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--batch", type=int, default=8)
    parser.add_argument("--size", type=int, default=128)
    args = parser.parse_args()
    torch.manual_seed(0)
    started = time.perf_counter()
    rows = [
        measure(name, opts, batch=args.batch, size=args.size, repeats=args.repeats)
        for name, opts in MODELS
    ]
    write_result(
        "segmentation_models",
        {
            "what": "forward + cross-entropy + backward seconds per batch, training mode, CPU",
            "settings": {"batch": args.batch, "size": args.size, "repeats": args.repeats},
            "machine": machine(),
            "models": rows,
            "total_s": round(time.perf_counter() - started, 1),
        },
    )


if __name__ == "__main__":
    main()
