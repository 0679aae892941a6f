"""The functions behind the command line, the worker and notebooks.

>>> import imgrec
>>> result = imgrec.train("shapes/", model="simple_cnn", epochs=5, img_size=32)
>>> imgrec.load(result.run_dir).predict(["new.png"])
"""

from __future__ import annotations

import sys
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from imgrec.config import ModelConfig, RunConfig, Settings, build_config, dotted_keys, load_yaml
from imgrec.errors import ConfigError, RunError

__all__ = [
    "DeletedRun",
    "TrainResult",
    "TuneResult",
    "cancel_experiment",
    "check_data",
    "delete_runs",
    "evaluate",
    "explain",
    "export_idx",
    "inspect",
    "load",
    "open_store",
    "predict",
    "synth_data",
    "train",
    "tune",
    "worker",
]

# Keys a resumed run may change; everything else must stay as the run started.
RESUMABLE_KEYS = frozenset(
    {
        "epochs",
        "train.epochs",
        "early_stopping_patience",
        "train.early_stopping_patience",
        "device",
        "train.device",
        "threads",
        "train.threads",
        "num_workers",
        "data.num_workers",
    }
)


@dataclass
class TrainResult:
    """What :func:`train` hands back."""

    run_dir: Path
    metrics: dict[str, Any]
    config: RunConfig
    run_id: int | None = None

    @property
    def task(self) -> str:
        return self.config.task

    @property
    def primary_metric(self) -> str:
        """The task's summary metric: ``accuracy`` for classify, ``map`` for detect."""
        from imgrec.tasks.registry import get_task

        return get_task(self.config.task).summary_metric

    @property
    def primary_value(self) -> float:
        return float(self.metrics[self.primary_metric])

    def score(self, name: str) -> float | None:
        """A final metric by name (``accuracy``, ``macro_f1``, ``map``, ``map50``), if any."""
        value = self.metrics.get(name)
        return float(value) if isinstance(value, int | float) else None

    @property
    def accuracy(self) -> float:
        """Test accuracy of a classification run."""
        return float(self.metrics["accuracy"])


def _config_layers(
    data: str | Path | None,
    config: str | Path | Mapping[str, Any] | None,
    overrides: Mapping[str, Any],
) -> list[tuple[str, Mapping[str, Any]]]:
    layers: list[tuple[str, Mapping[str, Any]]] = []
    if isinstance(config, str | Path):
        layers.append((str(config), load_yaml(config)))
    elif config is not None:
        layers.append(("config", config))
    if overrides:
        layers.append(("arguments", overrides))
    if data is not None:
        layers.append(("arguments", {"data.path": str(data)}))
    return layers


def _task_was_given(
    config: str | Path | Mapping[str, Any] | None, overrides: Mapping[str, Any]
) -> bool:
    if overrides.get("task") is not None:
        return True
    if isinstance(config, str | Path):
        return "task" in load_yaml(config)
    return config is not None and "task" in config


def _task_for(asked: str | None, data_path: str | Path) -> str:
    """The task for ``data_path``: ``asked`` checked against its layout, or inferred from it."""
    from imgrec.tasks.registry import resolve_task

    folder = Path(data_path).expanduser()
    if folder.is_file() and folder.suffix.lower() == ".zip":  # look inside: the same cached
        from imgrec.data.zipcache import extract_cached  # extraction training reads later

        folder, _ = extract_cached(folder, Settings().datasets_dir, peek=True)
    return resolve_task(asked, folder if folder.is_dir() else None, source=data_path)


def resolve_train_config(
    data: str | Path | None = None,
    *,
    config: str | Path | Mapping[str, Any] | None = None,
    resume: str | Path | None = None,
    **overrides: Any,
) -> tuple[RunConfig, Path | None]:
    """The run's config (and the run directory when resuming)."""
    if resume is None:
        cfg = build_config(*_config_layers(data, config, overrides))
        if cfg.data.path is None:
            raise ConfigError("no dataset given: pass a folder, zip or CSV (data.path).")
        asked = cfg.task if _task_was_given(config, overrides) else None
        task = _task_for(asked, cfg.data.path)
        if task != cfg.task:
            cfg = cfg.model_copy(update={"task": task})
        if cfg.model.name == ModelConfig.model_fields["name"].default:  # no model named
            from imgrec.tasks.registry import get_task

            cfg.model.name = get_task(task).default_model
        if task != "segment" and cfg.train.loss not in ("auto", "ce"):
            raise ConfigError(
                f"train.loss={cfg.train.loss} is a segmentation loss; task '{task}' uses its own "
                "(leave train.loss at auto)."
            )
        return cfg, None
    from imgrec.engine.rundir import CONFIG_FILE

    run_dir = Path(resume)
    saved = run_dir / CONFIG_FILE
    if not saved.is_file():
        raise RunError(f"{run_dir}: not a run directory ({CONFIG_FILE} missing); cannot resume.")
    refused = sorted(k for k, v in overrides.items() if v is not None and k not in RESUMABLE_KEYS)
    if refused or config is not None or data is not None:
        names = ", ".join(refused) or "config/data"
        raise ConfigError(
            f"cannot change {names} when resuming {run_dir}; a resumed run keeps its config. "
            f"Only these may change: {', '.join(sorted(RESUMABLE_KEYS))}."
        )
    base = build_config((str(saved), load_yaml(saved)))
    return build_config(("arguments", overrides), base=base), run_dir


def train(
    data: str | Path | None = None,
    *,
    config: str | Path | Mapping[str, Any] | None = None,
    resume: str | Path | None = None,
    show_progress: bool = True,
    record: bool = True,
    db: str | None = None,
    **overrides: Any,
) -> TrainResult:
    """Train, evaluate and save a model; returns the run directory and its metrics.

    Args:
        data: Folder, zip or CSV of images (``data.path``).
        config: A YAML file or a mapping; keyword overrides win over it.
        resume: A run directory to continue (only epochs, patience and device may change).
            Its training time adds up over sessions; more ``epochs`` re-plan the learning-rate
            schedule for the new end. A finished run (completed, no more epochs asked) is
            refused with RunError, and its record is left as it is.
        show_progress: Print progress with ETA to stderr.
        record: Record the run in the run database (state, epochs, metrics, artifacts).
        db: Run database URL; default ``IMGREC_DB_URL`` or SQLite under ``IMGREC_HOME``.
        **overrides: Any config key, flat (``epochs=5``) or dotted (``"train.lr": 0.01``).

    Raises:
        RunInterrupted: Ctrl-C or SIGTERM stopped the run (recorded ``interrupted``); its
            message names the command that resumes it.
    """
    from imgrec.engine.preflight import check_before_training

    settings = Settings()
    cfg, run_dir = resolve_train_config(data, config=config, resume=resume, **overrides)
    if run_dir is not None:
        from imgrec.engine.lifecycle import refuse_resume  # imports Lightning: only to resume

        refuse_resume(cfg, run_dir)  # before the run's record is touched
    if cfg.train.device == "auto":
        cfg.train.device = settings.device
    # Mistakes found without reading data fail here: no run directory, no database row.
    check_before_training(cfg, settings=settings)
    from imgrec.engine.runner import is_rank_zero, run_training  # Lightning: seconds to import

    recorder = None
    # DDP processes other than rank 0 re-run this call; only rank 0 records.
    if record and settings.run_dir is None and is_rank_zero():
        recorder = queue_run(cfg, settings=settings, db=db, resume=run_dir)
    try:
        outcome = run_training(
            cfg, settings=settings, run_dir=run_dir, show_progress=show_progress, observer=recorder
        )
    finally:
        if recorder is not None:
            recorder.store.close()
    run_id = recorder.run_id if recorder is not None else None
    return TrainResult(
        run_dir=outcome.run_dir, metrics=dict(outcome.report), config=cfg, run_id=run_id
    )


def open_store(db: str | None = None, *, settings: Settings | None = None) -> Any:
    """The run database (:class:`imgrec.store.Store`) at ``db`` or the configured default."""
    from imgrec.store import Store

    return Store(db or (settings or Settings()).database_url)


def queue_run(
    cfg: RunConfig,
    *,
    settings: Settings,
    db: str | None = None,
    resume: Path | None = None,
    experiment_id: int | None = None,
    trial_number: int | None = None,
    params: Mapping[str, Any] | None = None,
) -> Any:
    """Insert a queued run (or reuse the resumed run's row) and return its recorder."""
    from imgrec.recorder import StoreRecorder

    store = open_store(db, settings=settings)
    store.reap_stale_runs(grace_s=settings.heartbeat_grace_s)
    existing = store.find_run_by_dir(resume.resolve()) if resume is not None else None
    if existing is not None:
        run_id = existing.id
    else:
        run_id = store.create_run(
            name=cfg.name or (resume.name if resume else f"{cfg.model.name} (not started)"),
            model=cfg.model.name,
            config=cfg.model_dump(mode="json"),
            task=cfg.task,
            experiment_id=experiment_id,
            trial_number=trial_number,
            params=params,
        )
    return StoreRecorder(store, run_id, task=cfg.task, heartbeat_s=settings.heartbeat_s)


@dataclass
class TuneResult:
    """What :func:`tune` hands back: the experiment and its best run (if any finished)."""

    experiment: str
    out_dir: Path
    status: str
    summary: dict[str, Any]
    notes: list[str]

    @property
    def best_run_dir(self) -> Path | None:
        found = self.summary.get("best_run_dir")
        return Path(found) if found else None

    @property
    def best_value(self) -> Any:
        return self.summary.get("best_value")

    @property
    def model_dir(self) -> Path | None:
        found = self.summary.get("model_dir")
        return Path(found) if found else None


def tune(
    data: str | Path | None = None,
    *,
    space: str | Path | Mapping[str, Any] | None = None,
    trials: int = 20,
    timeout: float | None = None,
    sampler: str = "tpe",
    pruner: str = "median",
    metrics: Sequence[str] = (),
    directions: Sequence[str] = (),
    workers: int = 1,
    name: str | None = None,
    out: str | Path = "experiments",
    config: str | Path | Mapping[str, Any] | None = None,
    db: str | None = None,
    show_progress: bool = True,
    verbose: bool = False,
    **overrides: Any,
) -> TuneResult:
    """Search hyperparameters within bounds; every trial is a recorded run.

    Args:
        data: Folder, zip or CSV of images.
        space: YAML file or mapping of bounds (see :mod:`imgrec.search.space`); None: defaults.
        trials: Number of trials (a retried trial of a dead worker does not count twice).
        timeout: Seconds after which no new trial starts.
        sampler: ``tpe``, ``random``, ``cmaes`` or ``gp``.
        pruner: ``median``, ``hyperband`` or ``none``; prunes on the per-epoch metric.
        metrics: One objective, or two for a Pareto front (e.g. val_accuracy, latency_ms);
            none: the task's monitored metric (``val_accuracy``; ``val_map`` for detection).
        directions: ``maximize``/``minimize`` per metric; default each metric's natural one.
        workers: Local workers; 0 only creates the experiment for ``imgrec worker`` processes.
        name: Experiment (study) name; default ``tune-<time>``.
        out: Folder that receives the experiment directory (trials, plots, best model).
        config: Base run config (YAML or mapping); ``**overrides`` win over it.
        db: Run database URL (default ``IMGREC_DB_URL`` or SQLite under ``IMGREC_HOME``).
    """
    from imgrec.search import create_experiment, parse_space, resolve_objectives, run_local_workers
    from imgrec.search.space import default_space
    from imgrec.store import Store

    settings = Settings()
    if workers < 0:
        raise ConfigError(f"--workers must be 0 or more (got {workers}).")
    base, _ = resolve_train_config(data, config=config, **overrides)
    if base.train.device == "auto":
        base.train.device = settings.device
    origin = str(space) if isinstance(space, str | Path) else "search space"
    raw = load_yaml(space) if isinstance(space, str | Path) else space
    if not raw:  # the defaults never override what the user set explicitly
        given = dict(overrides)
        if config is not None:
            given.update(load_yaml(config) if isinstance(config, str | Path) else config)
        raw = default_space(user_keys=dotted_keys(given), task=base.task)
    url = db or settings.database_url
    with Store(url) as store:
        exp, notes = create_experiment(
            store,
            base=base,
            space=parse_space(raw, origin=origin),
            objectives=resolve_objectives(list(metrics), list(directions), task=base.task),
            sampler=sampler,
            pruner=pruner,
            n_trials=trials,
            timeout_s=timeout,
            name=name,
            out=out,
            settings=settings,
        )
    if show_progress:
        for note in notes:
            sys.stderr.write(f"note: {note}\n")
    if workers > 0:
        exp = run_local_workers(
            exp,
            url=url,
            settings=settings,
            workers=workers,
            show_progress=show_progress,
            verbose=verbose,
        )
    return TuneResult(
        experiment=exp.name,
        out_dir=Path(exp.out_dir),
        status=exp.status,
        summary=dict(exp.summary),
        notes=notes,
    )


def worker(
    *,
    db: str | None = None,
    experiment: str | None = None,
    wait: bool = False,
    until_done: bool = False,
    verbose: bool = False,
) -> int:
    """Run trials of open experiments until none is left (``wait``: forever); returns the count."""
    from imgrec.search import Worker

    settings = Settings()
    runner = Worker(
        db or settings.database_url, settings, experiment=experiment, show_progress=verbose
    )
    return runner.run(wait=wait, until_done=until_done)


def cancel_experiment(name: str, *, db: str | None = None) -> None:
    """Stop an experiment: no new trials start, running ones stop after their epoch."""
    with open_store(db) as store:
        store.set_experiment_status(store.get_experiment(name).id, "cancelled")


@dataclass
class DeletedRun:
    """One run :func:`delete_runs` deleted (with ``dry_run``: would delete).

    Attributes:
        files: What happens to its directory: ``removed``, ``kept`` (``keep_files``),
            ``missing`` (gone already) or ``none`` (the run never had one).
    """

    id: int
    name: str
    status: str
    run_dir: Path | None
    files: str


def delete_runs(
    runs: Sequence[str | int] = (),
    *,
    status: str | None = None,
    keep_files: bool = False,
    dry_run: bool = False,
    db: str | None = None,
) -> list[DeletedRun]:
    """Delete runs (by id, name or run directory) or every run in state ``status``: their
    records with their epochs and metrics, and their run directories unless ``keep_files``.

    Everything is checked before anything goes: an unknown run raises
    :class:`~imgrec.errors.NotFoundError`, a queued or running one :class:`~imgrec.errors.RunError`
    (stop it first), and so does a recorded directory that is not a run directory imgrec made
    (no ``run.json``/``card.json``: it is never deleted; ``keep_files`` deletes the record
    alone). ``dry_run`` changes nothing and says what would go.
    """
    from imgrec.engine.run_files import check_run_dir, remove_run_dir
    from imgrec.store.tables import ACTIVE_STATES

    if runs and status is not None:
        raise ConfigError("give runs to delete or --status, not both.")
    if not runs and status is None:
        raise ConfigError("name the runs to delete (id, name or run directory) or --status.")
    settings = Settings()
    with open_store(db, settings=settings) as store:
        store.reap_stale_runs(grace_s=settings.heartbeat_grace_s)
        if status is not None:
            found = store.list_runs(status=status)
        else:
            found = list({info.id: info for info in map(store.get_run, runs)}.values())
        planned = []
        for info in found:
            if info.status in ACTIVE_STATES:
                raise RunError(
                    f"run {info.id} ({info.name}) is {info.status}: stop it first (Ctrl-C in "
                    "its terminal, or cancel its experiment); nothing was deleted."
                )
            run_dir = Path(info.run_dir) if info.run_dir else None
            if run_dir is None:
                files = "none"
            elif keep_files:
                files = "kept"
            else:
                files = "removed" if check_run_dir(run_dir) else "missing"
            planned.append(DeletedRun(info.id, info.name, info.status, run_dir, files))
        if dry_run:
            return planned
        done: list[DeletedRun] = []
        try:
            for run in planned:  # files first: a failure leaves the record to retry with
                if run.files == "removed" and run.run_dir is not None:
                    remove_run_dir(run.run_dir)
                done.append(run)
        finally:
            store.delete_runs([run.id for run in done])
    return done


def load(run_dir: str | Path, *, device: str = "auto") -> Any:
    """A predictor for a run directory: a :class:`imgrec.engine.predictor.Predictor` for a
    classifier, a :class:`imgrec.engine.detect_predictor.DetectionPredictor` for a detector,
    an :class:`imgrec.engine.instance_predictor.InstancePredictor` for an instance segmenter;
    ``"zoo:nanodet-coco"`` is a shipped pretrained COCO detector, ``"zoo:selfie"`` a person
    segmenter (no training, no download)."""
    from imgrec.engine.zoo_predictor import is_zoo_name, load_zoo
    from imgrec.models.card import ModelCard

    if is_zoo_name(run_dir):
        return load_zoo(run_dir)
    task = ModelCard.load(run_dir).task
    if task == "detect":
        from imgrec.engine.detect_predictor import DetectionPredictor

        return DetectionPredictor.from_run_dir(run_dir, device=_device(device))
    if task == "segment":
        from imgrec.engine.segment_predictor import SegmentationPredictor

        return SegmentationPredictor.from_run_dir(run_dir, device=_device(device))
    if task == "instance":
        from imgrec.engine.instance_predictor import InstancePredictor

        return InstancePredictor.from_run_dir(run_dir, device=_device(device))
    from imgrec.engine.predictor import Predictor

    return Predictor.from_run_dir(run_dir, device=_device(device))


def draw_detections(image: Any, prediction: Any) -> Any:
    """A copy of ``image`` (a PIL image, or a path to read) with a detection prediction's boxes,
    labels and scores drawn."""
    from imgrec.engine.detect_predictor import draw_detections as draw
    from imgrec.engine.detect_predictor import read_input

    return draw(read_input(image), prediction)


def _device(requested: str) -> str:
    """``"auto"`` defers to ``IMGREC_DEVICE`` (itself ``"auto"`` unless set)."""
    return Settings().device if requested == "auto" else requested


def predict(
    run_dir: str | Path,
    inputs: Sequence[Any],
    *,
    top_k: int = 5,
    batch_size: int = 64,
    device: str = "auto",
    conf: float = 0.25,
    iou: float = 0.5,
) -> list[Any]:
    """Predict files, folders (expanded), PIL images or arrays with the model in ``run_dir``.

    A detector (``conf``, ``iou``: score threshold and NMS overlap) returns
    :class:`~imgrec.engine.detect_predictor.DetectionPrediction` records; a classifier
    (``top_k``) returns :class:`~imgrec.engine.predictor.Prediction` records.
    """
    from imgrec.engine.predictor import expand_inputs

    predictor = load(run_dir, device=device)
    items: list[Any] = []
    paths = [i for i in inputs if isinstance(i, str | Path)]
    items += expand_inputs(paths)
    items += [i for i in inputs if not isinstance(i, str | Path)]
    task = getattr(predictor, "task", "classify")
    if task in ("detect", "instance"):
        return list(predictor.predict(items, conf=conf, iou=iou, batch_size=min(batch_size, 8)))
    if task == "segment":
        return list(predictor.predict(items, batch_size=min(batch_size, 8)))
    return list(predictor.predict(items, top_k=top_k, batch_size=batch_size))


def evaluate(
    run_dir: str | Path,
    *,
    data: str | Path | None = None,
    split: str = "test",
    out: str | Path | None = None,
    device: str = "auto",
    show_progress: bool = True,
) -> dict[str, Any]:
    """Re-evaluate a trained model on its own test split or on another dataset.

    The other dataset's class names must be classes the model knows; the report is written to
    ``out`` (default ``RUN_DIR/eval-<name>``) and returned.
    """
    from imgrec.models.card import ModelCard

    task = ModelCard.load(run_dir).task
    if task == "segment":
        from imgrec.engine.segment_reevaluate import reevaluate_segmenter

        return reevaluate_segmenter(
            Path(run_dir),
            data=Path(data) if data is not None else None,
            split=split,
            out=Path(out) if out is not None else None,
            settings=Settings(),
            device=_device(device),
        )
    if task in ("detect", "instance"):
        from imgrec.engine.detect_reevaluate import reevaluate_detector

        return reevaluate_detector(
            Path(run_dir),
            data=Path(data) if data is not None else None,
            split=split,
            out=Path(out) if out is not None else None,
            settings=Settings(),
            device=_device(device),
        )
    from imgrec.engine.reevaluate import reevaluate

    return reevaluate(
        Path(run_dir),
        data=Path(data) if data is not None else None,
        split=split,
        out=Path(out) if out is not None else None,
        settings=Settings(),
        device=_device(device),
        stream=sys.stderr if show_progress else None,
    )


def read_dataset(
    path: str | Path,
    *,
    val_fraction: float = 0.15,
    test_fraction: float = 0.15,
    split_seed: int = 0,
    progress: bool = True,
    extract_root: str | Path | None = None,
) -> tuple[Any, Any]:
    """Ingest, split and validate a dataset; returns ``(Manifest, DataReport)``.

    Never raises for an unusable dataset (the report's ``errors`` say why); an unreadable or
    unsafe source raises :class:`~imgrec.errors.DatasetError`. Zips are extracted under
    ``extract_root`` (default ``IMGREC_HOME/datasets``).
    """
    from imgrec.data.ingest import ingest
    from imgrec.data.split import assign_splits
    from imgrec.data.validate import check_dataset
    from imgrec.errors import DatasetError
    from imgrec.progress import TextProgress

    manifest = ingest(
        path,
        extract_root=Path(extract_root) if extract_root else Settings().datasets_dir,
        progress=TextProgress("reading images") if progress else None,
    )
    try:
        if manifest.samples and manifest.num_classes > 1:
            manifest = assign_splits(
                manifest, val_fraction=val_fraction, test_fraction=test_fraction, seed=split_seed
            )
    except DatasetError as exc:
        report = check_dataset(manifest)
        report.errors.append(str(exc))
        return manifest, report
    return manifest, check_dataset(manifest)


def check_data(
    path: str | Path,
    *,
    val_fraction: float = 0.15,
    test_fraction: float = 0.15,
    split_seed: int = 0,
    progress: bool = True,
    task: str | None = None,
) -> Any:
    """Ingest, split and validate a dataset; returns the :class:`DataReport` (never raises for
    an unusable dataset: the report's ``errors`` say why). ``task`` (default: inferred from the
    layout) picks the readers: a detection dataset gets a :class:`DetectionCheck`."""
    resolved = _task_for(task, path)
    if resolved in ("detect", "instance"):
        return _check_task_data(
            path,
            resolved,
            val_fraction=val_fraction,
            test_fraction=test_fraction,
            split_seed=split_seed,
        )
    if resolved == "segment":
        return check_segmentation_data(
            path, val_fraction=val_fraction, test_fraction=test_fraction, split_seed=split_seed
        )
    _, report = read_dataset(
        path,
        val_fraction=val_fraction,
        test_fraction=test_fraction,
        split_seed=split_seed,
        progress=progress,
    )
    return report


@dataclass
class TaskDataCheck:
    """The validation report of a detection or segmentation dataset (``imgrec data check``)."""

    task: str
    dataset: Any

    @property
    def usable(self) -> bool:
        if self.task == "instance" and not getattr(self.dataset, "has_masks", False):
            return False
        return bool(self.dataset.by_split("train"))

    def to_dict(self) -> dict[str, Any]:
        report = _task_data_functions(self.task)[1]
        return {"task": self.task, "usable": self.usable} | report(self.dataset)

    def render_text(self) -> str:
        text = _task_data_functions(self.task)[2](self.dataset)
        what = "masks" if self.task in ("segment", "instance") else "boxes"
        return text if self.usable else text + f"\nnot usable: no training images with {what}."


DetectionCheck = TaskDataCheck  # the name a detection check had before segmentation came


def _task_data_functions(task: str) -> tuple[Callable[..., Any], ...]:
    """``(read, report, render)`` of the detection or the segmentation data layer."""
    if task == "segment":
        from imgrec.data import segmentation as seg

        return seg.read_segmentation, seg.segmentation_report, seg.render_segmentation_report
    from imgrec.data import detection as det

    return det.read_detection, det.detection_report, det.render_report_text


def _check_task_data(
    path: str | Path, task: str, *, val_fraction: float, test_fraction: float, split_seed: int
) -> TaskDataCheck:
    read = _task_data_functions(task)[0]
    settings = Settings()
    settings.datasets_dir.mkdir(parents=True, exist_ok=True)
    dataset = read(  # a zip is extracted once, by content, and reused (as training)
        Path(path),
        work_dir=settings.datasets_dir,
        val_fraction=val_fraction,
        test_fraction=test_fraction,
        split_seed=split_seed,
    )
    return TaskDataCheck(task, dataset)


def check_detection_data(
    path: str | Path,
    *,
    val_fraction: float = 0.15,
    test_fraction: float = 0.15,
    split_seed: int = 0,
) -> TaskDataCheck:
    """Read and validate a COCO, YOLO or VOC dataset (folder or zip); nothing is modified."""
    return _check_task_data(
        path,
        "detect",
        val_fraction=val_fraction,
        test_fraction=test_fraction,
        split_seed=split_seed,
    )


def check_segmentation_data(
    path: str | Path,
    *,
    val_fraction: float = 0.15,
    test_fraction: float = 0.15,
    split_seed: int = 0,
) -> TaskDataCheck:
    """Read and validate a segmentation dataset (mask folders, VOC, COCO; folder or zip)."""
    return _check_task_data(
        path,
        "segment",
        val_fraction=val_fraction,
        test_fraction=test_fraction,
        split_seed=split_seed,
    )


def convert_data(source: str | Path, *, to: str, out: str | Path, drop_crowd: bool = False) -> Path:
    """Write the detection dataset ``source`` (COCO, YOLO or VOC; folder or zip) to ``out`` in
    layout ``to`` (``coco``, ``yolo`` or ``voc``); the source is only read. YOLO has no crowd
    flag: crowd boxes are refused unless ``drop_crowd``."""
    from imgrec.data.detection import convert_detection

    work = Settings().datasets_dir / "convert"
    layout: Any = to  # convert_detection names an unknown layout with the choices
    return convert_detection(Path(source), layout, Path(out), work_dir=work, drop_crowd=drop_crowd)


def synth_data(
    out: str | Path,
    *,
    task: str = "classify",
    per_class: int = 100,
    img_size: int = 64,
    classes: str | Sequence[str] | None = None,
    splits: bool = False,
    seed: int = 0,
) -> Path:
    """Write the synthetic shapes dataset to ``out`` (``task="instance"``: COCO boxes and exact
    instance masks as RLE)."""
    from imgrec.data.synth import DEFAULT_CLASSES, write_shapes_dataset
    from imgrec.tasks.registry import get_task

    get_task(task)
    if task in ("detect", "instance"):
        from imgrec.data.detection import write_shapes_detection, write_shapes_instances

        write = write_shapes_instances if task == "instance" else write_shapes_detection
        names = classes.split(",") if isinstance(classes, str) else classes
        return write(
            Path(out),
            n=per_class * len(names or DEFAULT_CLASSES),
            img_size=img_size,
            seed=seed,
            classes=[n.strip() for n in names] if names else None,
        )
    if task == "segment":
        from imgrec.data.segmentation import write_shapes_segmentation

        names = classes.split(",") if isinstance(classes, str) else classes
        return write_shapes_segmentation(
            Path(out),
            n=per_class * len(names or DEFAULT_CLASSES),
            img_size=img_size,
            seed=seed,
            classes=[n.strip() for n in names] if names else None,
        )
    if task != "classify":
        raise ConfigError(
            f"task '{task}': only classify, detect, instance and segment sets are generated."
        )
    names = classes.split(",") if isinstance(classes, str) else classes
    return write_shapes_dataset(
        Path(out),
        task="classify",
        per_class=per_class,
        img_size=img_size,
        classes=[n.strip() for n in names] if names else DEFAULT_CLASSES,
        seed=seed,
        splits=splits,
    )


def export_idx(source: str | Path, out: str | Path) -> Path:
    """Convert IDX files (MNIST, Fashion-MNIST) to split/class folders of PNGs."""
    from imgrec.data.idx import export_idx_folder
    from imgrec.progress import TextProgress

    return export_idx_folder(Path(source), Path(out), progress=TextProgress("writing PNGs"))


def explain(
    run_dir: str | Path,
    images: Sequence[Any],
    *,
    method: str | None = None,
    target_class: str | None = None,
    layer: str | None = None,
    out: str | Path | None = None,
    device: str = "auto",
    options: Mapping[str, Any] | None = None,
    detection: int | None = None,
    conf: float | None = None,
    top: int | None = None,
) -> list[Any]:
    """Heatmaps of why the model in ``run_dir`` predicts what it does for ``images``.

    Args:
        images: Files, folders (expanded), PIL images or uint8 arrays.
        method: cam, gradcam (the default), gradcam++, scorecam, eigencam, layercam, lime or
            occlusion; for a detection or instance-segmentation run eigencam (the default) or
            gradcam; for a segmentation run gradcam (the default), gradcam++, scorecam, eigencam
            or layercam.
        target_class: Explain this class instead of each image's prediction (segmentation
            runs: instead of its predicted classes).
        layer: Layer for the CAM methods (default: the model's ``default_cam_layer``; for a
            segmenter the features its class logits are computed from).
        out: Write overlay PNGs, raw ``.npy`` maps and ``explanations.json`` here.
        options: Method options (LIME ``num_samples``, occlusion ``window``/``stride``, ...).
        detection: Detection runs: explain only each image's ``detection``-th box (1 = best).
        conf: Detection runs: boxes scoring at least this are explained (0.25).
        top: Detection runs: at most this many boxes per image (5); segmentation runs: at most
            this many predicted classes, the background left out (3).

    Returns:
        One :class:`imgrec.explain.Explanation` per image (an
        :class:`imgrec.explain.UnexplainedImage`, source and error, for one that cannot be read;
        :class:`~imgrec.errors.DatasetError` when none can), or for a detection or
        instance-segmentation run one :class:`imgrec.explain.detections.DetectionExplanation`
        per image, or for a segmentation run one
        :class:`imgrec.explain.segments.SegmentExplanation` per image.
    """
    from imgrec.explain.run import explain_run

    return list(
        explain_run(
            Path(run_dir),
            list(images),
            method=method,
            target_class=target_class,
            layer=layer,
            out=Path(out) if out is not None else None,
            device=_device(device),
            options=options,
            detection=detection,
            conf=conf,
            top=top,
        )
    )


def inspect(
    run_dir: str | Path,
    what: str,
    *,
    image: Any = None,
    layer: str | None = None,
    out: str | Path | None = None,
    data: str | Path | None = None,
    method: str = "pca",
    split: str = "test",
    max_images: int = 2000,
    device: str = "auto",
) -> dict[str, Any]:
    """Look inside the model in ``run_dir``: ``summary``, ``filters``, ``features`` (of ``layer``
    for ``image``) or ``embedding`` (of its ``split``, or of ``data``, by ``method`` pca/tsne).

    Files go to ``out`` (default ``RUN_DIR/inspect``); the returned dict names them.
    """
    from imgrec.explain.run import inspect_run

    settings = Settings()
    return inspect_run(
        Path(run_dir),
        what,
        image=image,
        layer=layer,
        out=Path(out) if out is not None else None,
        data=Path(data) if data is not None else None,
        method=method,
        split=split,
        max_images=max_images,
        device=_device(device),
        settings=settings,
    )


def classifier_models(pattern: str | None = None) -> list[tuple[str, dict[str, Any]]]:
    """The registered classifier names matching ``pattern`` (glob), each with its options."""
    from imgrec.models.registry import list_models, model_options

    return [(name, model_options(name)) for name in list_models(pattern)]


def request_stop() -> bool:
    """Ask a running search to stop after its current epoch; False if it was asked already."""
    from imgrec.search.trial import STOP_REQUESTED

    if STOP_REQUESTED.is_set():
        return False
    STOP_REQUESTED.set()
    return True


# ---------------------------------------------------------------- read-only views for the server
# The web server reaches the library only through this module; these hand it plain data.


def detector_models() -> list[str]:
    """The detector family names a ``task: detect`` run takes as ``model.name`` (default first)."""
    from imgrec.models.detectors import list_detectors

    return list_detectors()


def task_models(task: str = "classify") -> list[str]:
    """The model names a run of ``task`` takes as ``model.name`` (the task's default first):
    classifiers, detector families, segmenters or instance segmenters."""
    if task == "detect":
        return detector_models()
    if task == "segment":
        from imgrec.models.segmenters import list_segmenters

        return list_segmenters()
    if task == "instance":
        from imgrec.models.instance_segmenters import list_instance_segmenters

        return list_instance_segmenters()
    from imgrec.models.registry import list_models

    return list_models()


def task_info(task: str = "classify") -> dict[str, Any]:
    """What ``task`` declares, as plain data: its ``metrics`` (name, direction, per_epoch, label),
    ``summary_metric``, ``monitor`` (the default objective) and the ``run_costs`` a search may
    also optimise (``latency_ms``, ``train_time_s``)."""
    from imgrec.search.objectives import RUN_COSTS
    from imgrec.tasks.registry import get_task

    spec = get_task(task)
    metrics = [
        {"name": m.name, "direction": m.direction, "per_epoch": m.per_epoch, "label": m.label}
        for m in spec.metrics
    ]
    return {
        "task": spec.name,
        "metrics": metrics,
        "summary_metric": spec.summary_metric,
        "monitor": spec.monitor.name,
        "run_costs": list(RUN_COSTS),
    }


def search_options(task: str = "classify") -> dict[str, Any]:
    """What a search of ``task`` can vary: ``params`` ``{name: (config key, type name)}``, the
    task's ``default_space``, the ``samplers`` and ``pruners``, and the ``models`` it trains."""
    from imgrec.search.space import SEARCHABLE, default_space
    from imgrec.search.study import PRUNERS, SAMPLERS

    models = task_models(task)
    return {
        "params": {name: (key, kind.__name__) for name, (key, kind) in SEARCHABLE.items()},
        "default_space": default_space(task=task),
        "samplers": list(SAMPLERS),
        "pruners": list(PRUNERS),
        "models": models,
    }


def check_space(raw: Mapping[str, Any], *, origin: str = "search space") -> None:
    """Raise :class:`~imgrec.errors.ConfigError` naming the parameter when ``raw`` is not a
    valid search space (the check :func:`tune` makes before any trial runs)."""
    from imgrec.search.space import parse_space

    parse_space(raw, origin=origin)


def param_importances(experiment: str, *, db: str) -> dict[str, float]:
    """fANOVA importances of an experiment's parameters over its completed trials (empty with
    fewer than two, several objectives, or no Optuna study of that name)."""
    import optuna

    try:
        study = optuna.load_study(study_name=experiment, storage=_optuna_storage(db))
    except KeyError:  # an experiment row without its study (made outside imgrec.tune)
        return {}
    complete = [t for t in study.get_trials(deepcopy=False) if t.state.name == "COMPLETE"]
    if len(complete) < 2 or len(study.directions) > 1:
        return {}
    try:
        found = optuna.importance.get_param_importances(study)
    except (RuntimeError, ValueError):  # e.g. every parameter constant so far
        return {}
    return {k: float(v) for k, v in found.items()}


_STORAGES: dict[str, Any] = {}  # one Optuna storage (engine) per database URL


def _optuna_storage(url: str) -> Any:
    from imgrec.search.study import optuna_storage

    if url not in _STORAGES:
        _STORAGES[url] = optuna_storage(url, heartbeat_s=60.0, grace_s=120.0)
    return _STORAGES[url]


def extract_archive(archive: str | Path, root: str | Path) -> Path:
    """Safely extract a dataset zip under ``root`` once per content (as training does) and
    return the folder; raises :class:`~imgrec.errors.DatasetError` for unsafe or corrupt zips."""
    from imgrec.data.zipcache import extract_cached

    return extract_cached(Path(archive), Path(root))[0]


def is_metadata_name(name: str) -> bool:
    """True for file names that are never data (hidden files, ``__MACOSX``, ``Thumbs.db``)."""
    from imgrec.data.archive import is_ignored_name

    return is_ignored_name(name)


def dataset_task(folder: str | Path) -> str:
    """The task whose readers read the dataset in ``folder`` (``detect`` for COCO, YOLO or VOC
    layouts, else ``classify``)."""
    from imgrec.tasks.registry import resolve_task

    return resolve_task(None, Path(folder))


_RICHEST_FIRST = ("instance", "detect", "segment")  # a COCO set with masks is instance first


def dataset_tasks(folder: str | Path) -> list[str]:
    """Every task whose readers read the dataset in ``folder``, the richest annotation first: a
    COCO set with masks is ``instance``, ``detect`` and ``segment``, mask folders ``segment``,
    a VOC tree with boxes and masks ``detect`` and ``segment``; class folders ``classify``."""
    from imgrec.tasks.registry import get_task, list_tasks

    found = [t for t in list_tasks() if t != "classify" and get_task(t).recognises(Path(folder))]
    rank = {t: i for i, t in enumerate(_RICHEST_FIRST)}
    return sorted(found, key=lambda t: rank.get(t, len(rank))) or ["classify"]


def sample_overlay_png(
    check: TaskDataCheck,
    key: str,
    *,
    size: int = 320,
    colours: Sequence[tuple[int, int, int]] | None = None,
) -> bytes:
    """A PNG (``size`` px a side at most, small images enlarged) of the image ``key`` of a
    checked segmentation or instance dataset with its true masks blended in and outlined, class
    ``i`` in ``colours[i]`` (default the VOC colour map); background stays as it is, ignored
    pixels turn pale. ``key`` must be one of the dataset's images (else KeyError): no file opens
    that the dataset did not list."""
    import io

    import numpy as np
    from PIL import Image, ImageOps

    from imgrec.evaluation.segmentation_plots import (
        background_index,
        default_palette,
        overlay_mask,
    )

    ds = check.dataset
    image = next((img for img in ds.images if img.key == key), None)
    if image is None:
        raise KeyError(key)
    with Image.open(image.path) as opened:
        rgb = ImageOps.exif_transpose(opened).convert("RGB")
    if check.task == "segment":
        from imgrec.data.segmentation import load_mask

        mask, ignore = load_mask(image, ds), ds.ignore_index
        palette = [colours[i % len(colours)] for i in range(ds.num_classes)] if colours else None
        background = background_index(ds.classes)
    else:  # instance: class i + 1 on each object, the larger painted first
        from imgrec.data.detection.masks import decode_segmentation

        mask, ignore, background = np.zeros((image.height, image.width), np.uint8), None, 0
        segmentations = image.segmentations or (None,) * len(image.labels)  # one per box
        shapes = zip(segmentations, image.labels, strict=True)
        drawn = [
            (decode_segmentation(s, image.height, image.width), int(k))
            for s, k in shapes
            if s is not None
        ]
        for pixels, label in sorted(drawn, key=lambda d: -int(d[0].sum())):
            mask[pixels] = label + 1
        k = len(ds.classes)
        palette = [(0, 0, 0)] + [colours[i % len(colours)] for i in range(k)] if colours else None
    rgb.thumbnail((size, size))
    factor = size // max(rgb.size)  # a small image is enlarged, its pixels kept sharp
    if factor > 1:
        rgb = rgb.resize((rgb.width * factor, rgb.height * factor), Image.Resampling.NEAREST)
    small = np.asarray(Image.fromarray(mask).resize(rgb.size, Image.Resampling.NEAREST))
    pixels = np.asarray(rgb)
    table = np.asarray(palette, np.uint8) if palette else default_palette(int(small.max()) + 1)
    blended = overlay_mask(
        pixels, small, table, ignore_index=ignore, alpha=0.55, untinted=background
    )
    edge = np.zeros(small.shape, bool)  # each region outlined inside in its solid colour
    for d in range(1, max(2, max(small.shape) // 100)):
        edge[:-d] |= small[:-d] != small[d:]
        edge[d:] |= small[d:] != small[:-d]
        edge[:, :-d] |= small[:, :-d] != small[:, d:]
        edge[:, d:] |= small[:, d:] != small[:, :-d]
    edge &= (small != background) & (small != ignore) & (small < len(table))
    blended[edge] = table[small[edge]]
    buffer = io.BytesIO()
    Image.fromarray(blended).save(buffer, format="PNG")
    return buffer.getvalue()


def detection_overview(check: DetectionCheck, *, per_class: int = 8) -> dict[str, Any]:
    """Beside the report of a checked detection dataset: ``images_per_class`` (per split, an
    image counted once per class it holds), up to ``per_class`` ``samples`` per class with their
    key and boxes, and the images without objects (``empty``); paths relative to the dataset's
    root."""
    ds = check.dataset
    root = Path(ds.root).resolve()
    images: dict[str, dict[str, int]] = {}
    samples: dict[str, list[dict[str, Any]]] = {c: [] for c in ds.classes}
    empty: list[str] = []
    for split in ds.splits():
        counts = images.setdefault(split or "unsplit", dict.fromkeys(ds.classes, 0))
        for img in ds.by_split(split):
            path = Path(img.path).resolve()
            file = path.relative_to(root).as_posix() if path.is_relative_to(root) else img.key
            present = sorted({int(v) for v in img.labels})
            if not present:
                empty.append(file)
            boxes = [
                {
                    "label": ds.classes[int(k)],
                    "box": [round(float(v), 2) for v in b],
                    "crowd": bool(c),
                }
                for b, k, c in zip(img.boxes, img.labels, img.iscrowd, strict=True)
            ]
            for label in present:
                counts[ds.classes[label]] += 1
                chosen = samples[ds.classes[label]]
                if len(chosen) < per_class:
                    size = {"width": img.width, "height": img.height}
                    chosen.append({"file": file, "key": img.key, "split": split, **size})
                    chosen[-1]["boxes"] = boxes
    return {"images_per_class": images, "samples": samples, "empty": empty}


def explain_overlay(predictor: Any, image: Any, *, method: str = "gradcam") -> Any:
    """Why the classifier ``predictor`` (from :func:`load`) predicts what it does for ``image``:
    the heatmap of ``method`` blended over the image, enlarged; uint8 ``(H, W, 3)``."""
    import numpy as np

    from imgrec.explain.explainer import explain_images
    from imgrec.explain.overlay import overlay, upscale

    found = explain_images(predictor, [image], method=method)[0]
    return np.asarray(upscale(overlay(found.pixels, found.heatmap)), dtype=np.uint8)
