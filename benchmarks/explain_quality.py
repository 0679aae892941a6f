"""Do imgrec's explanations mean something, and how fast are they?

1. Localisation (pointing game): generate 64 px shapes (the generator knows each object's exact
   mask), train `simple_cnn` on them through `imgrec.train`, then for every test image ask each
   method to explain the true class and count how often the heatmap's peak lies inside the
   object. Target: Grad-CAM >= 85 %. `cam` needs a global-pooling + linear head, which
   `simple_cnn` does not have; on such models it equals Grad-CAM exactly (tested in
   tests/explain). `--cam-model timm:test_resnet` also trains one such model (output stride 8)
   and scores `cam` and `gradcam` on it; slow on a 2-core CPU (dilated convolutions).
2. Sanity check (Adebayo et al., 2018, model randomisation): the same heatmaps from the trained
   model and from the same architecture with re-initialised weights; Spearman rank correlation
   per image, averaged. Low means the method explains what the model learned.
3. Speed: Grad-CAM for one 224x224 image with resnet18 on this CPU (median of N runs).

    python benchmarks/explain_quality.py [--per-class 1000] [--epochs 25] [--lime-samples 300]
                                         [--images 300] [--latency-runs 20]
    python benchmarks/explain_quality.py --latency-only    # re-time on a quiet machine

Writes benchmarks/results/explain_quality.json.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))
import imgrec
from _common import RESULTS, machine, write_result
from imgrec.data.synth import read_annotations, render_mask, write_shapes_dataset
from imgrec.engine.predictor import Predictor
from imgrec.engine.rundir import SPLITS_FILE, read_splits
from imgrec.errors import ModelError
from imgrec.explain.explainer import classifier
from imgrec.explain.heatmaps import METHODS, compute_heatmaps
from imgrec.explain.localisation import pointing_game, sanity_check
from imgrec.models.card import Preprocessing
from imgrec.models.registry import create_model

TARGET_GRADCAM = 0.85
SANITY_SAMPLE = 50  # images per method for the randomisation check
SANITY_BOUND = 0.5  # mean rank correlation below this: "differs clearly"


def train(
    data: Path, out: Path, *, model: str, epochs: int, options: dict[str, Any]
) -> tuple[Path, float]:
    started = time.perf_counter()
    result = imgrec.train(
        data,
        model=model,
        epochs=epochs,
        img_size=64,
        batch_size=32,
        lr=2e-3,
        warmup_epochs=1,
        augment="none",
        out=str(out),
        show_progress=False,
        **{f"model.options.{k}": v for k, v in options.items()},
    )
    print(f"  {model}: accuracy {result.accuracy:.3f} in {time.perf_counter() - started:.0f}s")
    return result.run_dir, result.accuracy


def test_split(run_dir: Path, data: Path) -> tuple[Predictor, np.ndarray, np.ndarray, np.ndarray]:
    """The run's model, and its test images (pixels, class indices, object masks at 64 px)."""
    predictor = Predictor.from_run_dir(run_dir, device="cpu")
    records = {str((data / r.path).resolve()): r for r in read_annotations(data) if r.path}
    rows = [r for r in read_splits(run_dir / SPLITS_FILE) if r["split"] == "test"]
    size = predictor.card.preprocessing.size
    pixels = np.stack([predictor._pixels(Path(r["path"])) for r in rows])
    labels = np.array([predictor.card.classes.index(r["label"]) for r in rows])
    masks = np.stack([render_mask(records[str(Path(r["path"]).resolve())], size) for r in rows])
    return predictor, pixels, labels, masks


def score_methods(
    predictor: Predictor,
    pixels: np.ndarray,
    labels: np.ndarray,
    masks: np.ndarray,
    *,
    methods: tuple[str, ...],
    lime_samples: int,
) -> dict[str, Any]:
    model, pre = classifier(predictor), predictor.card.preprocessing
    out: dict[str, Any] = {}
    for method in methods:
        options = {"num_samples": lime_samples} if method == "lime" else None
        started = time.perf_counter()
        try:
            heat = compute_heatmaps(
                model, pixels, labels.tolist(), preprocessing=pre, method=method, options=options
            )
        except ModelError as exc:
            out[method] = {"applicable": False, "reason": str(exc)}
            print(f"  {method:<10} not applicable: {exc}")
            continue
        seconds = time.perf_counter() - started
        strict, _ = pointing_game(heat, masks)
        near, _ = pointing_game(heat, masks, tolerance=2)
        check = sanity_check(
            model,
            pixels[:SANITY_SAMPLE],
            labels[:SANITY_SAMPLE].tolist(),
            preprocessing=pre,
            method=method,
            options=options,
        )
        out[method] = {
            "applicable": True,
            "pointing_game": round(strict, 4),
            "pointing_game_within_2px": round(near, 4),
            "hits": round(strict * len(labels)),
            "images": len(labels),
            "seconds_per_image": round(seconds / len(labels), 4),
            "randomisation_spearman_mean": _r(check["mean"]),
            "randomisation_spearman_median": _r(check["median"]),
            "randomisation_constant_maps": check["constant_maps"],
            "randomisation_images": len(check["per_image"]),
            "differs_clearly": check["mean"] is not None and check["mean"] < SANITY_BOUND,
        }
        print(
            f"  {method:<10} pointing {strict:.3f} (within 2 px {near:.3f})  "
            f"randomisation rho {_r(check['mean'])}  {seconds / len(labels) * 1000:.0f} ms/img"
        )
    return out


def _r(value: float | None) -> float | None:
    return None if value is None else round(value, 4)


def baselines(masks: np.ndarray, seed: int = 0) -> dict[str, float]:
    """What a heatmap with no information scores: the image centre, a random pixel."""
    _, h, w = masks.shape
    centre = np.zeros(masks.shape, dtype=np.float32)
    centre[:, h // 2, w // 2] = 1.0
    rng = np.random.default_rng(seed)
    random = rng.random(masks.shape).astype(np.float32)
    return {
        "centre_pixel": round(pointing_game(centre, masks)[0], 4),
        "random_pixel": round(pointing_game(random, masks)[0], 4),
        "mask_area_mean": round(float(masks.mean()), 4),
    }


def latency(runs: int) -> dict[str, Any]:
    """Grad-CAM for one 224x224 image, resnet18 (ImageNet-sized head), this CPU."""
    torch.manual_seed(0)
    model = create_model("resnet18", num_classes=1000, img_size=224).eval()
    pre = Preprocessing(size=(224, 224))
    image = np.random.default_rng(0).integers(0, 256, (1, 224, 224, 3), dtype=np.uint8)
    times, forward = [], []
    for i in range(runs + 2):  # two warm-up runs
        started = time.perf_counter()
        compute_heatmaps(model, image, [1], preprocessing=pre, method="gradcam")
        if i >= 2:
            times.append(time.perf_counter() - started)
        with torch.no_grad():
            started = time.perf_counter()
            model(torch.zeros(1, 3, 224, 224))
            if i >= 2:
                forward.append(time.perf_counter() - started)
    return {
        "model": "resnet18",
        "image": "1x3x224x224",
        "runs": runs,
        "gradcam_median_ms": round(statistics.median(times) * 1000, 1),
        "gradcam_min_ms": round(min(times) * 1000, 1),
        "forward_only_median_ms": round(statistics.median(forward) * 1000, 1),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--per-class", type=int, default=1000)
    parser.add_argument("--epochs", type=int, default=25)
    parser.add_argument("--lime-samples", type=int, default=300)
    parser.add_argument("--images", type=int, default=300, help="Test images scored per model.")
    parser.add_argument("--cam-model", default=None, help="e.g. timm:test_resnet (see above).")
    parser.add_argument("--latency-runs", type=int, default=20)
    parser.add_argument(
        "--latency-only",
        action="store_true",
        help="Measure the latency again (on a quiet machine) and keep the other results.",
    )
    args = parser.parse_args()
    if args.latency_only:
        previous = json.loads((RESULTS / "explain_quality.json").read_text())
        for key in ("benchmark", "date"):  # write_result sets them afresh
            previous.pop(key, None)
        previous["latency"] = latency(args.latency_runs)
        previous["latency"]["load_average_1min_before"] = os.getloadavg()[0]
        write_result("explain_quality", previous)
        return
    results: dict[str, Any] = {"machine": machine(), "settings": vars(args)}
    with tempfile.TemporaryDirectory(prefix="imgrec-explain-") as tmp:
        work = Path(tmp)
        os.environ["IMGREC_HOME"] = str(work / "home")  # no runs or caches left behind
        print("latency ...", flush=True)
        load = os.getloadavg()[0]
        results["latency"] = latency(args.latency_runs)
        results["latency"]["load_average_1min_before"] = load
        print(f"  Grad-CAM resnet18 224 px: {results['latency']['gradcam_median_ms']} ms")
        data = write_shapes_dataset(work / "shapes", per_class=args.per_class, img_size=64, seed=0)
        models: dict[str, tuple[dict[str, Any], tuple[str, ...]]] = {"simple_cnn": ({}, METHODS)}
        if args.cam_model:
            models[args.cam_model] = ({"output_stride": 8}, ("cam", "gradcam"))
        for name, (options, methods) in models.items():
            print(f"training {name} ...", flush=True)
            run_dir, accuracy = train(
                data, work / "runs", model=name, epochs=args.epochs, options=options
            )
            predictor, pixels, labels, masks = test_split(run_dir, data)
            keep = np.sort(np.random.default_rng(0).permutation(len(labels))[: args.images])
            pixels, labels, masks = pixels[keep], labels[keep], masks[keep]
            results[name] = {
                "test_accuracy": round(accuracy, 4),
                "options": options,
                "baselines": baselines(masks),
                "methods": score_methods(
                    predictor,
                    pixels,
                    labels,
                    masks,
                    methods=methods,
                    lime_samples=args.lime_samples,
                ),
            }
    gradcam = results["simple_cnn"]["methods"]["gradcam"]["pointing_game"]
    results["target"] = {"gradcam_pointing_game": TARGET_GRADCAM, "met": gradcam >= TARGET_GRADCAM}
    results["sanity_bound"] = SANITY_BOUND
    write_result("explain_quality", results)


if __name__ == "__main__":
    main()
