"""Embedding map: where a dataset's images sit in the model's feature space.

The penultimate features (``forward_head(features, pre_logits=True)``, what the classifier sees)
are projected to 2-D with PCA or t-SNE (scikit-learn) and drawn coloured by true class; the
class pairs the model confuses most are listed beside it.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any, Literal

import numpy as np
import torch

from imgrec.config import Settings
from imgrec.engine.predictor import Predictor

# The run's own split and another dataset are read exactly as `imgrec eval` reads them.
from imgrec.engine.reevaluate import own_split, read_other_dataset
from imgrec.errors import ConfigError
from imgrec.explain.heatmaps import to_input
from imgrec.models.base import ImageClassifier
from imgrec.models.card import ModelCard, Preprocessing

__all__ = [
    "confused_pairs",
    "embedding_map",
    "load_dataset_images",
    "load_split_images",
    "penultimate_features",
    "project",
]

Projection = Literal["pca", "tsne"]


@torch.no_grad()
def penultimate_features(
    model: ImageClassifier,
    pixels: np.ndarray,
    *,
    preprocessing: Preprocessing,
    batch_size: int = 128,
) -> tuple[np.ndarray, np.ndarray]:
    """``(features float32 (N, F), logits float32 (N, K))`` for uint8 ``(N, H, W, 3)`` images."""
    device = next(model.parameters()).device
    was_training = model.training
    model.eval()
    feats, logits = [], []
    try:
        for start in range(0, len(pixels), batch_size):
            x = to_input(np.array(pixels[start : start + batch_size]), preprocessing, device)
            maps = model.forward_features(x)
            feats.append(model.forward_head(maps, pre_logits=True).float().flatten(1).cpu())
            logits.append(model.forward_head(maps).float().cpu())
    finally:
        model.train(was_training)
    return torch.cat(feats).numpy(), torch.cat(logits).numpy()


def project(features: np.ndarray, *, method: str = "pca", seed: int = 0) -> np.ndarray:
    """``(N, F)`` features -> ``(N, 2)`` points by PCA or t-SNE (perplexity fitted to ``N``).

    Raises:
        ConfigError: unknown method, or fewer than 3 samples.
    """
    if method not in ("pca", "tsne"):
        raise ConfigError(f"unknown projection '{method}'; use 'pca' or 'tsne'.")
    if len(features) < 3:
        raise ConfigError(f"an embedding map needs at least 3 images, got {len(features)}.")
    if method == "pca":
        from sklearn.decomposition import PCA

        return np.asarray(PCA(n_components=2, random_state=seed).fit_transform(features))
    from sklearn.manifold import TSNE

    perplexity = float(min(30.0, (len(features) - 1) / 3.0))
    tsne = TSNE(n_components=2, perplexity=perplexity, init="pca", random_state=seed)
    return np.asarray(tsne.fit_transform(features))


def confused_pairs(
    labels: np.ndarray, predicted: np.ndarray, classes: Sequence[str], *, top: int = 10
) -> list[dict[str, Any]]:
    """The ``top`` (true, predicted) pairs with the most mistakes, most first.

    ``rate`` is the share of the true class's images that went to the predicted class.
    """
    k = len(classes)
    matrix = np.bincount(labels * k + predicted, minlength=k * k).reshape(k, k)
    support = matrix.sum(axis=1)
    np.fill_diagonal(matrix, 0)
    order = np.argsort(-matrix, axis=None, kind="stable")[:top]
    return [
        {
            "true": classes[i],
            "predicted": classes[j],
            "count": int(matrix[i, j]),
            "rate": round(float(matrix[i, j] / max(support[i], 1)), 4),
        }
        for i, j in (divmod(int(flat), k) for flat in order)
        if matrix[i, j] > 0
    ]


def _plot(
    points: np.ndarray, labels: np.ndarray, classes: Sequence[str], title: str, path: Path
) -> None:
    from matplotlib import colormaps
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    fig = Figure(figsize=(7.5, 6.0), dpi=100)
    FigureCanvasAgg(fig)
    ax = fig.add_subplot()
    cmap = colormaps["tab20" if len(classes) > 10 else "tab10"]
    for index, name in enumerate(classes):
        chosen = labels == index
        if chosen.any():
            ax.scatter(
                points[chosen, 0],
                points[chosen, 1],
                s=10,
                color=cmap(index % cmap.N),
                label=name,
                alpha=0.8,
            )
    ax.set_title(title)
    ax.set_xticks([])
    ax.set_yticks([])
    if len(classes) <= 30:
        ax.legend(loc="center left", bbox_to_anchor=(1.0, 0.5), fontsize=8, markerscale=2)
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, format="png", bbox_inches="tight")


def embedding_map(
    model: ImageClassifier,
    pixels: np.ndarray,
    labels: np.ndarray,
    *,
    card: ModelCard,
    out_dir: str | Path,
    method: str = "pca",
    seed: int = 0,
    source: str = "",
) -> dict[str, Any]:
    """Project the images' penultimate features to 2-D, write ``embedding-<method>.png`` and
    ``.json`` (points, labels, predictions, confused pairs) into ``out_dir``; return the JSON."""
    features, logits = penultimate_features(model, pixels, preprocessing=card.preprocessing)
    predicted = logits.argmax(axis=1)
    points = project(features, method=method, seed=seed)
    out = Path(out_dir)
    png, path = out / f"embedding-{method}.png", out / f"embedding-{method}.json"
    accuracy = float((predicted == labels).mean())
    title = (
        f"{card.architecture}: {method.upper()} of {features.shape[1]}-d features, "
        f"{len(labels)} images (accuracy {accuracy:.3f})"
    )
    _plot(points, labels, card.classes, title, png)
    report = {
        "method": method,
        "source": source,
        "num_images": len(labels),
        "feature_dim": int(features.shape[1]),
        "accuracy": round(accuracy, 6),
        "confused_pairs": confused_pairs(labels, predicted, card.classes),
        "points": [
            {
                "x": round(float(x), 5),
                "y": round(float(y), 5),
                "label": card.classes[int(t)],
                "predicted": card.classes[int(p)],
            }
            for (x, y), t, p in zip(points, labels, predicted, strict=True)
        ],
        "png": str(png),
    }
    path.write_text(json.dumps(report, indent=2) + "\n")
    report["json"] = str(path)
    return report


def _pick(count: int, max_images: int, seed: int) -> list[int]:
    """All indices, or a seeded sorted sample of ``max_images`` of them."""
    if count <= max_images:
        return list(range(count))
    return sorted(int(i) for i in np.random.default_rng(seed).choice(count, max_images, False))


def load_split_images(
    predictor: Predictor,
    run_dir: Path,
    *,
    split: str = "test",
    max_images: int = 2000,
    seed: int = 0,
) -> tuple[np.ndarray, np.ndarray]:
    """Pixels ``(N, H, W, 3)`` and labels ``(N,)`` of the run's own ``split`` (``splits.csv``),
    at most ``max_images`` of them (a seeded sample).

    Raises:
        DatasetError: the run has no such split, or an image can no longer be read.
    """
    paths, labels = own_split(run_dir, split, predictor.card.classes)
    keep = _pick(len(paths), max_images, seed)
    return np.stack([predictor.pixels(paths[i]) for i in keep]), labels[keep]


def load_dataset_images(
    predictor: Predictor, data: Path, *, settings: Settings, max_images: int = 2000, seed: int = 0
) -> tuple[np.ndarray, np.ndarray]:
    """Pixels and labels of another dataset (its test split when it has one, else all of it).

    Raises:
        DatasetError: the dataset has classes the model does not know, or no usable images.
    """
    samples, labels, _ = read_other_dataset(data, predictor.card.classes, settings, None)
    keep = _pick(len(samples), max_images, seed)
    return np.stack([predictor.pixels(samples[i].path) for i in keep]), labels[keep]
