"""Does pruning pay? The same search with and without a pruner on a fixed dataset and space
(a Fashion-MNIST subset, installed from Debian's dataset-fashion-mnist).

Target (issue 3): the pruned study reaches at least 98% of the best validation accuracy of the
unpruned one while spending at most half of its training epochs.

    python benchmarks/pruning_pays.py [--trials 16] [--epochs 6] [--per-class 150]

Writes benchmarks/results/pruning_pays.json.
"""

from __future__ import annotations

import argparse
import os
import tempfile
import time
from pathlib import Path
from typing import Any

from _common import ensure_fashion_mnist, machine, write_result

FASHION_CLASSES = [
    "tshirt", "trouser", "pullover", "dress", "coat",
    "sandal", "shirt", "sneaker", "bag", "boot",
]  # fmt: skip


def fashion_subset(out: Path, per_class: int) -> Path:
    """The first ``per_class`` training images of each Fashion-MNIST class as PNG folders."""
    import numpy as np
    from PIL import Image

    from imgrec.data.idx import read_idx

    source = ensure_fashion_mnist()
    images = read_idx(source / "train-images-idx3-ubyte.gz")
    labels = read_idx(source / "train-labels-idx1-ubyte.gz")
    for label, name in enumerate(FASHION_CLASSES):
        folder = out / name
        folder.mkdir(parents=True, exist_ok=True)
        for i in np.flatnonzero(labels == label)[:per_class]:
            Image.fromarray(images[i]).save(folder / f"{i}.png")
    return out


SPACE: dict[str, Any] = {
    "lr": {"low": 1e-5, "high": 1.0, "log": True},
    "optimizer": ["adamw", "sgd"],
    "weight_decay": {"low": 1e-5, "high": 1e-1, "log": True},
    "batch_size": [16, 32, 64],
}


def run_study(data: Path, work: Path, *, pruner: str, trials: int, epochs: int) -> dict[str, Any]:
    import imgrec

    started = time.perf_counter()
    result = imgrec.tune(
        data,
        space=SPACE | {"epochs": epochs},
        trials=trials,
        sampler="tpe",
        pruner=pruner,
        name=f"bench-{pruner}",
        out=work / "experiments",
        db=f"sqlite:///{work / 'bench.db'}",
        show_progress=True,
        img_size=28,
        seed=0,
        augment="none",
        **{"model.options.width": 16},
    )
    return {
        "pruner": pruner,
        "best_val_accuracy": result.best_value,
        "best_params": result.summary["best_params"],
        "total_epochs": result.summary["total_epochs"],
        "trial_states": result.summary["counts"],
        "wall_time_s": round(time.perf_counter() - started, 1),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--trials", type=int, default=16)
    parser.add_argument("--epochs", type=int, default=6)
    parser.add_argument("--per-class", type=int, default=150)
    parser.add_argument("--pruners", default="median,hyperband")
    args = parser.parse_args()

    with tempfile.TemporaryDirectory(prefix="imgrec-prune-") as tmp:
        work = Path(tmp)
        os.environ["IMGREC_HOME"] = str(work / "home")
        data = fashion_subset(work / "fashion", args.per_class)
        baseline = run_study(data, work, pruner="none", trials=args.trials, epochs=args.epochs)
        studies = [baseline]
        for pruner in args.pruners.split(","):
            pruned = run_study(data, work, pruner=pruner, trials=args.trials, epochs=args.epochs)
            pruned["accuracy_ratio"] = round(
                pruned["best_val_accuracy"] / baseline["best_val_accuracy"], 4
            )
            pruned["epoch_ratio"] = round(pruned["total_epochs"] / baseline["total_epochs"], 4)
            pruned["meets_target"] = (
                pruned["accuracy_ratio"] >= 0.98 and pruned["epoch_ratio"] <= 0.5
            )
            studies.append(pruned)
    write_result(
        "pruning_pays",
        {
            "dataset": f"Fashion-MNIST subset: first {args.per_class} training images per class "
            "(10 classes, 28 px; 70/15/15 split)",
            "model": "simple_cnn width 16, no augmentation",
            "space": SPACE,
            "trials": args.trials,
            "max_epochs": args.epochs,
            "sampler": "tpe (seed 0)",
            "studies": studies,
            "machine": machine(),
        },
    )
    for study in studies:
        print(study)


if __name__ == "__main__":
    main()
