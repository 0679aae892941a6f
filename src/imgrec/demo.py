"""``imgrec demo``: the whole path on generated data in about a minute on a CPU."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import TextIO

from imgrec import api
from imgrec.engine.rundir import SPLITS_FILE, read_splits

__all__ = ["run_demo"]


def run_demo(
    out: Path, *, epochs: int = 12, per_class: int = 500, stream: TextIO | None = None
) -> Path:
    """Generate shapes, train ``simple_cnn``, evaluate, predict a few test images.

    Returns:
        The run directory.
    """
    say = (stream or sys.stdout).write
    data_dir = out / "shapes"
    if not (data_dir / "annotations.json").is_file():
        say(f"1/4 generating a shapes dataset in {data_dir}\n")
        api.synth_data(data_dir, per_class=per_class, img_size=32, seed=0)
    else:
        say(f"1/4 reusing the shapes dataset in {data_dir}\n")
    say("2/4 training simple_cnn (32x32 px, CPU is fine)\n")
    result = api.train(
        data_dir,
        model="simple_cnn",
        epochs=epochs,
        img_size=32,
        batch_size=64,
        lr=1e-3,
        warmup_epochs=1 if epochs > 1 else 0,
        augment="none",
        out=str(out / "runs"),
    )
    metrics = result.metrics
    chance = 1 / len(metrics["classes"])
    say(
        f"3/4 test accuracy {metrics['accuracy']:.3f} on {metrics['num_samples']} images "
        f"(chance: {chance:.2f}; `imgrec demo --epochs 30` trains longer)\n"
    )
    for row in metrics["per_class"]:
        say(
            f"      {row['name']:<10} precision {row['precision']:.3f}"
            f"  recall {row['recall']:.3f}\n"
        )
    test_rows = [r for r in read_splits(result.run_dir / SPLITS_FILE) if r["split"] == "test"][:6]
    predictions = api.predict(result.run_dir, [r["path"] for r in test_rows], top_k=2)
    say("4/4 predictions on a few test images:\n")
    for row, pred in zip(test_rows, predictions, strict=True):
        mark = "ok " if pred.label == row["label"] else "NO "
        say(
            f"      {mark} {Path(row['path']).name:<22} true {row['label']:<9}"
            f" predicted {pred.label} ({pred.score:.2f})\n"
        )
    say(
        f"\nResults are in {result.run_dir}:\n"
        "  metrics.json, per_class.csv, confusion_matrix.png, learning_curves.png,\n"
        "  worst_mistakes.png, model.safetensors, card.json, config.yaml\n"
        f"Next: imgrec predict {result.run_dir} IMAGE...   imgrec eval {result.run_dir}\n"
    )
    return result.run_dir
