"""imgrec.explain: why did the model decide? Heatmaps, filters, feature maps, summary, embedding.

>>> from imgrec.engine.predictor import Predictor
>>> from imgrec.explain import explain_images
>>> [e] = explain_images(Predictor.from_run_dir(run_dir), ["cat.png"], method="gradcam")
>>> e.heatmap.shape, e.label, e.probability          # ((H, W) in [0, 1], 'cat', 0.93)

Methods: ``cam``, ``gradcam``, ``gradcam++``, ``scorecam``, ``eigencam``, ``layercam``
(pytorch-grad-cam), ``lime`` (LIME on superpixels) and ``occlusion``; for detectors
``eigencam`` and ``gradcam`` of one chosen box (:func:`explain_detections`). Names are imported
lazily, so ``import imgrec.explain`` does not import torch.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from imgrec._lazy import lazy_exports

__all__ = [
    "DetectionExplanation",
    "ExplainedBox",
    "Explanation",
    "ModelSummary",
    "UnexplainedImage",
    "compute_heatmaps",
    "embedding_map",
    "explain_detections",
    "explain_each",
    "explain_images",
    "feature_maps",
    "find_layer",
    "plot_feature_maps",
    "plot_filters",
    "pointing_game",
    "sanity_check",
    "save_explanation",
    "summarize",
]

_LAZY = {
    "compute_heatmaps": "imgrec.explain.heatmaps",
    "Explanation": "imgrec.explain.explainer",
    "explain_images": "imgrec.explain.explainer",
    "explain_each": "imgrec.explain.explainer",
    "UnexplainedImage": "imgrec.explain.explainer",
    "DetectionExplanation": "imgrec.explain.detections",
    "ExplainedBox": "imgrec.explain.detections",
    "explain_detections": "imgrec.explain.detections",
    "ModelSummary": "imgrec.explain.summary",
    "summarize": "imgrec.explain.summary",
    "embedding_map": "imgrec.explain.embedding",
    "feature_maps": "imgrec.explain.features",
    "plot_feature_maps": "imgrec.explain.features",
    "find_layer": "imgrec.explain.layers",
    "plot_filters": "imgrec.explain.filters",
    "pointing_game": "imgrec.explain.localisation",
    "sanity_check": "imgrec.explain.localisation",
    "save_explanation": "imgrec.explain.overlay",
}

if TYPE_CHECKING:
    from imgrec.explain.detections import DetectionExplanation, ExplainedBox, explain_detections
    from imgrec.explain.embedding import embedding_map
    from imgrec.explain.explainer import (
        Explanation,
        UnexplainedImage,
        explain_each,
        explain_images,
    )
    from imgrec.explain.features import feature_maps, plot_feature_maps
    from imgrec.explain.filters import plot_filters
    from imgrec.explain.heatmaps import compute_heatmaps
    from imgrec.explain.layers import find_layer
    from imgrec.explain.localisation import pointing_game, sanity_check
    from imgrec.explain.overlay import save_explanation
    from imgrec.explain.summary import ModelSummary, summarize


__getattr__, __dir__ = lazy_exports("imgrec.explain", _LAZY, globals())
