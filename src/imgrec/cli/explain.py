"""``imgrec explain`` and ``imgrec inspect``: look inside a trained model from the terminal.

Registered on the main app in :mod:`imgrec.cli`. Heavy modules are imported inside the commands
so ``imgrec --help`` stays fast; domain errors print ``error: <message>`` and exit with 2.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Annotated, Any, TypeVar

import typer

__all__ = ["explain_command", "inspect_command"]

T = TypeVar("T")


def _guarded(action: Callable[[], T]) -> T:
    from imgrec.cli.common import run_or_exit

    return run_or_exit(action)


def explain_command(
    run_dir: Annotated[Path, typer.Argument(help="A run directory.")],
    images: Annotated[list[Path], typer.Argument(help="Images or folders of images.")],
    method: Annotated[
        str | None,
        typer.Option(
            "--method",
            "-m",
            help="cam, gradcam, gradcam++, scorecam, eigencam, layercam, lime or occlusion "
            "[default: gradcam]; detection and instance runs: eigencam (default) or gradcam; "
            "segmentation runs: gradcam (default), gradcam++, scorecam, eigencam, layercam.",
        ),
    ] = None,
    target_class: Annotated[
        str | None,
        typer.Option(
            "--class",
            help="Explain this class instead of the prediction (segmentation runs: instead of "
            "the predicted classes).",
        ),
    ] = None,
    layer: Annotated[
        str | None, typer.Option(help="Layer for CAM methods (see `imgrec inspect ... summary`).")
    ] = None,
    out: Annotated[
        Path | None, typer.Option(help="Folder for overlays and maps [default: RUN_DIR/explain].")
    ] = None,
    samples: Annotated[int | None, typer.Option(help="LIME: perturbed images per image.")] = None,
    detection: Annotated[
        int | None,
        typer.Option(help="Detection runs: explain only the K-th box of each image (1 = best)."),
    ] = None,
    conf: Annotated[
        float | None, typer.Option(help="Detection runs: lowest box score [default: 0.25].")
    ] = None,
    top: Annotated[
        int | None,
        typer.Option(
            help="Detection runs: boxes per image [default: 5]; segmentation runs: predicted "
            "classes per image, background left out [default: 3]."
        ),
    ] = None,
    as_json: Annotated[bool, typer.Option("--json", help="JSON output.")] = False,
) -> None:
    """Heatmaps of why the model predicts what it does: overlay PNGs and raw .npy maps."""
    from imgrec import api

    folder = out if out is not None else run_dir / "explain"
    options = {"num_samples": samples} if samples is not None else None
    results = _guarded(
        lambda: api.explain(
            run_dir,
            list(images),
            method=method,
            target_class=target_class,
            layer=layer,
            out=folder,
            options=options,
            detection=detection,
            conf=conf,
            top=top,
        )
    )
    if as_json:
        typer.echo(json.dumps([e.to_dict() for e in results], indent=2))
        return
    if results and hasattr(results[0], "detections"):
        _echo_detections(results, folder)
        return
    if results and hasattr(results[0], "shares"):
        _echo_segments(results, folder)
        return
    _echo_explanations(results, folder)


def _echo_explanations(results: list[Any], folder: Path) -> None:
    """Classification: a row per image; one that could not be read (an ``UnexplainedImage``:
    source and error) says why, as predict does."""
    explained = [e for e in results if not hasattr(e, "error")]
    width = max(len(Path(e.source).name) for e in results)
    typer.echo(f"{'image':<{width}}  {'predicted':<16} {'explained':<16} {'prob':>6} {'time':>7}")
    for e in results:
        if hasattr(e, "error"):
            typer.echo(f"{Path(e.source).name:<{width}}  ERROR  {e.error}")
            continue
        typer.echo(
            f"{Path(e.source).name:<{width}}  {e.predicted:<16.16} {e.label:<16.16} "
            f"{e.probability:>6.3f} {e.seconds:>6.2f}s"
        )
    first = explained[0]  # the api raises when no image could be explained
    layer_note = f" on layer {first.layer}" if first.layer else ""
    skipped = len(results) - len(explained)
    unread = f"; {skipped} image(s) could not be read (ERROR above)" if skipped else ""
    typer.echo(f"{first.method}{layer_note}: {len(explained)} overlay(s) in {folder}{unread}")


def _echo_detections(results: list[Any], folder: Path) -> None:
    width = max(len(Path(e.source).name) for e in results)
    typer.echo(f"{'image':<{width}}  {'#':>2} {'label':<16} {'score':>6}  box")
    for e in results:
        if not e.detections:
            typer.echo(f"{Path(e.source).name:<{width}}  (no box above --conf)")
        for d in e.detections:
            box = ", ".join(f"{v:.0f}" for v in d.detection.box)
            typer.echo(
                f"{Path(e.source).name:<{width}}  {d.rank:>2} {d.detection.label:<16.16} "
                f"{d.detection.score:>6.3f}  [{box}]"
            )
    count = sum(len(e.detections) for e in results)
    typer.echo(f"{results[0].method} on {results[0].layer}: {count} overlay(s) in {folder}")


def _echo_segments(results: list[Any], folder: Path) -> None:
    width = max(len(Path(e.source).name) for e in results)
    typer.echo(f"{'image':<{width}}  {'class':<16} {'share':>6} {'time':>7}")
    for e in results:
        if not e.classes:
            typer.echo(f"{Path(e.source).name:<{width}}  (only the background predicted)")
        for c in e.classes:
            typer.echo(
                f"{Path(e.source).name:<{width}}  {c.name:<16.16} {c.share:>6.3f} "
                f"{e.seconds:>6.2f}s"
            )
    count = sum(len(e.classes) for e in results)
    typer.echo(f"{results[0].method} on layer {results[0].layer}: {count} overlay(s) in {folder}")


def inspect_command(
    run_dir: Annotated[Path, typer.Argument(help="A run directory.")],
    what: Annotated[
        str,
        typer.Argument(
            help="summary, filters, features or embedding (embedding: classification runs)."
        ),
    ],
    image: Annotated[Path | None, typer.Option(help="features: the input image.")] = None,
    layer: Annotated[
        str | None,
        typer.Option(
            help="features: layer name [default: the CAM layer; detection runs: the finest "
            "feature-pyramid level]."
        ),
    ] = None,
    data: Annotated[
        Path | None, typer.Option(help="embedding: another dataset [default: the test split].")
    ] = None,
    method: Annotated[str, typer.Option(help="embedding: pca or tsne.")] = "pca",
    split: Annotated[str, typer.Option(help="embedding: the run's split to use.")] = "test",
    out: Annotated[
        Path | None, typer.Option(help="Folder for the files [default: RUN_DIR/inspect].")
    ] = None,
    as_json: Annotated[bool, typer.Option("--json", help="JSON output.")] = False,
) -> None:
    """Look inside the model: layer summary, first-layer filters, feature maps, embedding map.

    Detection runs have summary, filters and features (of the backbone and feature pyramid);
    `imgrec explain RUN IMAGE --detection K` shows why a box was found.
    """
    from imgrec import api

    result = _guarded(
        lambda: api.inspect(
            run_dir, what, image=image, layer=layer, out=out, data=data, method=method, split=split
        )
    )
    table = result.pop("table", None)
    if as_json:
        typer.echo(json.dumps(result, indent=2))
    elif table is not None:
        typer.echo(table)
    elif what == "embedding":
        typer.echo(
            f"{result['method']} of {result['num_images']} images ({result['feature_dim']}-d "
            f"features, accuracy {result['accuracy']:.3f}) from {result['source']}"
        )
        for pair in result["confused_pairs"] or [{"true": "(no mistakes)"}]:
            if "count" in pair:
                typer.echo(
                    f"  {pair['true']} -> {pair['predicted']}: {pair['count']} "
                    f"({pair['rate']:.1%} of {pair['true']})"
                )
            else:
                typer.echo(f"  {pair['true']}")
        typer.echo(result["png"])
    else:
        for key, value in result.items():
            if key not in ("png", "npy"):
                typer.echo(f"{key}: {value}")
        typer.echo(result["png"])
