"""imgrec.evaluation: classification metrics, timing, plots and the files a run writes.

>>> from imgrec.evaluation import classification_report
>>> report = classification_report(logits, targets, classes)  # logits (N, K), targets (N,)

Names are imported lazily, so ``import imgrec.evaluation`` does not import torch or matplotlib
until a name that needs them is used.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from imgrec._lazy import lazy_exports

__all__ = [
    "ClassificationReport",
    "SegmentationEvaluator",
    "SegmentationReport",
    "SegmentationSample",
    "Stopwatch",
    "classification_report",
    "colourise",
    "default_palette",
    "measure_latency",
    "measure_throughput",
    "plot_class_iou",
    "plot_confusion_matrix",
    "plot_learning_curves",
    "plot_mask_overlays",
    "plot_reliability_diagram",
    "plot_segmentation_confusion",
    "plot_worst_mistakes",
    "write_classification_artifacts",
    "write_segmentation_plots",
]

_LAZY = {
    "ClassificationReport": "imgrec.evaluation.classification",
    "classification_report": "imgrec.evaluation.classification",
    "Stopwatch": "imgrec.evaluation.timing",
    "measure_latency": "imgrec.evaluation.timing",
    "measure_throughput": "imgrec.evaluation.timing",
    "plot_confusion_matrix": "imgrec.evaluation.plots",
    "plot_learning_curves": "imgrec.evaluation.plots",
    "plot_reliability_diagram": "imgrec.evaluation.plots",
    "plot_worst_mistakes": "imgrec.evaluation.plots",
    "write_classification_artifacts": "imgrec.evaluation.writers",
    "SegmentationEvaluator": "imgrec.evaluation.segmentation",
    "SegmentationReport": "imgrec.evaluation.segmentation",
    "SegmentationSample": "imgrec.evaluation.segmentation_plots",
    "colourise": "imgrec.evaluation.segmentation_plots",
    "default_palette": "imgrec.evaluation.segmentation_plots",
    "plot_class_iou": "imgrec.evaluation.segmentation_plots",
    "plot_mask_overlays": "imgrec.evaluation.segmentation_plots",
    "plot_segmentation_confusion": "imgrec.evaluation.segmentation_plots",
    "write_segmentation_plots": "imgrec.evaluation.segmentation_plots",
}

if TYPE_CHECKING:
    from imgrec.evaluation.classification import ClassificationReport, classification_report
    from imgrec.evaluation.plots import (
        plot_confusion_matrix,
        plot_learning_curves,
        plot_reliability_diagram,
        plot_worst_mistakes,
    )
    from imgrec.evaluation.segmentation import SegmentationEvaluator, SegmentationReport
    from imgrec.evaluation.segmentation_plots import (
        SegmentationSample,
        colourise,
        default_palette,
        plot_class_iou,
        plot_mask_overlays,
        plot_segmentation_confusion,
        write_segmentation_plots,
    )
    from imgrec.evaluation.timing import Stopwatch, measure_latency, measure_throughput
    from imgrec.evaluation.writers import write_classification_artifacts


__getattr__, __dir__ = lazy_exports("imgrec.evaluation", _LAZY, globals())
