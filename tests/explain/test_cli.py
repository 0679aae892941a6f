"""`imgrec explain` and `imgrec inspect` through the real command line."""

from __future__ import annotations

import json
from pathlib import Path

from typer.testing import CliRunner

from imgrec.cli import app

runner = CliRunner()


def test_explain_command_writes_into_the_run(trained_run: Path, shapes_dir: Path) -> None:
    image = sorted(shapes_dir.glob("triangle/*.png"))[0]
    done = runner.invoke(app, ["explain", str(trained_run), str(image), "--method", "gradcam++"])
    assert done.exit_code == 0, done.output
    assert "gradcam++ on layer stages.1.5: 1 overlay(s)" in done.output
    assert image.name in done.output
    folder = trained_run / "explain"
    assert len(list(folder.glob("000-triangle_00001-gradcampp-*.png"))) == 1
    assert len(list(folder.glob("*.npy"))) >= 1


def test_explain_command_json_and_class(
    trained_run: Path, shapes_dir: Path, tmp_path: Path
) -> None:
    image = sorted(shapes_dir.glob("square/*.png"))[0]
    done = runner.invoke(
        app,
        [
            "explain",
            str(trained_run),
            str(image),
            "--method",
            "lime",
            "--class",
            "circle",
            "--samples",
            "50",
            "--out",
            str(tmp_path),
            "--json",
        ],
    )
    assert done.exit_code == 0, done.output
    [row] = json.loads(done.output)
    assert row["label"] == "circle" and row["method"] == "lime" and row["layer"] is None
    assert Path(row["png"]).parent == tmp_path


def test_explain_command_errors_exit_2(trained_run: Path, shapes_dir: Path) -> None:
    image = str(sorted(shapes_dir.glob("square/*.png"))[0])
    for args, message in (
        (["--class", "hexagon"], "the model has no class 'hexagon'"),
        (["--layer", "stage.1"], "layer 'stage.1' does not exist"),
        (["--method", "shap"], "unknown explanation method 'shap'"),
    ):
        done = runner.invoke(app, ["explain", str(trained_run), image, *args])
        assert done.exit_code == 2, done.output
        assert f"error: {message}" in done.output


def test_inspect_command(trained_run: Path, shapes_dir: Path, tmp_path: Path) -> None:
    done = runner.invoke(app, ["inspect", str(trained_run), "summary"])
    assert done.exit_code == 0, done.output
    assert "stages.0.0" in done.output and "multiply-adds" in done.output
    done = runner.invoke(app, ["inspect", str(trained_run), "summary", "--json"])
    assert json.loads(done.output)["layers"][0]["name"] == "stages.0.0"
    done = runner.invoke(app, ["inspect", str(trained_run), "embedding", "--out", str(tmp_path)])
    assert done.exit_code == 0, done.output
    assert "pca of" in done.output and (tmp_path / "embedding-pca.png").is_file()
    done = runner.invoke(app, ["inspect", str(trained_run), "filters", "--out", str(tmp_path)])
    assert done.exit_code == 0 and (tmp_path / "filters.png").is_file()
    done = runner.invoke(
        app,
        [
            "inspect",
            str(trained_run),
            "features",
            "--layer",
            "fc",
            "--image",
            str(sorted(shapes_dir.glob("star/*.png"))[0]),
        ],
    )
    assert done.exit_code == 2 and "not a spatial map" in done.output
