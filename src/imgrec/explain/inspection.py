"""What ``imgrec inspect`` does with a run directory (behind the api), for every task.

``summary``, ``filters`` and ``features`` look at the network whatever it predicts: for a
detection run they show the whole detector (backbone, feature pyramid, heads), the backbone's
first convolution, and a backbone or pyramid layer's maps for one image (default: the finest
pyramid level, the layer ``imgrec explain`` reads). ``embedding`` maps a classifier's
penultimate features, so it is for classification runs only.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
from torch import nn

from imgrec.config import Settings
from imgrec.engine.detect_predictor import DetectionPredictor
from imgrec.engine.inputs import input_name, open_input
from imgrec.engine.predictor import ImageInput, Predictor
from imgrec.errors import ConfigError
from imgrec.explain.explainer import classifier, load_pixels
from imgrec.models.card import ModelCard

__all__ = ["DETECTION_VIEWS", "INSPECT_VIEWS", "inspect_run"]

INSPECT_VIEWS = ("summary", "filters", "features", "embedding")
DETECTION_VIEWS = ("summary", "filters", "features")


def inspect_run(
    run_dir: Path,
    what: str,
    *,
    image: ImageInput | None = None,
    layer: str | None = None,
    out: Path | None = None,
    data: Path | None = None,
    method: str = "pca",
    split: str = "test",
    max_images: int = 2000,
    device: str = "cpu",
    settings: Settings | None = None,
) -> dict[str, Any]:
    """One view of the run's model; files go to ``out`` (default ``RUN_DIR/inspect``).

    - ``summary``: layers, output shapes, parameters, multiply-adds (``table`` holds the text).
    - ``filters``: the first convolution's filters as ``filters.png``.
    - ``features``: ``layer``'s feature maps for ``image`` as ``features-<layer>.png``/``.npy``
      (default layer: a classifier's CAM layer, a detector's finest pyramid level).
    - ``embedding`` (classification runs): penultimate features of the run's ``split`` (or of
      ``data``) projected by ``method`` (pca or tsne), ``embedding-<method>.png`` and ``.json``.

    Raises:
        ConfigError: unknown view, a view the run's task has not, or ``features`` without an
            image.
    """
    if what not in INSPECT_VIEWS:
        raise ConfigError(f"unknown view '{what}'; choose one of {', '.join(INSPECT_VIEWS)}.")
    folder = out if out is not None else run_dir / "inspect"
    card = ModelCard.load(run_dir)
    if card.task in ("segment", "instance") and what not in ("summary", "filters"):
        raise ConfigError(
            f"{run_dir} is a {card.task} run; `imgrec inspect` shows its summary and filters "
            f"only so far (`imgrec inspect {run_dir} summary`). See its masks with `imgrec "
            "predict RUN IMAGE --save-images DIR`."
        )
    if card.task == "detect" and what not in DETECTION_VIEWS:
        raise ConfigError(
            f"inspect {what} maps a classifier's penultimate features, so it needs a "
            f"classification run; {run_dir} is a detection run ({card.architecture}). Its views: "
            f"{', '.join(DETECTION_VIEWS)}; to see why a box was found, use "
            f"`imgrec explain {run_dir} IMAGE --detection K`."
        )
    if what == "features" and image is None:
        raise ConfigError("inspect features needs an image: pass --image PATH.")
    if card.task == "segment":
        from imgrec.engine.segment_predictor import SegmentationPredictor

        segmenter = SegmentationPredictor.from_run_dir(run_dir, device=device)
        return _network_view(segmenter.model, what, card=card, folder=folder, out=out)
    if card.task == "instance":
        from imgrec.engine.instance_predictor import InstancePredictor

        instances = InstancePredictor.from_run_dir(run_dir, device=device)
        return _network_view(instances.model, what, card=card, folder=folder, out=out)
    if card.task == "detect":
        detector = DetectionPredictor.from_run_dir(run_dir, device=device)
        if what == "features" and image is not None:
            return _detector_features(detector.model, image, layer=layer, folder=folder)
        return _network_view(detector.model, what, card=card, folder=folder, out=out)
    predictor = Predictor.from_run_dir(run_dir, device=device)
    model = classifier(predictor)
    if what in ("summary", "filters"):
        return _network_view(model, what, card=card, folder=folder, out=out)
    if what == "features" and image is not None:
        from imgrec.explain.features import feature_maps

        source, pixels = load_pixels(predictor, image)
        name, maps = feature_maps(model, pixels, preprocessing=card.preprocessing, layer=layer)
        return _save_features(name, source, maps, folder)
    from imgrec.explain.embedding import embedding_map, load_dataset_images, load_split_images

    if data is None:
        pixels, labels = load_split_images(predictor, run_dir, split=split, max_images=max_images)
        source = f"{run_dir.name}:{split}"
    else:
        pixels, labels = load_dataset_images(
            predictor, data, settings=settings or Settings(), max_images=max_images
        )
        source = str(data)
    return embedding_map(
        model, pixels, labels, card=card, out_dir=folder, method=method, source=source
    )


def _network_view(
    model: nn.Module, what: str, *, card: ModelCard, folder: Path, out: Path | None
) -> dict[str, Any]:
    """``summary`` or ``filters``: views of the network alone, the same for every task."""
    if what == "filters":
        from imgrec.explain.filters import plot_filters

        return plot_filters(model, folder / "filters.png")[1]
    from imgrec.explain.summary import summarize

    summary = summarize(
        model, input_size=card.input_size, as_list=card.task in ("detect", "instance")
    )
    result = summary.to_dict()
    if out is not None:
        out.mkdir(parents=True, exist_ok=True)
        (out / "summary.json").write_text(json.dumps(result, indent=2) + "\n")
    return {**result, "table": summary.render()}


def _detector_features(
    model: nn.Module, image: ImageInput, *, layer: str | None, folder: Path
) -> dict[str, Any]:
    from imgrec.explain.features import detector_feature_maps

    name, maps, levels = detector_feature_maps(model, open_input(image), layer=layer)
    return {**_save_features(name, input_name(image), maps, folder), "pyramid_levels": levels}


def _save_features(name: str, source: str, maps: np.ndarray, folder: Path) -> dict[str, Any]:
    from imgrec.explain.features import plot_feature_maps

    stem = f"features-{name.replace('.', '_')}"
    folder.mkdir(parents=True, exist_ok=True)
    np.save(folder / f"{stem}.npy", maps)
    png = plot_feature_maps(maps, folder / f"{stem}.png")
    return {
        "layer": name,
        "image": source,
        "shape": list(maps.shape),
        "png": str(png),
        "npy": str(folder / f"{stem}.npy"),
    }
