"""What goes over the wire: pydantic models for requests and answers (never ORM objects)."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated, Any, Literal

from pydantic import AfterValidator, BaseModel, ConfigDict, Field

from imgrec.store import EpochRecord, RunInfo

__all__ = [
    "DatasetDetail",
    "DatasetOut",
    "EpochOut",
    "ExperimentCreate",
    "ExperimentDetail",
    "ExperimentOut",
    "Progress",
    "RunDetail",
    "RunOut",
    "RunPage",
    "SampleImage",
    "TaskName",
]

# The tasks the workbench trains and shows (``imgrec.api.task_info`` of each).
TaskName = Literal["classify", "detect", "segment", "instance"]


def _as_utc(value: datetime) -> datetime:
    return value if value.tzinfo is not None else value.replace(tzinfo=UTC)


# The store keeps naive UTC; on the wire every time says it is UTC (browsers read local time
# from a naive ISO string).
UtcDatetime = Annotated[datetime, AfterValidator(_as_utc)]


class _Wire(BaseModel):
    model_config = ConfigDict(protected_namespaces=())


class DatasetOut(_Wire):
    id: str
    name: str
    status: Literal["checking", "ready", "failed"]
    error: str | None = None
    size_bytes: int
    created_at: UtcDatetime
    task: str | None = Field(
        None, description="classify, detect, segment or instance, from the layout; once checked"
    )
    tasks: list[str] = Field(
        [], description="every task that can train on it, `task` first (COCO with masks: three)"
    )
    layout: str | None = Field(None, description="class_folders, coco, yolo, voc, mask-folders...")
    num_images: int | None = None
    num_instances: int | None = Field(None, description="detection: the objects (boxes)")
    num_classes: int | None = None
    classes: list[str] = []
    usable: bool | None = None


class SampleBox(_Wire):
    label: str
    box: list[float] = Field(description="x0, y0, x1, y1 in the image's pixels")
    crowd: bool = False


class SampleImage(_Wire):
    """A detection, segmentation or instance sample: its file (relative to the dataset), split,
    size and true boxes; for a mask dataset whether its thumbnail shows its true masks."""

    file: str
    split: str | None
    width: int
    height: int
    boxes: list[SampleBox] = []
    overlay: str | None = Field(
        None, description="masks drawn in its thumbnail (segment, instance)"
    )
    share: float | None = Field(None, description="segment: the class's share of its pixels")
    shows: list[str] = Field([], description="segment: the classes its mask shows")


class DatasetDetail(DatasetOut):
    report: dict[str, Any] | None = None
    samples: dict[str, list[int]] = Field(
        {}, description="per class, the indices k of /api/datasets/{id}/samples/{class}/{k}.png"
    )
    sample_images: dict[str, list[SampleImage]] = Field(
        {}, description="detection and segmentation: per class, each sample (as samples)"
    )


class Progress(_Wire):
    done: int
    complete: int
    pruned: int
    failed: int
    interrupted: int  # stopped with a server or worker; the trial ran again
    running: int
    queued: int
    total: int
    fraction: float
    elapsed_s: float
    eta_s: float | None


class ExperimentOut(_Wire):
    id: int
    name: str
    task: str = "classify"
    status: str
    metric: str
    direction: str
    n_trials: int
    sampler: str
    pruner: str
    created_at: UtcDatetime
    finished_at: UtcDatetime | None
    best_run_id: int | None
    best_value: float | None
    progress: Progress
    dataset_id: str | None = None


class RunOut(_Wire):
    id: int
    name: str
    status: str
    model: str
    experiment_id: int | None
    trial_number: int | None
    params: dict[str, Any]
    task: str
    primary_metric: str | None
    primary_value: float | None
    scores: dict[str, float | None]
    accuracy: float | None  # scores["accuracy"] of a classification run, for the run tables
    macro_f1: float | None
    best_val: float | None
    epochs_completed: int
    train_time_s: float | None
    latency_ms: float | None
    throughput: float | None
    created_at: UtcDatetime
    started_at: UtcDatetime | None
    finished_at: UtcDatetime | None
    error: str | None

    @classmethod
    def of(cls, run: RunInfo) -> RunOut:
        named = {"accuracy": run.score("accuracy"), "macro_f1": run.score("macro_f1")}
        return cls.model_validate(run.model_dump() | named)


class RunPage(_Wire):
    total: int
    items: list[RunOut]


class ExperimentDetail(ExperimentOut):
    trials: list[RunOut]


EpochOut = EpochRecord


class RunDetail(_Wire):
    run: RunOut
    epochs: list[EpochOut]
    artifacts: list[dict[str, Any]]
    metrics: dict[str, Any]
    per_class: list[dict[str, Any]]
    confusion: dict[str, Any] | None
    images: list[str]
    has_model: bool


SpaceValue = dict[str, Any] | list[Any] | str | int | float | bool


class ExperimentCreate(_Wire):
    """A search started from the web page: a dataset, bounds, and a budget."""

    model_config = ConfigDict(protected_namespaces=(), extra="forbid")

    task: TaskName | None = Field(
        None,
        description="classify, detect, segment or instance, one the dataset's layout allows "
        "(its `tasks`); default: the dataset's `task`",
    )
    dataset_id: str = Field(pattern=r"^[0-9a-f]{12}$")
    name: str | None = Field(None, max_length=80, pattern=r"^[A-Za-z][A-Za-z0-9_.-]*$")
    space: dict[str, SpaceValue] = {}
    trials: int = Field(10, ge=1, le=10_000)
    timeout_min: float | None = Field(None, gt=0, le=60 * 24 * 30)
    pruner: Literal["median", "hyperband", "none"] = "median"
    sampler: Literal["tpe", "random", "cmaes", "gp"] = "tpe"
    metric: str | None = Field(
        None,
        pattern=r"^[a-z][a-z0-9_]*$",
        description="the objective, one of the task's metrics (GET /api/search/defaults?task=); "
        "default: the task's (val_accuracy, val_map, val_miou, val_mask_map)",
    )
    image_size: int | None = Field(None, ge=8, le=1024)
    seed: int = 0


class SearchParam(_Wire):
    config_key: str
    type: str
    default: Any = None
    choices: list[Any] | None = None


class SearchDefaults(_Wire):
    """What the new-experiment form offers (``default_space`` is used when none is given)."""

    task: str
    params: dict[str, SearchParam]
    default_space: dict[str, Any]
    models: list[str]
    samplers: list[str]
    pruners: list[str]
    metrics: list[str]
    objective: str = Field(description="the task's default objective")
    metric_labels: dict[str, str] = {}


class HistoryPoint(_Wire):
    trial: int | None
    run_id: int
    value: float
    best: float


class History(_Wire):
    """Each completed trial's objective value and the best so far, in trial order."""

    metric: str
    direction: str
    points: list[HistoryPoint]


class Importance(_Wire):
    """fANOVA importance of each searched parameter (shares summing to 1; empty until 2 trials)."""

    params: dict[str, float]


class Comparison(_Wire):
    rows: list[dict[str, Any]]


class ClassScore(_Wire):
    label: str
    probability: float


class BoxOut(_Wire):
    label: str
    class_index: int
    score: float
    box: list[float] = Field(description="x0, y0, x1, y1 in the image's pixels")
    mask_pixels: int | None = Field(None, description="instance segmentation: its mask's pixels")


class ClassShare(_Wire):
    label: str
    share: float = Field(description="the class's fraction of the image's pixels")


class PredictionOut(_Wire):
    task: str = "classify"
    predictions: list[ClassScore] = Field(description="classification: the top classes")
    detections: list[BoxOut] = Field([], description="detection, instance: the objects above conf")
    shares: list[ClassShare] = Field(
        [], description="segmentation: predicted classes, largest first"
    )
    heatmap_png: str | None = Field(None, description="overlay PNG, base64")
    drawn_png: str | None = Field(
        None, description="detection, segmentation: the image with boxes or masks drawn, base64"
    )
    time_ms: float


class InspectOut(_Wire):
    view: str
    png: str | None = Field(None, description="PNG, base64")
    table: str | None = None
    details: dict[str, Any] = {}


class Health(_Wire):
    status: str
    version: str
    workers: dict[str, int]
