"""Do the heatmaps mean something? The pointing game and the model-randomisation check.

- Pointing game (Zhang et al., 2016): a heatmap "hits" when its peak lies inside the object's
  mask. On the synthetic shapes data the generator knows every object's exact mask
  (:func:`imgrec.data.synth.render_mask`), so the score needs no human annotation.
- Model randomisation (Adebayo et al., 2018, "Sanity Checks for Saliency Maps"): explanations of
  a trained model and of the same architecture with re-initialised weights must differ. We report
  the Spearman rank correlation between the two maps of each image; a method whose maps stay
  correlated explains the architecture or the image, not what the model learned.
"""

from __future__ import annotations

import copy
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import torch
from torch import nn

from imgrec.explain.heatmaps import compute_heatmaps
from imgrec.models.base import ImageClassifier
from imgrec.models.card import Preprocessing

__all__ = ["peak_of", "pointing_game", "rank_correlations", "reinitialised", "sanity_check"]


def pointing_game(
    heatmaps: np.ndarray, masks: np.ndarray, *, tolerance: int = 0
) -> tuple[float, np.ndarray]:
    """Share of maps whose maximum (:func:`peak_of`) lies on the object.

    Args:
        heatmaps: ``(N, H, W)`` maps.
        masks: ``(N, H, W)`` boolean object masks at the same size.
        tolerance: Also count a peak within this many pixels of the mask (0: strictly inside).

    Returns:
        ``(score in [0, 1], hits bool (N,))``; a map that is zero everywhere has no peak and
        counts as a miss.
    """
    if heatmaps.shape != masks.shape:
        raise ValueError(f"heatmaps {heatmaps.shape} and masks {masks.shape} differ in shape")
    hits = np.zeros(len(heatmaps), dtype=bool)
    for i, (heat, mask) in enumerate(zip(heatmaps, masks, strict=True)):
        if not np.any(heat > 0):
            continue
        y, x = peak_of(heat)
        y0, x0 = max(0, y - tolerance), max(0, x - tolerance)
        hits[i] = bool(mask[y0 : y + tolerance + 1, x0 : x + tolerance + 1].any())
    return float(hits.mean()) if len(hits) else 0.0, hits


def peak_of(heat: np.ndarray) -> tuple[int, int]:
    """``(row, column)`` of the maximum of ``(H, W)`` ``heat``.

    Maps that are constant on regions (LIME superpixels, occlusion windows) often reach their
    maximum on many pixels; ``argmax`` would then always pick the region's top-left pixel, which
    lies outside the object whenever the region does. The peak is instead the maximal pixel
    nearest to the centre of all maximal pixels.
    """
    ys, xs = np.nonzero(heat == heat.max())
    k = int(np.argmin((ys - ys.mean()) ** 2 + (xs - xs.mean()) ** 2))
    return int(ys[k]), int(xs[k])


def rank_correlations(first: np.ndarray, second: np.ndarray) -> np.ndarray:
    """Spearman rank correlation of each pair of ``(N, H, W)`` maps; ``nan`` where a map is
    constant (no ranking to compare)."""
    from scipy.stats import spearmanr

    out = np.full(len(first), np.nan)
    for i, (a, b) in enumerate(zip(first, second, strict=True)):
        if np.ptp(a) > 0 and np.ptp(b) > 0:
            out[i] = float(spearmanr(a.ravel(), b.ravel()).statistic)
    return out


def reinitialised(model: ImageClassifier, *, seed: int = 0) -> ImageClassifier:
    """A copy of ``model`` with every weight drawn afresh (PyTorch's default initialisers; free
    parameters such as a ViT's position embedding and class token from N(0, 0.02))."""
    fresh = copy.deepcopy(model)
    generator_state = torch.get_rng_state()
    torch.manual_seed(seed)
    try:
        done: set[int] = set()
        for module in fresh.modules():
            reset = getattr(module, "reset_parameters", None)
            if callable(reset):
                reset()
                done.update(id(p) for p in module.parameters(recurse=False))
        with torch.no_grad():
            for p in fresh.parameters():
                if id(p) not in done:
                    nn.init.trunc_normal_(p, std=0.02)
    finally:
        torch.set_rng_state(generator_state)
    return fresh


def sanity_check(
    model: ImageClassifier,
    pixels: np.ndarray,
    targets: Sequence[int],
    *,
    preprocessing: Preprocessing,
    method: str,
    seed: int = 0,
    options: Mapping[str, Any] | None = None,
) -> dict[str, Any]:
    """Heatmaps of ``model`` and of :func:`reinitialised` ``model`` for the same images and
    classes, and their rank correlation.

    Returns:
        ``{"mean": ..., "median": ..., "per_image": [...], "constant_maps": n}``; ``mean`` and
        ``median`` skip images where either map is constant (counted in ``constant_maps``).
    """
    kwargs: dict[str, Any] = {"preprocessing": preprocessing, "method": method, "options": options}
    trained = compute_heatmaps(model, pixels, targets, **kwargs)
    random = compute_heatmaps(reinitialised(model, seed=seed), pixels, targets, **kwargs)
    rho = rank_correlations(trained, random)
    valid = rho[~np.isnan(rho)]
    return {
        "mean": float(valid.mean()) if len(valid) else None,
        "median": float(np.median(valid)) if len(valid) else None,
        "per_image": [None if np.isnan(r) else round(float(r), 4) for r in rho],
        "constant_maps": int(np.isnan(rho).sum()),
    }
