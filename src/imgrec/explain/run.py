"""What ``imgrec explain`` does with a run directory (behind the api); ``imgrec inspect`` is in
:mod:`imgrec.explain.inspection` (re-exported here for the api)."""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image, ImageDraw

from imgrec.engine.detect_predictor import Detection, DetectionPredictor
from imgrec.engine.instance_predictor import InstancePredictor
from imgrec.engine.predictor import ImageInput, Predictor, expand_inputs
from imgrec.engine.segment_predictor import SegmentationPredictor
from imgrec.errors import ConfigError, DatasetError
from imgrec.explain.detections import DetectionExplanation, explain_detections
from imgrec.explain.explainer import Explanation, UnexplainedImage, explain_each
from imgrec.explain.inspection import INSPECT_VIEWS, inspect_run
from imgrec.explain.overlay import _stem, overlay, save_explanation, tile_grid, upscale
from imgrec.explain.segments import SegmentExplanation, explain_segments
from imgrec.models.card import ModelCard

__all__ = ["INSPECT_VIEWS", "explain_run", "inspect_run"]  # inspect_run lives in .inspection


def explain_run(
    run_dir: Path,
    images: Sequence[ImageInput],
    *,
    method: str | None = None,
    target_class: str | None = None,
    layer: str | None = None,
    out: Path | None = None,
    device: str = "cpu",
    options: Mapping[str, Any] | None = None,
    detection: int | None = None,
    conf: float | None = None,
    top: int | None = None,
) -> list[Explanation | UnexplainedImage] | list[DetectionExplanation] | list[SegmentExplanation]:
    """Explain ``images`` (files, folders expanded, PIL images, arrays) with the run's model; with
    ``out``, write each overlay PNG and raw ``.npy`` map there and an ``explanations.json``.

    A classification run (``method`` default ``gradcam``) gives one :class:`Explanation` per
    image, or an :class:`~imgrec.explain.explainer.UnexplainedImage` (source and error) for one
    that cannot be read, as ``imgrec predict`` reports it; the others are still explained. A
    detection run (``method`` default ``eigencam``; see
    :mod:`imgrec.explain.detections`) gives one
    :class:`~imgrec.explain.detections.DetectionExplanation` per image with a map for each of its
    ``top`` (5) boxes above ``conf`` (0.25), or only for the ``detection``-th (1-based); an
    instance-segmentation run the same, per box. A segmentation run (``method`` default
    ``gradcam``; see :mod:`imgrec.explain.segments`) gives one
    :class:`~imgrec.explain.segments.SegmentExplanation` per image with a map for each of its
    ``top`` (3) predicted classes other than the background, or only for ``target_class``.

    Raises:
        ConfigError: an option the run's task does not take.
        DatasetError: no images given; for a classification run, none of them can be read
            (the message lists why); for the other tasks, one cannot be read.
    """
    boxes_only = {"--detection": detection, "--conf": conf}
    task = ModelCard.load(run_dir).task
    if task == "segment":
        _refuse(boxes_only, "a detection or instance-segmentation run", "a segmentation run")
        _refuse({"method options": options}, "a classification run", "a segmentation run")
        items = _items(images)
        segmenter = SegmentationPredictor.from_run_dir(run_dir, device=device)
        painted = explain_segments(
            segmenter,
            items,
            method=method or "gradcam",
            target_class=target_class,
            layer=layer,
            top=3 if top is None else top,
        )
        if out is not None:
            _save_segments(painted, out)
        return painted
    if task in ("detect", "instance"):
        kind = "a detection run" if task == "detect" else "an instance-segmentation run"
        no_boxes = {"--class": target_class, "--layer": layer}
        _refuse(no_boxes, "a classification run or a segmentation run", kind)
        _refuse({"method options": options}, "a classification run", kind)
        items = _items(images)
        predictor_type = DetectionPredictor if task == "detect" else InstancePredictor
        detector = predictor_type.from_run_dir(run_dir, device=device)
        found = explain_detections(
            detector,
            items,
            method=method or "eigencam",
            detection=detection,
            conf=0.25 if conf is None else conf,
            top=5 if top is None else top,
        )
        if out is not None:
            _save_detections(found, out)
        return found
    _refuse(boxes_only, "a detection run", "a classification run")
    _refuse({"--top": top}, "a detection run or a segmentation run", "a classification run")
    predictor = Predictor.from_run_dir(run_dir, device=device)
    items = _items(images)
    results = explain_each(
        predictor,
        items,
        method=method or "gradcam",
        target_class=target_class,
        layer=layer,
        options=options,
    )
    _refuse_all_unreadable(results)
    if out is not None:
        for index, e in enumerate(results):
            if isinstance(e, UnexplainedImage):
                continue
            png, npy = save_explanation(
                e.pixels,
                e.heatmap,
                out,
                source=e.source,
                index=index,
                method=e.method,
                label=e.label,
                probability=e.probability,
            )
            e.png, e.npy = str(png), str(npy)
        _write_listing(results, out)
    return results


def _write_listing(results: Sequence[Any], folder: Path) -> Path:
    """``explanations.json``: every result's ``to_dict()``, in order; returns its path."""
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / "explanations.json"
    path.write_text(json.dumps([e.to_dict() for e in results], indent=2) + "\n")
    return path


def _save_detections(results: Sequence[DetectionExplanation], out_dir: str | Path) -> Path:
    """Write per box ``<index>-<name>-det<rank>-<method>-<label>.png`` (image | overlay, box
    drawn on both) and ``.npy`` (the raw map), and ``explanations.json``; returns the JSON."""
    folder = Path(out_dir)
    folder.mkdir(parents=True, exist_ok=True)
    for index, e in enumerate(results):
        for box in e.detections:
            label = "".join(c if c.isalnum() or c in "_.-" else "_" for c in box.detection.label)
            stem = f"{_stem(e.source, index)}-det{box.rank}-{e.method}-{label[:40]}"
            big = upscale(e.pixels)
            scale = big.shape[0] / e.pixels.shape[0]
            heat = upscale(box.heatmap, smooth=True)[: big.shape[0], : big.shape[1]]
            tiles = [_draw_box(t, box.detection, scale) for t in (big, overlay(big, heat))]
            Image.fromarray(tile_grid(tiles, columns=2, gap=4)).save(folder / f"{stem}.png")
            np.save(folder / f"{stem}.npy", box.heatmap.astype(np.float32))
            box.png, box.npy = str(folder / f"{stem}.png"), str(folder / f"{stem}.npy")
    return _write_listing(results, folder)


def _save_segments(results: Sequence[SegmentExplanation], out_dir: str | Path) -> Path:
    """Write per class ``<index>-<name>-<method>-<class>.png`` (image | overlay) and ``.npy``
    (the raw map), and ``explanations.json``; returns the JSON."""
    folder = Path(out_dir)
    for index, e in enumerate(results):
        for c in e.classes:
            png, npy = save_explanation(
                e.pixels,
                c.heatmap,
                folder,
                source=e.source,
                index=index,
                method=e.method,
                label=c.name,
            )
            c.png, c.npy = str(png), str(npy)
    return _write_listing(results, folder)


def _draw_box(tile: np.ndarray, det: Detection, scale: float) -> np.ndarray:
    picture = Image.fromarray(tile)
    draw = ImageDraw.Draw(picture)
    box = [v * scale for v in det.box]
    draw.rectangle(box, outline=(255, 0, 255), width=max(2, round(min(picture.size) / 120)))
    draw.text((box[0] + 3, box[1] + 2), f"{det.label} {det.score:.2f}", fill=(255, 0, 255))
    return np.asarray(picture)


def _refuse_all_unreadable(results: Sequence[Explanation | UnexplainedImage]) -> None:
    failed = [r.error for r in results if isinstance(r, UnexplainedImage)]
    if failed and len(failed) == len(results):
        if len(failed) == 1:
            raise DatasetError(failed[0])
        listed = "; ".join(failed[:3]) + (
            f"; ... ({len(failed)} in all)" if len(failed) > 3 else ""
        )
        raise DatasetError(f"none of the {len(failed)} images could be explained: {listed}")


def _refuse(given: Mapping[str, Any], needs: str, this: str) -> None:
    named = [name for name, value in given.items() if value is not None]
    if named:
        raise ConfigError(f"{', '.join(named)} only apply to {needs}; this is {this}.")


def _items(images: Sequence[ImageInput]) -> list[ImageInput]:
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
    return items
