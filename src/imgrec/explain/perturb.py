"""Perturbation explanations: LIME superpixels and occlusion sensitivity.

Both hide parts of the image and watch the class probability. Hidden pixels take the
normalisation mean of the model card, i.e. they become exactly zero at the network's input, the
most neutral value the model knows. Neither method needs gradients or a layer, so both work for
every model, including ``mlp``.
"""

from __future__ import annotations

import contextlib
import io

import numpy as np
import torch

from imgrec.explain.heatmaps import to_input
from imgrec.models.base import ImageClassifier
from imgrec.models.card import Preprocessing

__all__ = ["lime_map", "occlusion_map"]


@torch.no_grad()
def _probabilities(
    model: ImageClassifier,
    images: np.ndarray,
    preprocessing: Preprocessing,
    batch_size: int,
) -> np.ndarray:
    """Softmax ``(N, K)`` for ``(N, H, W, 3)`` images with values in [0, 255]."""
    device = next(model.parameters()).device
    out = []
    for start in range(0, len(images), batch_size):
        chunk = np.clip(np.rint(images[start : start + batch_size]), 0, 255).astype(np.uint8)
        out.append(model(to_input(chunk, preprocessing, device)).float().softmax(dim=1).cpu())
    return torch.cat(out).numpy().astype(np.float64)


def lime_map(
    model: ImageClassifier,
    pixels: np.ndarray,
    target: int,
    *,
    preprocessing: Preprocessing,
    num_samples: int = 500,
    n_segments: int = 50,
    seed: int = 0,
    batch_size: int = 64,
) -> np.ndarray:
    """LIME (Ribeiro et al., 2016) on SLIC superpixels: each superpixel gets the weight a local
    linear model gives it for class ``target``.

    Args:
        pixels: uint8 ``(H, W, 3)`` at the model's input size.
        num_samples: Perturbed images (model evaluations).
        n_segments: Approximate number of SLIC superpixels.
        seed: Seeds the perturbations, so a call is reproducible.

    Returns:
        float32 ``(H, W)``: the superpixel weights (negative where hiding a region helps).
    """
    from lime import lime_image
    from skimage.segmentation import slic

    def segment(image: np.ndarray) -> np.ndarray:
        labels = np.asarray(
            slic(image / 255.0, n_segments=n_segments, compactness=10.0, start_label=0)
        )
        if len(np.unique(labels)) >= 4:
            return labels
        # SLIC merges pure noise into one region; fall back to a grid of squares.
        height, width = image.shape[:2]
        side = max(1, round((height * width / n_segments) ** 0.5))
        rows, cols = np.mgrid[0:height, 0:width] // side
        return np.asarray(rows * (-(-width // side)) + cols)

    explainer = lime_image.LimeImageExplainer(random_state=seed)
    fill = tuple(255.0 * m for m in preprocessing.mean)
    with contextlib.redirect_stderr(io.StringIO()):  # LIME draws a tqdm bar on stderr
        result = explainer.explain_instance(
            pixels.astype(np.float64),
            lambda images: _probabilities(model, images, preprocessing, batch_size),
            labels=(target,),
            top_labels=None,
            hide_color=fill,
            num_samples=num_samples,
            batch_size=batch_size,
            segmentation_fn=segment,
            random_seed=seed,
        )
    weights = dict(result.local_exp[target])
    segments = np.asarray(result.segments)
    lookup = np.zeros(int(segments.max()) + 1, dtype=np.float32)
    for segment_id, weight in weights.items():
        lookup[int(segment_id)] = weight
    return lookup[segments]


def occlusion_map(
    model: ImageClassifier,
    pixels: np.ndarray,
    target: int,
    *,
    preprocessing: Preprocessing,
    window: int | None = None,
    stride: int | None = None,
    batch_size: int = 64,
) -> np.ndarray:
    """Occlusion sensitivity (Zeiler & Fergus, 2014): slide a grey square over the image and
    record how much the log-probability of ``target`` drops; each pixel averages the drops of the
    windows that covered it. (Log-probabilities, because a confident model's probability sits at
    1.0 in float32 whatever part of the object is hidden.)

    Args:
        pixels: uint8 ``(H, W, 3)`` at the model's input size.
        window: Side of the square (default: an eighth of the shorter side, at least 2).
        stride: Step between windows (default: half the window).

    Returns:
        float32 ``(H, W)``: mean log-probability drop (negative where hiding helps the class).
    """
    height, width = pixels.shape[:2]
    side = window or max(2, min(height, width) // 8)
    step = stride or max(1, side // 2)
    device = next(model.parameters()).device
    x = to_input(pixels[None], preprocessing, device)  # (1, 3, H, W); hidden pixels become 0

    def starts(size: int) -> list[int]:
        last = max(size - side, 0)
        return sorted({*range(0, last + 1, step), last})

    boxes = [(y, x0) for y in starts(height) for x0 in starts(width)]
    drops = np.zeros((height, width), dtype=np.float64)
    counts = np.zeros((height, width), dtype=np.float64)
    with torch.no_grad():
        base = float(model(x).double().log_softmax(dim=1)[0, target])
        for first in range(0, len(boxes), batch_size):
            chunk = boxes[first : first + batch_size]
            batch = x.repeat(len(chunk), 1, 1, 1)
            for i, (y, x0) in enumerate(chunk):
                batch[i, :, y : y + side, x0 : x0 + side] = 0.0
            scores = model(batch).double().log_softmax(dim=1)[:, target].cpu().numpy()
            for (y, x0), p in zip(chunk, scores, strict=True):
                drops[y : y + side, x0 : x0 + side] += base - float(p)
                counts[y : y + side, x0 : x0 + side] += 1.0
    return (drops / np.maximum(counts, 1.0)).astype(np.float32)
