"""The checks made before building: the same refusals as the builders, nothing built or loaded."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from imgrec.errors import ModelError
from imgrec.models.detectors import check_detector
from imgrec.models.instance_segmenters import (
    check_instance_segmenter,
    create_instance_segmenter,
)
from imgrec.models.registry import check_model, create_model
from imgrec.models.segmenters import check_segmenter
from imgrec.models.weights import check_weights_file, save_weights


@pytest.mark.parametrize(
    ("name", "kwargs"),
    [
        ("simple_cnm", {}),
        ("simple_cnn", {"pretrained": True}),
        ("simple_cnn", {"options": {"depth": "two"}}),
        ("simple_cnn", {"options": {"colour": 3}}),
        ("tv:resnet18", {"weights": "NO_SUCH_WEIGHTS"}),
        ("tv:resnet81", {}),
    ],
)
def test_check_model_refuses_what_create_model_refuses(name: str, kwargs: dict) -> None:
    options = kwargs.pop("options", {})
    with pytest.raises(ModelError) as checked:
        check_model(name, options=options, **kwargs)
    with pytest.raises(ModelError) as built:
        create_model(name, num_classes=3, **options, **kwargs)
    assert str(checked.value) == str(built.value)


def test_check_model_accepts_what_create_model_builds(tmp_path: Path) -> None:
    model = create_model("simple_cnn", num_classes=3, img_size=16, width=8)
    weights = save_weights(model, tmp_path / "model.safetensors")
    check_model("simple_cnn", weights=weights, pretrained=True, options={"width": 8})
    check_model("tv:resnet18", options={"zero_init_residual": True})


def test_weights_files_are_checked_by_their_first_bytes(tmp_path: Path) -> None:
    state = tmp_path / "state.pt"
    torch.save({"w": torch.zeros(2)}, state)
    assert check_weights_file(state) == state
    with pytest.raises(ModelError, match="is a folder, not a weights file"):
        check_weights_file(tmp_path)
    (tmp_path / "empty.pth").write_bytes(b"")
    with pytest.raises(ModelError, match="the weights file is empty"):
        check_weights_file(tmp_path / "empty.pth")
    (tmp_path / "text.safetensors").write_text("not tensors at all")
    with pytest.raises(ModelError, match="not a safetensors file"):
        check_weights_file(tmp_path / "text.safetensors")


def test_detector_segmenter_and_instance_checks_accept_valid_choices(tmp_path: Path) -> None:
    check_detector("fasterrcnn", options={"backbone": "mobilenet_v3_large"})
    check_detector("detr", options={"num_queries": 10, "backbone": "resnet18"})
    check_segmenter("smallunet", options={"width": 8, "depth": 3})
    check_instance_segmenter(
        "maskrcnn", pretrained=True, options={"backbone": "efficientnet_lite0"}
    )
    with pytest.raises(ModelError, match="needs a resnet backbone"):
        check_detector("fcos", options={"backbone": "mobilenet_v3_small"})
    with pytest.raises(ModelError, match="option width of smallunet must be a whole number"):
        check_segmenter("smallunet", options={"width": 0})
    with pytest.raises(ModelError, match="weights file not found"):
        check_instance_segmenter("tinymask", weights=tmp_path / "none.pth")


def test_instance_builder_keeps_its_refusals() -> None:
    with pytest.raises(ModelError, match="tinymask has no pretrained weights"):
        create_instance_segmenter("tinymask", num_classes=2, pretrained=True)
    with pytest.raises(ModelError, match="unknown backbone 'vgg16' for maskrcnn"):
        create_instance_segmenter("maskrcnn", num_classes=2, backbone="vgg16")
    with pytest.raises(ModelError, match="no offline ImageNet weights for 'resnet18'"):
        create_instance_segmenter("maskrcnn", num_classes=2, pretrained=True)
    model = create_instance_segmenter("tinymask", num_classes=2, img_size=32, width=8)
    assert model.architecture == "tinymask"
