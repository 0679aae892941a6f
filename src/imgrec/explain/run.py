"""What ``imgrec explain`` and ``imgrec inspect`` do with a run directory (behind the api)."""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from imgrec.config import Settings
from imgrec.engine.predictor import ImageInput, Predictor, expand_inputs
from imgrec.errors import ConfigError, DatasetError
from imgrec.explain.explainer import Explanation, classifier, explain_images, load_pixels
from imgrec.explain.overlay import save_explanation

__all__ = ["INSPECT_VIEWS", "explain_run", "inspect_run"]

INSPECT_VIEWS = ("summary", "filters", "features", "embedding")


def explain_run(
    run_dir: Path,
    images: Sequence[ImageInput],
    *,
    method: str = "gradcam",
    target_class: str | None = None,
    layer: str | None = None,
    out: Path | None = None,
    device: str = "cpu",
    options: Mapping[str, Any] | None = None,
) -> list[Explanation]:
    """Explain ``images`` (files, folders expanded, PIL images, arrays) with the run's model; with
    ``out``, write each overlay PNG and raw ``.npy`` map there and an ``explanations.json``.

    Raises:
        DatasetError: no images given, or one cannot be read.
    """
    predictor = Predictor.from_run_dir(run_dir, device=device)
    paths = [i for i in images if isinstance(i, str | Path)]
    missing = [p for p in paths if not Path(p).exists()]
    if missing:
        raise DatasetError(f"{missing[0]}: no such file or folder.")
    items: list[ImageInput] = [
        *expand_inputs(paths),
        *(i for i in images if not isinstance(i, str | Path)),
    ]
    if not items:
        raise DatasetError("no images to explain: pass image files or folders that hold some.")
    results = explain_images(
        predictor, items, method=method, target_class=target_class, layer=layer, options=options
    )
    if out is not None:
        for index, e in enumerate(results):
            png, npy = save_explanation(
                e.pixels,
                e.heatmap,
                out,
                source=e.source,
                index=index,
                method=e.method,
                label=e.label,
            )
            e.png, e.npy = str(png), str(npy)
        (out / "explanations.json").write_text(
            json.dumps([e.to_dict() for e in results], indent=2) + "\n"
        )
    return results


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
    - ``features``: ``layer``'s feature maps for ``image`` as ``features-<layer>.png``/``.npy``.
    - ``embedding``: penultimate features of the run's ``split`` (or of ``data``) projected by
      ``method`` (pca or tsne), ``embedding-<method>.png`` and ``.json``.

    Raises:
        ConfigError: unknown view, or ``features`` without an image.
    """
    if what not in INSPECT_VIEWS:
        raise ConfigError(f"unknown view '{what}'; choose one of {', '.join(INSPECT_VIEWS)}.")
    predictor = Predictor.from_run_dir(run_dir, device=device)
    model, card = classifier(predictor), predictor.card
    folder = out if out is not None else run_dir / "inspect"
    if what == "summary":
        from imgrec.explain.summary import summarize

        summary = summarize(model, input_size=card.input_size)
        result = summary.to_dict()
        if out is not None:
            out.mkdir(parents=True, exist_ok=True)
            (out / "summary.json").write_text(json.dumps(result, indent=2) + "\n")
        return {**result, "table": summary.render()}
    if what == "filters":
        from imgrec.explain.filters import plot_filters

        return plot_filters(model, folder / "filters.png")[1]
    if what == "features":
        from imgrec.explain.features import feature_maps, plot_feature_maps

        if image is None:
            raise ConfigError("inspect features needs an image: pass --image PATH.")
        source, pixels = load_pixels(predictor, image)
        name, maps = feature_maps(model, pixels, preprocessing=card.preprocessing, layer=layer)
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
