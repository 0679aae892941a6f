"""``imgrec data`` (check, synth, convert, idx) and ``imgrec config``."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated

import typer

from imgrec.cli.common import run_or_exit

data_app = typer.Typer(
    help="Check, generate and convert datasets.", no_args_is_help=True, rich_markup_mode=None
)
config_app = typer.Typer(
    help="Configuration keys and defaults.", no_args_is_help=True, rich_markup_mode=None
)


@data_app.command("check")
def data_check(
    path: Annotated[Path, typer.Argument(help="Folder, zip or CSV of images.")],
    as_json: Annotated[bool, typer.Option("--json", help="JSON report.")] = False,
    val_fraction: Annotated[float, typer.Option(help="Validation share when unsplit.")] = 0.15,
    test_fraction: Annotated[float, typer.Option(help="Test share when unsplit.")] = 0.15,
    task: Annotated[
        str | None,
        typer.Option(help="classify, detect or segment; inferred from the layout if not given."),
    ] = None,
) -> None:
    """Validate a dataset; exit 0 when it is usable (warnings allowed), 1 when it is not."""
    from imgrec.api import check_data as check

    report = run_or_exit(
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
        str,
        typer.Option(
            help="classify, detect (COCO, exact boxes), instance (COCO, exact boxes and instance"
            " masks) or segment (exact masks)."
        ),
    ] = "classify",
    per_class: Annotated[int, typer.Option(help="Images per class.")] = 100,
    img_size: Annotated[int, typer.Option(help="Image side in pixels.")] = 64,
    classes: Annotated[str | None, typer.Option(help="Comma-separated shape names.")] = None,
    splits: Annotated[bool, typer.Option(help="Write train/val/test folders.")] = False,
    seed: Annotated[int, typer.Option(help="Random seed.")] = 0,
) -> None:
    """Generate the synthetic shapes dataset."""
    from imgrec.api import synth_data as synth

    path = run_or_exit(
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

    typer.echo(
        str(run_or_exit(lambda: convert_data(source, to=to, out=out, drop_crowd=drop_crowd)))
    )


@data_app.command("idx")
def data_idx(
    source: Annotated[Path, typer.Argument(help="Folder with *-idx3-ubyte(.gz) files.")],
    out: Annotated[Path, typer.Argument(help="Folder to write split/class PNG folders to.")],
) -> None:
    """Convert MNIST-style IDX files (e.g. Debian's dataset-fashion-mnist) to image folders."""
    from imgrec.api import export_idx

    typer.echo(str(run_or_exit(lambda: export_idx(source, out))))


@config_app.command("keys")
def config_keys() -> None:
    """Every config key with its default and meaning."""
    from pydantic import BaseModel
    from pydantic.fields import FieldInfo

    from imgrec.config import DataConfig, ModelConfig, RunConfig, TrainConfig

    sections: dict[str, type[BaseModel]] = {
        "data": DataConfig,
        "model": ModelConfig,
        "train": TrainConfig,
    }
    rows: list[tuple[str, FieldInfo]] = []
    for top, top_field in RunConfig.model_fields.items():
        if top in sections:
            rows += [(f"{top}.{k}", field) for k, field in sections[top].model_fields.items()]
        else:
            rows.append((top, top_field))
    for key, field in rows:
        default = field.default if field.default_factory is None else field.default_factory()  # type: ignore[call-arg]
        typer.echo(f"{key:<30} {default!r:<14} {field.description or ''}")


@config_app.command("defaults")
def config_defaults() -> None:
    """Every key at its default, as a config file to copy (`--config`) and edit."""
    from imgrec.config import RunConfig

    typer.echo(RunConfig().to_yaml(), nl=False)
