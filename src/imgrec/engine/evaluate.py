"""Evaluating a classifier on decoded images: report, artifacts and inference timings."""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

from imgrec.data.augment import normalize
from imgrec.evaluation.classification import classification_report
from imgrec.evaluation.plots import Monitor
from imgrec.evaluation.timing import measure_latency, measure_throughput
from imgrec.evaluation.writers import write_classification_artifacts
from imgrec.models.card import Preprocessing

__all__ = ["collect_logits", "evaluate_classifier"]


@torch.inference_mode()
def collect_logits(
    model: nn.Module,
    images: np.ndarray,
    *,
    preprocessing: Preprocessing,
    device: torch.device | str = "cpu",
    batch_size: int = 256,
    progress: Callable[[int, int], None] | None = None,
) -> torch.Tensor:
    """Logits ``(N, K)`` for uint8 images ``(N, H, W, 3)``, in order."""
    was_training = model.training
    model.eval()
    outputs: list[torch.Tensor] = []
    total = len(images)
    try:
        for start in range(0, total, batch_size):
            chunk = np.array(
                images[start : start + batch_size]
            )  # a writable copy (memmaps are read-only)
            batch = torch.from_numpy(chunk).permute(0, 3, 1, 2).to(device)
            x = normalize(batch, preprocessing.mean, preprocessing.std, dtype=torch.float32)
            outputs.append(model(x).float().cpu())
            if progress is not None:
                progress(min(start + batch_size, total), total)
    finally:
        model.train(was_training)
    return torch.cat(outputs) if outputs else torch.empty(0, 0)


def evaluate_classifier(
    model: nn.Module,
    images: np.ndarray,
    labels: np.ndarray,
    classes: Sequence[str],
    *,
    preprocessing: Preprocessing,
    out_dir: Path,
    device: torch.device | str = "cpu",
    history: Sequence[Mapping[str, float]] | None = None,
    monitor: Monitor | None = None,
    sources: Sequence[str] | None = None,
    measure_speed: bool = True,
    progress: Callable[[int, int], None] | None = None,
) -> dict[str, Any]:
    """Compute the classification report, write per-class CSV and plots, time inference.

    ``monitor`` (the run's monitored metric and direction) marks the best epoch of ``history``
    on the learning curves; ``sources`` (one file path per image, in order) names the tiles of
    the worst-mistakes grid.

    Returns:
        The metrics dict (also what goes into ``metrics.json``), with an ``artifacts`` entry
        listing the files written and an ``inference`` entry with latency and throughput.
    """
    model = model.to(device)
    logits = collect_logits(
        model, images, preprocessing=preprocessing, device=device, progress=progress
    )
    report = classification_report(logits, torch.as_tensor(labels), list(classes))
    if sources is not None and len(sources) != len(images):
        raise ValueError(f"got {len(sources)} sources for {len(images)} images")
    worst = [loss.index for loss in report.top_losses]
    artifacts = write_classification_artifacts(
        report,
        out_dir,
        history=list(history) if history else None,
        monitor=monitor,
        mistake_images=images[np.asarray(worst, dtype=np.int64)] if worst else None,
        mistake_sources=[sources[i] for i in worst] if sources is not None and worst else None,
    )
    metrics: dict[str, Any] = report.to_dict()
    metrics["macro_f1"] = report.macro_avg.f1
    metrics["weighted_f1"] = report.weighted_avg.f1
    if measure_speed:
        shape = (3, *preprocessing.size)
        metrics["inference"] = {
            "device": str(device),
            "latency_batch1": measure_latency(model, shape, device=device),
            "throughput": measure_throughput(model, shape, device=device, batch_size=256),
        }
    metrics["artifacts"] = {name: str(path.name) for name, path in artifacts.items()}
    return metrics
