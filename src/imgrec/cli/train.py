"""Training and using a model: train, predict, eval, demo, doctor, models."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Annotated, Any

import typer

from imgrec.cli.common import parse_pairs, run_or_exit

app = typer.Typer(rich_markup_mode=None)


@app.command()
def train(
    path: Annotated[str | None, typer.Argument(help="Folder, zip or CSV of images.")] = None,
    task: Annotated[
        str | None,
        typer.Option(
            help="classify, detect, segment or instance; inferred from the dataset's layout if "
            "not given (a COCO set with masks trains a detector unless --task instance)."
        ),
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
    """Train a classifier or a detector; prints the run directory as the last line."""
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
    flags.update({f"model.options.{k}": v for k, v in parse_pairs(option, "--option").items()})
    flags.update(parse_pairs(set_, "--set"))
    result = run_or_exit(
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
    if result.config.task == "segment":
        from imgrec.cli.segment import segmentation_scores

        typer.echo(
            f"{segmentation_scores(m)}  on {m.get('split')}  "
            f"trained in {m['training']['wall_time_s']:.1f}s"
        )
    elif result.config.task == "instance":
        typer.echo(
            f"mask mAP {m['mask_map']:.4f}  mask AP50 {m['mask_map50']:.4f}  box mAP "
            f"{m['map']:.4f}  on {m.get('split')} ({m.get('num_images')} images)  "
            f"trained in {m['training']['wall_time_s']:.1f}s"
        )
    elif result.config.task == "detect":
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

    metrics = run_or_exit(lambda: api.evaluate(run_dir, data=data, split=split, out=out))
    if as_json:
        typer.echo(json.dumps(metrics, indent=2))
        return
    if "miou" in metrics:
        from imgrec.cli.segment import segmentation_scores

        typer.echo(f"{segmentation_scores(metrics)} from {metrics['source']}")
        for row in metrics["per_class"]:
            iou = "n/a" if row["iou"] is None else f"{row['iou']:.3f}"
            typer.echo(f"  {row['name']:<24} IoU {iou}")
        typer.echo(metrics["out_dir"])
        return
    if "mask_map" in metrics:
        typer.echo(
            f"mask mAP {metrics['mask_map']:.4f}  mask AP50 {metrics['mask_map50']:.4f}  "
            f"box mAP {metrics['map']:.4f}  ({metrics.get('num_images')} images from "
            f"{metrics['source']})"
        )
        typer.echo(metrics["out_dir"])
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
        str,
        typer.Argument(
            help="A run directory, or zoo:nanodet-coco / zoo:selfie (pretrained, offline)."
        ),
    ],
    inputs: Annotated[list[Path], typer.Argument(help="Images or folders of images.")],
    top_k: Annotated[int, typer.Option(help="How many classes to list per image.")] = 3,
    batch_size: Annotated[int, typer.Option(help="Images per batch.")] = 64,
    as_json: Annotated[bool, typer.Option("--json", help="JSON output.")] = False,
    as_csv: Annotated[bool, typer.Option("--csv", help="CSV output.")] = False,
    conf: Annotated[float, typer.Option(help="Detection: lowest score shown.")] = 0.25,
    iou: Annotated[float, typer.Option(help="Detection: NMS overlap threshold.")] = 0.5,
    save_images: Annotated[
        Path | None,
        typer.Option(
            help="Detection: images with boxes drawn; segmentation and instances: masks, overlays."
        ),
    ] = None,
) -> None:
    """Predict the class of images (the boxes in them, or a class per pixel) with a model."""
    from imgrec import api

    results = run_or_exit(
        lambda: api.predict(
            run_dir, list(inputs), top_k=top_k, batch_size=batch_size, conf=conf, iou=iou
        )
    )
    failed = sum(1 for r in results if r.error)
    if results and hasattr(results[0], "detections"):
        from imgrec.cli.detect import show_detections

        show_detections(results, as_json=as_json, as_csv=as_csv, save_images=save_images)
    elif results and hasattr(results[0], "shares"):
        from imgrec.cli.segment import show_segmentations

        show_segmentations(results, as_json=as_json, as_csv=as_csv, save_images=save_images)
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

    run_or_exit(lambda: run_demo(out, epochs=epochs))


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
    from imgrec.api import classifier_models

    for name, found in classifier_models(pattern):
        options = ", ".join(f"{k}={v!r}" for k, v in found.items())
        typer.echo(f"{name:<14} {options}")
    typer.echo("tv:<name>      any torchvision classifier, e.g. tv:mobilenet_v3_small")
    typer.echo(
        "detectors      tinydet, fcos, retinanet, fasterrcnn, ssdlite, detr, conditional_detr "
        "(--task detect)"
    )
    typer.echo(
        "segmenters     smallunet, unet, fpn, deeplabv3plus, fcn, deeplabv3, lraspp "
        "(--task segment)"
    )
    typer.echo("instance       tinymask, maskrcnn (--task instance: COCO with masks)")
    typer.echo("zoo:nanodet-coco  pretrained COCO detector: imgrec predict zoo:nanodet-coco x.jpg")
    typer.echo("zoo:selfie     pretrained person segmenter: imgrec predict zoo:selfie x.jpg")
    typer.echo("timm:<name>    any timm model, e.g. timm:resnet10t")
