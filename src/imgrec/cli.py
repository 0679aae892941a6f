"""The ``imgrec`` command line: one Typer app, each command calls one api function.

Heavy modules (torch, Lightning) are imported inside the commands so ``imgrec --help`` is fast.
Domain errors print ``error: <message>`` and exit with status 2; nothing prints a traceback for
a mistake the user can fix.
"""

from __future__ import annotations

import json
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Annotated, Any, TypeVar

import typer

from imgrec.cli_runs import runs_app
from imgrec.cli_tune import tune_command, worker_command
from imgrec.errors import ImgrecError

app = typer.Typer(
    name="imgrec",
    help="imgrec: from a folder or zip of images to a trained, evaluated, reusable model.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
    # Plain click help: Typer's rich renderer imports markdown and syntax highlighting (~0.7 s),
    # which would make `imgrec --help` slow.
    rich_markup_mode=None,
)
data_app = typer.Typer(
    help="Check, generate and convert datasets.", no_args_is_help=True, rich_markup_mode=None
)
config_app = typer.Typer(
    help="Configuration keys and defaults.", no_args_is_help=True, rich_markup_mode=None
)
app.add_typer(data_app, name="data")
app.add_typer(config_app, name="config")
app.add_typer(runs_app, name="runs")
app.command("tune")(tune_command)
app.command("worker")(worker_command)

T = TypeVar("T")


def _run(action: Callable[[], T]) -> T:
    try:
        return action()
    except ImgrecError as exc:
        typer.echo(f"error: {exc}", err=True)
        raise typer.Exit(2) from None
    except KeyboardInterrupt:
        typer.echo("interrupted", err=True)
        raise typer.Exit(130) from None


def _parse_pairs(pairs: list[str] | None, what: str) -> dict[str, Any]:
    import yaml

    out: dict[str, Any] = {}
    for pair in pairs or []:
        key, sep, raw = pair.partition("=")
        if not sep or not key:
            typer.echo(f"error: {what} '{pair}' must look like key=value", err=True)
            raise typer.Exit(2)
        out[key.strip()] = yaml.safe_load(raw) if raw else ""
    return out


@app.command()
def train(
    path: Annotated[str | None, typer.Argument(help="Folder, zip or CSV of images.")] = None,
    task: Annotated[
        str | None,
        typer.Option(help="classify or detect; inferred from the dataset's layout if not given."),
    ] = None,
    model: Annotated[
        str | None, typer.Option("--model", "-m", help="Name from `imgrec models`.")
    ] = None,
    epochs: Annotated[int | None, typer.Option(help="Training epochs.")] = None,
    img_size: Annotated[int | None, typer.Option(help="Square input size in pixels.")] = None,
    batch_size: Annotated[int | None, typer.Option(help="Images per batch.")] = None,
    lr: Annotated[float | None, typer.Option(help="Learning rate.")] = None,
    optimizer: Annotated[str | None, typer.Option(help="adamw or sgd.")] = None,
    scheduler: Annotated[str | None, typer.Option(help="cosine, onecycle or none.")] = None,
    augment: Annotated[
        str | None, typer.Option(help="none, light, randaugment, trivialaugment.")
    ] = None,
    weights: Annotated[str | None, typer.Option(help="Start from a local weights file.")] = None,
    pretrained: Annotated[bool | None, typer.Option(help="Published weights (tv:, timm:).")] = None,
    freeze_epochs: Annotated[int | None, typer.Option(help="Train only the head first.")] = None,
    patience: Annotated[int | None, typer.Option(help="Early stopping patience (epochs).")] = None,
    precision: Annotated[str | None, typer.Option(help="auto, 32, bf16 or 16.")] = None,
    device: Annotated[str | None, typer.Option(help="auto, cpu, cuda or mps.")] = None,
    devices: Annotated[str | None, typer.Option(help="GPUs per machine (e.g. 2 or auto).")] = None,
    strategy: Annotated[str | None, typer.Option(help="Lightning strategy, e.g. ddp.")] = None,
    num_nodes: Annotated[int | None, typer.Option(help="Machines (with torchrun).")] = None,
    seed: Annotated[int | None, typer.Option(help="Random seed.")] = None,
    option: Annotated[
        list[str] | None, typer.Option("--option", "-o", help="Model option key=value.")
    ] = None,
    set_: Annotated[
        list[str] | None, typer.Option("--set", help="Any config key=value, e.g. train.mixup=0.2.")
    ] = None,
    config: Annotated[Path | None, typer.Option("--config", "-c", help="YAML config file.")] = None,
    out: Annotated[str | None, typer.Option(help="Folder for the run directory.")] = None,
    name: Annotated[str | None, typer.Option(help="Run directory name.")] = None,
    resume: Annotated[Path | None, typer.Option(help="Continue this run directory.")] = None,
    db: Annotated[
        str | None, typer.Option(help="Run database URL (default IMGREC_DB_URL).")
    ] = None,
    record: Annotated[bool, typer.Option(help="Record the run in the run database.")] = True,
    quiet: Annotated[bool, typer.Option("--quiet", "-q", help="No progress output.")] = False,
) -> None:
    """Train a classifier; prints the run directory as the last line."""
    from imgrec import api

    devices_value: Any = devices
    if devices is not None and devices.isdigit():
        devices_value = int(devices)
    flags: dict[str, Any] = {
        "task": task,
        "model": model,
        "epochs": epochs,
        "img_size": img_size,
        "batch_size": batch_size,
        "lr": lr,
        "optimizer": optimizer,
        "scheduler": scheduler,
        "augment": augment,
        "weights": weights,
        "pretrained": pretrained,
        "freeze_epochs": freeze_epochs,
        "early_stopping_patience": patience,
        "precision": precision,
        "device": device,
        "devices": devices_value,
        "strategy": strategy,
        "num_nodes": num_nodes,
        "seed": seed,
        "out": out,
        "name": name,
    }
    flags = {k: v for k, v in flags.items() if v is not None}
    flags.update({f"model.options.{k}": v for k, v in _parse_pairs(option, "--option").items()})
    flags.update(_parse_pairs(set_, "--set"))
    result = _run(
        lambda: api.train(
            path,
            config=config,
            resume=resume,
            show_progress=not quiet,
            record=record,
            db=db,
            **flags,
        )
    )
    m = result.metrics
    if not m:  # a DDP worker process: rank 0 reports
        return
    if result.config.task == "detect":
        typer.echo(
            f"mAP {m['map']:.4f}  AP50 {m['map50']:.4f}  AP75 {m['map75']:.4f}  "
            f"on {m.get('split')} ({m.get('num_images')} images)  "
            f"trained in {m['training']['wall_time_s']:.1f}s"
        )
    else:
        typer.echo(
            f"accuracy {m['accuracy']:.4f}  macro F1 {m.get('macro_f1', float('nan')):.4f}  "
            f"on {m.get('split')} ({m.get('num_samples')} images)  "
            f"trained in {m['training']['wall_time_s']:.1f}s"
        )
    if result.run_id is not None:
        typer.echo(f"recorded as run {result.run_id} (`imgrec runs show {result.run_id}`)")
    typer.echo(str(result.run_dir))


@app.command("eval")
def eval_(
    run_dir: Annotated[Path, typer.Argument(help="A run directory.")],
    data: Annotated[
        Path | None, typer.Option(help="Another dataset (its classes must be known).")
    ] = None,
    split: Annotated[
        str, typer.Option(help="The run's own split when --data is not given.")
    ] = "test",
    out: Annotated[Path | None, typer.Option(help="Where to write the report.")] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print the metrics as JSON.")] = False,
) -> None:
    """Re-evaluate a trained model."""
    from imgrec import api

    metrics = _run(lambda: api.evaluate(run_dir, data=data, split=split, out=out))
    if as_json:
        typer.echo(json.dumps(metrics, indent=2))
        return
    if "map" in metrics:
        typer.echo(
            f"mAP {metrics['map']:.4f}  AP50 {metrics['map50']:.4f}  AP75 {metrics['map75']:.4f}"
            f"  ({metrics.get('num_images')} images from {metrics['source']})"
        )
        typer.echo(metrics["out_dir"])
        return
    typer.echo(
        f"accuracy {metrics['accuracy']:.4f}  macro F1 {metrics['macro_f1']:.4f}  "
        f"({metrics['num_samples']} images from {metrics['source']})"
    )
    for row in metrics["per_class"]:
        typer.echo(
            f"  {row['name']:<24} P {row['precision']:.3f}  R {row['recall']:.3f}  "
            f"F1 {row['f1']:.3f}  n {row['support']}"
        )
    typer.echo(metrics["out_dir"])


@app.command()
def predict(
    run_dir: Annotated[
        str, typer.Argument(help="A run directory, or zoo:nanodet-coco (pretrained, offline).")
    ],
    inputs: Annotated[list[Path], typer.Argument(help="Images or folders of images.")],
    top_k: Annotated[int, typer.Option(help="How many classes to list per image.")] = 3,
    batch_size: Annotated[int, typer.Option(help="Images per batch.")] = 64,
    as_json: Annotated[bool, typer.Option("--json", help="JSON output.")] = False,
    as_csv: Annotated[bool, typer.Option("--csv", help="CSV output.")] = False,
    conf: Annotated[float, typer.Option(help="Detection: lowest score shown.")] = 0.25,
    iou: Annotated[float, typer.Option(help="Detection: NMS overlap threshold.")] = 0.5,
    save_images: Annotated[
        Path | None, typer.Option(help="Detection: write the images with boxes drawn here.")
    ] = None,
) -> None:
    """Predict the class of images (or the boxes in them) with a trained model."""
    from imgrec import api

    results = _run(
        lambda: api.predict(
            run_dir, list(inputs), top_k=top_k, batch_size=batch_size, conf=conf, iou=iou
        )
    )
    failed = sum(1 for r in results if r.error)
    if results and hasattr(results[0], "detections"):
        from imgrec.cli_detect import show_detections

        show_detections(results, as_json=as_json, as_csv=as_csv, save_images=save_images)
    elif as_json:
        typer.echo(json.dumps([r.to_dict() for r in results], indent=2))
    elif as_csv:
        import csv

        writer = csv.writer(sys.stdout)
        writer.writerow(["source", "label", "score", "top_k", "error"])
        for r in results:
            top = ";".join(f"{n}:{s:.4f}" for n, s in r.top_k)
            writer.writerow(
                [
                    r.source,
                    r.label or "",
                    f"{r.score:.4f}" if r.score is not None else "",
                    top,
                    r.error or "",
                ]
            )
    else:
        for r in results:
            if r.error:
                typer.echo(f"{r.source}\tERROR\t{r.error}")
            else:
                alts = ", ".join(f"{n} {s:.3f}" for n, s in r.top_k[1:])
                typer.echo(
                    f"{r.source}\t{r.label}\t{r.score:.3f}" + (f"\t({alts})" if alts else "")
                )
    if not results:
        typer.echo("error: no images found in the given inputs", err=True)
        raise typer.Exit(2)
    if failed == len(results):
        raise typer.Exit(1)


@app.command()
def demo(
    out: Annotated[Path, typer.Option(help="Folder for the demo's data and runs.")] = Path(
        "imgrec-demo"
    ),
    epochs: Annotated[int, typer.Option(help="Training epochs.")] = 12,
) -> None:
    """Generate a shapes dataset, train a small CNN on it, evaluate and predict (about a minute)."""
    from imgrec.demo import run_demo

    _run(lambda: run_demo(out, epochs=epochs))


@app.command()
def doctor(as_json: Annotated[bool, typer.Option("--json", help="JSON output.")] = False) -> None:
    """Report Python, torch, CUDA/MPS and GPUs, and warn about set-up traps."""
    from imgrec.config import Settings
    from imgrec.doctor import collect_report, render_report

    report = collect_report(home=Settings().home)
    typer.echo(json.dumps(report, indent=2) if as_json else render_report(report))
    if any(p["level"] == "error" for p in report["problems"]):
        raise typer.Exit(1)


@app.command()
def models(
    pattern: Annotated[str | None, typer.Argument(help="Filter, e.g. 'res*'.")] = None,
) -> None:
    """List the registered model names and their options."""
    from imgrec.models.registry import list_models, model_options

    for name in list_models(pattern):
        options = ", ".join(f"{k}={v!r}" for k, v in model_options(name).items())
        typer.echo(f"{name:<14} {options}")
    typer.echo("tv:<name>      any torchvision classifier, e.g. tv:mobilenet_v3_small")
    typer.echo("detectors      tinydet, fcos, retinanet, fasterrcnn, ssdlite (--task detect)")
    typer.echo("zoo:nanodet-coco  pretrained COCO detector: imgrec predict zoo:nanodet-coco x.jpg")
    typer.echo("timm:<name>    any timm model, e.g. timm:resnet10t")


@data_app.command("check")
def data_check(
    path: Annotated[Path, typer.Argument(help="Folder, zip or CSV of images.")],
    as_json: Annotated[bool, typer.Option("--json", help="JSON report.")] = False,
    val_fraction: Annotated[float, typer.Option(help="Validation share when unsplit.")] = 0.15,
    test_fraction: Annotated[float, typer.Option(help="Test share when unsplit.")] = 0.15,
    task: Annotated[
        str | None, typer.Option(help="classify or detect; inferred from the layout if not given.")
    ] = None,
) -> None:
    """Validate a dataset; exit 0 when it is usable (warnings allowed), 1 when it is not."""
    from imgrec.api import check_data as check

    report = _run(
        lambda: check(
            path,
            val_fraction=val_fraction,
            test_fraction=test_fraction,
            progress=not as_json,
            task=task,
        )
    )
    typer.echo(json.dumps(report.to_dict(), indent=2) if as_json else report.render_text())
    if not report.usable:
        raise typer.Exit(1)


@data_app.command("synth")
def data_synth(
    out: Annotated[Path, typer.Argument(help="Folder to create.")],
    task: Annotated[
        str, typer.Option(help="classify, or detect (COCO layout with exact boxes).")
    ] = "classify",
    per_class: Annotated[int, typer.Option(help="Images per class.")] = 100,
    img_size: Annotated[int, typer.Option(help="Image side in pixels.")] = 64,
    classes: Annotated[str | None, typer.Option(help="Comma-separated shape names.")] = None,
    splits: Annotated[bool, typer.Option(help="Write train/val/test folders.")] = False,
    seed: Annotated[int, typer.Option(help="Random seed.")] = 0,
) -> None:
    """Generate the synthetic shapes dataset."""
    from imgrec.api import synth_data as synth

    path = _run(
        lambda: synth(
            out,
            task=task,
            per_class=per_class,
            img_size=img_size,
            classes=classes,
            splits=splits,
            seed=seed,
        )
    )
    typer.echo(str(path))


@data_app.command("convert")
def data_convert(
    source: Annotated[Path, typer.Argument(help="Detection dataset folder or zip.")],
    out: Annotated[Path, typer.Argument(help="New or empty folder to write.")],
    to: Annotated[str, typer.Option(help="Layout to write: coco, yolo or voc.")],
    drop_crowd: Annotated[
        bool, typer.Option(help="YOLO has no crowd flag: leave crowd boxes out.")
    ] = False,
) -> None:
    """Convert a detection dataset between COCO, YOLO and VOC (the source is only read)."""
    from imgrec.api import convert_data

    typer.echo(str(_run(lambda: convert_data(source, to=to, out=out, drop_crowd=drop_crowd))))


@data_app.command("idx")
def data_idx(
    source: Annotated[Path, typer.Argument(help="Folder with *-idx3-ubyte(.gz) files.")],
    out: Annotated[Path, typer.Argument(help="Folder to write split/class PNG folders to.")],
) -> None:
    """Convert MNIST-style IDX files (e.g. Debian's dataset-fashion-mnist) to image folders."""
    from imgrec.api import export_idx

    typer.echo(str(_run(lambda: export_idx(source, out))))


@config_app.command("keys")
def config_keys() -> None:
    """Every config key with its default and meaning."""
    from imgrec.config import DataConfig, ModelConfig, TrainConfig

    for section, cls in (("data", DataConfig), ("model", ModelConfig), ("train", TrainConfig)):
        for key, field in cls.model_fields.items():
            default = field.default if field.default_factory is None else field.default_factory()  # type: ignore[call-arg]
            typer.echo(f"{section}.{key:<24} {default!r:<14} {field.description or ''}")


from imgrec.cli_explain import explain_command, inspect_command  # noqa: E402

app.command("explain")(explain_command)
app.command("inspect")(inspect_command)

from imgrec.cli_serve import serve_command  # noqa: E402

app.command("serve")(serve_command)


def main() -> None:
    app()


if __name__ == "__main__":
    main()
