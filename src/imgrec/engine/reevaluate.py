"""``imgrec eval``: score a trained model again, on its own split or another dataset."""

from __future__ import annotations

from datetime import datetime
from pathlib import Path
from typing import Any, TextIO

import numpy as np

from imgrec.config import Settings
from imgrec.data.cache import decode_to_array
from imgrec.data.ingest import ingest
from imgrec.data.manifest import Sample
from imgrec.engine.evaluate import evaluate_classifier
from imgrec.engine.predictor import Predictor
from imgrec.engine.rundir import SPLITS_FILE, read_splits
from imgrec.errors import DatasetError
from imgrec.evaluation.writers import write_json
from imgrec.progress import TextProgress

__all__ = ["own_split", "read_other_dataset", "reevaluate"]


def own_split(run_dir: Path, split: str, classes: list[str]) -> tuple[list[Path], np.ndarray]:
    """The image paths and class indices of the run's own ``split`` (from its splits file)."""
    rows = [r for r in read_splits(run_dir / SPLITS_FILE) if r["split"] == split]
    if not rows:
        raise DatasetError(f"{run_dir / SPLITS_FILE}: the run has no '{split}' split.")
    index = {name: i for i, name in enumerate(classes)}
    return [Path(r["path"]) for r in rows], np.asarray([index[r["label"]] for r in rows])


def read_other_dataset(
    data: Path, classes: list[str], settings: Settings, progress: TextProgress | None
) -> tuple[list[Sample], np.ndarray, list[str]]:
    """The test split (else every sample) of another dataset with the model's class names,
    their label indices in ``classes`` and the dataset's classes; unknown classes raise."""
    manifest = ingest(data, extract_root=settings.datasets_dir, progress=progress)
    unknown = sorted(set(manifest.classes) - set(classes))
    if unknown:
        raise DatasetError(
            f"{data}: classes the model does not know: {', '.join(unknown[:10])}. "
            f"The model knows: {', '.join(classes[:20])}. Rename or remove those folders."
        )
    samples = manifest.by_split("test") or manifest.samples
    if not samples:
        raise DatasetError(f"{data}: no usable images to evaluate on.")
    index = {name: i for i, name in enumerate(classes)}
    labels = np.asarray([index[manifest.classes[s.label]] for s in samples], dtype=np.int64)
    return samples, labels, list(manifest.notes)


def reevaluate(
    run_dir: Path,
    *,
    data: Path | None,
    split: str = "test",
    out: Path | None,
    settings: Settings,
    device: str = "auto",
    stream: TextIO | None = None,
) -> dict[str, Any]:
    """Evaluate the model in ``run_dir``; returns the metrics and writes them to ``out``."""
    predictor = Predictor.from_run_dir(run_dir, device=device)
    card = predictor.card
    pre = card.preprocessing
    progress = TextProgress("reading images", stream=stream) if stream else None
    if data is None:
        paths, labels = own_split(run_dir, split, card.classes)
        samples = [
            Sample(path=p, label=int(y), split=None, sha256=f"path:{p}", width=0, height=0, mode="")
            for p, y in zip(paths, labels, strict=True)
        ]
        source = f"{run_dir.name}:{split}"
        cache_dir = None  # paths only, no content hashes to key a cache on
    else:
        samples, labels, _ = read_other_dataset(data, card.classes, settings, progress)
        source = str(data)
        cache_dir = settings.cache_dir
    images = decode_to_array(
        samples,
        size=pre.size,
        resize_mode=pre.resize_mode,
        interpolation=pre.interpolation,
        cache_dir=cache_dir,
        progress=TextProgress("decoding", stream=stream) if stream else None,
    )
    name = "own-" + split if data is None else data.stem or "data"
    out_dir = out or run_dir / f"eval-{name}-{datetime.now():%Y%m%d-%H%M%S}"
    out_dir.mkdir(parents=True, exist_ok=True)
    metrics = evaluate_classifier(
        predictor.model,
        images,
        labels,
        card.classes,
        preprocessing=pre,
        out_dir=out_dir,
        device=predictor.device,
        sources=[str(sample.path) for sample in samples],
        measure_speed=False,
    )
    metrics["source"] = source
    metrics["out_dir"] = str(out_dir)
    write_json(out_dir / "metrics.json", metrics)
    return metrics
