"""Mistakes fail before the data is read: a clear message, exit 2, no run directory, no record."""

from __future__ import annotations

import time
import zipfile
from pathlib import Path

import pytest
from typer.testing import CliRunner

import imgrec
from imgrec.api import open_store
from imgrec.cli import app
from imgrec.config import RunConfig, Settings
from imgrec.engine.preflight import check_before_training
from imgrec.errors import ConfigError, DatasetError, ImgrecError, ModelError

SECONDS = 10.0  # a sanity bound only: reading the data first took 19-37 s


@pytest.fixture
def one_class(shapes_dir: Path, tmp_path: Path) -> Path:
    """An image folder with a single class folder (real images, so only the count is wrong)."""
    folder = tmp_path / "one" / "cat"
    folder.mkdir(parents=True)
    for image in sorted((shapes_dir / "circle").glob("*.png"))[:5]:
        (folder / image.name).write_bytes(image.read_bytes())
    return folder.parent


def _nothing_left(out: Path) -> None:
    assert not out.exists() or not any(out.iterdir()), list(out.iterdir())
    with open_store() as store:
        assert store.list_runs() == []


def _fails(
    error: type[ImgrecError], match: str, data: Path | str, out: Path, **overrides: object
) -> None:
    start = time.monotonic()
    with pytest.raises(error, match=match):
        imgrec.train(data, epochs=1, out=str(out), show_progress=False, **overrides)
    assert time.monotonic() - start < SECONDS
    _nothing_left(out)


def test_a_missing_dataset_fails_at_once(tmp_path: Path) -> None:
    _fails(DatasetError, r"missing: no such file or folder", tmp_path / "missing", tmp_path / "r")


def test_a_file_that_is_no_dataset_fails_at_once(tmp_path: Path) -> None:
    notes = tmp_path / "notes.txt"
    notes.write_text("not images")
    _fails(DatasetError, r"notes\.txt: not a folder, a \.zip", notes, tmp_path / "r")


def test_one_class_folder_is_refused_from_its_listing(one_class: Path, tmp_path: Path) -> None:
    _fails(DatasetError, r"one class folder \('cat'\).*at least two", one_class, tmp_path / "r")


def test_one_class_zip_is_refused_too(one_class: Path, tmp_path: Path) -> None:
    archive = tmp_path / "one.zip"
    with zipfile.ZipFile(archive, "w") as zf:
        for image in sorted((one_class / "cat").iterdir()):
            zf.write(image, f"one/cat/{image.name}")  # a wrapper folder, as zips often have
    _fails(DatasetError, r"one class folder \('cat'\)", archive, tmp_path / "r")


@pytest.mark.parametrize(
    ("overrides", "match"),
    [
        ({"model": "simple_cn"}, r"unknown model 'simple_cn'\. Did you mean 'simple_cnn'\?"),
        ({"model": "resnet18", "pretrained": True}, r"'resnet18' has no published pretrained"),
        ({"model.options.widht": 8}, r"unknown option\(s\) \['widht'\] for model 'simple_cnn'"),
        ({"model.options.width": "wide"}, r"option 'width' of model 'simple_cnn' must be int"),
    ],
)
def test_model_mistakes_fail_before_the_data_is_read(
    shapes_dir: Path, tmp_path: Path, overrides: dict[str, object], match: str
) -> None:
    _fails(ModelError, match, shapes_dir, tmp_path / "r", **overrides)


def test_weights_files_are_checked_without_loading_them(shapes_dir: Path, tmp_path: Path) -> None:
    out = tmp_path / "r"
    _fails(
        ModelError,
        r"nope\.safetensors: weights file not found",
        shapes_dir,
        out,
        weights=str(tmp_path / "nope.safetensors"),
    )
    broken = tmp_path / "broken.safetensors"
    broken.write_bytes(b"\x05\x00\x00\x00\x00\x00\x00\x00{")  # header longer than the file
    _fails(
        ModelError,
        r"broken\.safetensors: not a safetensors file",
        shapes_dir,
        out,
        weights=str(broken),
    )
    odd = tmp_path / "weights.h5"
    odd.write_bytes(b"HDF")
    _fails(ModelError, r"unsupported weights file type '\.h5'", shapes_dir, out, weights=str(odd))


def test_library_weights_missing_offline_fail_fast(
    shapes_dir: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("TORCH_HOME", str(tmp_path / "torch-home"))  # an empty torch hub cache
    _fails(
        ModelError,
        r"pretrained weights for tv:resnet18 are not in the cache",
        shapes_dir,
        tmp_path / "r",
        model="tv:resnet18",
        pretrained=True,
    )


def test_config_mistakes_fail_before_the_data_is_read(shapes_dir: Path, tmp_path: Path) -> None:
    out = tmp_path / "r"
    _fails(ConfigError, r"Did you mean 'epochs'", shapes_dir, out, epoch=3)
    _fails(ConfigError, r"does not log 'val_map'", shapes_dir, out, **{"train.monitor": "val_map"})
    _fails(ConfigError, r"img_size", shapes_dir, out, img_size=2)


def test_the_command_line_exits_2_and_leaves_nothing(
    shapes_dir: Path, one_class: Path, tmp_path: Path
) -> None:
    out = tmp_path / "r"
    for args, message in (
        ([str(tmp_path / "missing")], "missing: no such file or folder"),
        ([str(one_class)], "one: one class folder ('cat')"),
        ([str(shapes_dir), "-m", "resnet81"], "unknown model 'resnet81'. Did you mean 'resnet18'?"),
        ([str(shapes_dir), "--weights", "nope.pt"], "nope.pt: weights file not found"),
    ):
        start = time.monotonic()
        result = CliRunner().invoke(app, ["train", *args, "--out", str(out), "-q"])
        assert time.monotonic() - start < SECONDS
        assert result.exit_code == 2, result.output
        assert "error: " in result.output and message in result.output
    _nothing_left(out)


def _config(path: Path, task: str, model: str, **model_fields: object) -> RunConfig:
    return RunConfig.model_validate(
        {"task": task, "data": {"path": str(path)}, "model": {"name": model, **model_fields}}
    )


def test_valid_runs_of_every_task_pass(shapes_dir: Path, tmp_path: Path) -> None:
    from imgrec.data.detection import write_shapes_detection, write_shapes_instances
    from imgrec.data.segmentation import write_shapes_segmentation

    settings = Settings()
    detect = write_shapes_detection(tmp_path / "det", n=4, img_size=32, seed=0)
    masks = write_shapes_instances(tmp_path / "inst", n=4, img_size=32, seed=0)
    seg = write_shapes_segmentation(tmp_path / "seg", n=4, img_size=32, seed=0)
    for cfg in (
        _config(shapes_dir, "classify", "simple_cnn", options={"width": 8}),
        _config(
            detect, "detect", "fcos", options={"backbone": "efficientnet_lite0"}, pretrained=True
        ),
        _config(masks, "instance", "tinymask"),
        _config(
            seg, "segment", "unet", options={"backbone": "efficientnet_lite0"}, pretrained=True
        ),
    ):
        check_before_training(cfg, settings=settings)


@pytest.mark.parametrize(
    ("task", "model", "fields", "match"),
    [
        ("detect", "fcso", {}, r"unknown detector 'fcso'\. Did you mean 'fcos'\?"),
        (
            "detect",
            "fcos",
            {"options": {"backbnoe": "resnet18"}},
            r"unknown option 'backbnoe' for detector fcos\. Did you mean 'backbone'\?",
        ),
        ("detect", "tinydet", {"pretrained": True}, r"no offline ImageNet weights for tinydet"),
        ("detect", "fcos", {"options": {"num_queries": 5}}, r"for detr and conditional_detr"),
        ("detect", "detr", {"options": {"backbone": "vgg16"}}, r"unknown backbone 'vgg16'"),
        ("segment", "smallunet", {"pretrained": True}, r"no offline ImageNet weights"),
        ("segment", "unte", {}, r"Did you mean 'unet'\?"),
        ("instance", "tinymask", {"pretrained": True}, r"tinymask has no pretrained weights"),
        ("instance", "maskrcnn", {"options": {"widht": 8}}, r"Did you mean 'width'\?"),
    ],
)
def test_each_task_names_its_model_mistakes(
    shapes_dir: Path, task: str, model: str, fields: dict[str, object], match: str
) -> None:
    # the dataset is not looked at by the model check: any folder will do
    cfg = _config(shapes_dir, task, model, **fields)
    with pytest.raises(ModelError, match=match):
        check_before_training(cfg, settings=Settings())
