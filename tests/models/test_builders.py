"""Every built-in builder: shapes at small sizes, the common surface, options round trip."""

from __future__ import annotations

import json
from typing import Any

import pytest
import torch
from torch import nn

from imgrec.errors import ModelError
from imgrec.models.base import ImageClassifier
from imgrec.models.registry import create_model, list_models
from imgrec.models.vit import resolve_patch_size

FAST = {"vit_tiny": {"depth": 2}}  # keep the ViT shallow so the suite stays quick


def build(name: str, *, num_classes: int = 5, img_size: int = 32, **kw: Any) -> ImageClassifier:
    return create_model(
        name, num_classes=num_classes, img_size=img_size, **(FAST.get(name, {}) | kw)
    )


@pytest.mark.parametrize("size", [28, 32, 64])
@pytest.mark.parametrize("name", list_models())
def test_logits_shape(name: str, size: int) -> None:
    model = build(name, img_size=size)
    assert model(torch.randn(2, 3, size, size)).shape == (2, 5)


@pytest.mark.parametrize("name", list_models())
def test_features_and_pre_logits(name: str) -> None:
    model = build(name).eval()
    x = torch.randn(2, 3, 32, 32)
    with torch.no_grad():
        features = model.forward_features(x)
        pooled = model.forward_head(features, pre_logits=True)
        logits = model.forward_head(features)
        assert torch.allclose(logits, model(x), atol=1e-6)
    expected_ndim = {"mlp": 2, "vit_tiny": 3}.get(name, 4)
    assert features.ndim == expected_ndim and features.shape[0] == 2
    assert pooled.shape == (2, model.num_features)
    assert model.num_classes == 5


@pytest.mark.parametrize("name", list_models())
def test_surface_attributes(name: str) -> None:
    model = build(name)
    assert model.architecture == name
    json.dumps(model.options)  # JSON-serialisable
    assert isinstance(model.get_submodule(model.default_cam_layer), nn.Module)
    assert model.get_classifier() in list(model.modules())


@pytest.mark.parametrize("name", list_models())
def test_backbone_and_head_parameters_partition(name: str) -> None:
    model = build(name)
    backbone = {id(p) for p in model.backbone_parameters()}
    head = {id(p) for p in model.head_parameters()}
    assert backbone and head and not backbone & head
    assert backbone | head == {id(p) for p in model.parameters()}


@pytest.mark.parametrize("name", list_models())
def test_freeze_backbone(name: str) -> None:
    model = build(name)
    model.freeze_backbone()
    assert not any(p.requires_grad for p in model.backbone_parameters())
    assert all(p.requires_grad for p in model.head_parameters())
    model(torch.randn(2, 3, 32, 32)).sum().backward()
    assert all(p.grad is None for p in model.backbone_parameters())
    model.freeze_backbone(False)
    assert all(p.requires_grad for p in model.parameters())


@pytest.mark.parametrize("name", list_models())
def test_reset_classifier(name: str) -> None:
    model = build(name)
    model.reset_classifier(3)
    assert model.num_classes == 3
    assert model(torch.randn(2, 3, 32, 32)).shape == (2, 3)
    head = {id(p) for p in model.head_parameters()}
    assert head and head <= {id(p) for p in model.parameters()}


@pytest.mark.parametrize("name", list_models())
def test_options_round_trip(name: str) -> None:
    model = build(name)
    options = json.loads(json.dumps(model.options))  # as read back from a card.json
    again = create_model(model.architecture, num_classes=5, img_size=32, **options)
    assert again.options == model.options
    shapes = {k: v.shape for k, v in model.state_dict().items()}
    assert {k: v.shape for k, v in again.state_dict().items()} == shapes


@pytest.mark.parametrize("name", list_models())
def test_single_channel_input(name: str) -> None:
    model = create_model(name, num_classes=2, in_chans=1, img_size=28, **FAST.get(name, {}))
    assert model(torch.randn(2, 1, 28, 28)).shape == (2, 2)


def test_simple_cnn_structure_and_cost() -> None:
    model = build("simple_cnn", img_size=28)
    convs = [m for m in model.modules() if isinstance(m, nn.Conv2d)]
    assert [c.out_channels for c in convs] == [32, 32, 64, 64]
    assert all(c.kernel_size == (3, 3) for c in convs)
    # Multiply-adds per 28x28x3 image at width 32, counted below: 19,092,928 (~19.1M):
    # 28*28*9*(3*32 + 32*32) + 14*14*9*(32*64 + 64*64) + 64*7*7*128 + 128*5.
    macs = 0

    def count(module: nn.Module, _: Any, out: torch.Tensor) -> None:
        nonlocal macs
        if isinstance(module, nn.Conv2d):
            k = module.kernel_size[0] * module.kernel_size[1] * module.in_channels
            macs += out[0].numel() * k
        elif isinstance(module, nn.Linear):
            macs += module.in_features * module.out_features

    for m in model.modules():
        m.register_forward_hook(count)
    model.eval()(torch.randn(1, 3, 28, 28))
    convs_macs = 28 * 28 * 9 * (3 * 32 + 32 * 32) + 14 * 14 * 9 * (32 * 64 + 64 * 64)
    assert macs == convs_macs + 64 * 7 * 7 * 128 + 128 * 5
    assert 15e6 < macs < 25e6


def test_simple_cnn_options() -> None:
    model = build("simple_cnn", width=8, depth=3)
    assert model.num_features == 128  # the hidden layer of the dense head
    assert model.forward_features(torch.randn(2, 3, 32, 32)).shape == (2, 32, 4, 4)
    with pytest.raises(ModelError, match="img_size"):
        build("simple_cnn", img_size=4, depth=3)
    with pytest.raises(ModelError, match="dropout"):
        build("simple_cnn", dropout=1.5)


def test_mlp_rejects_another_image_size() -> None:
    model = build("mlp", img_size=28)
    with pytest.raises(ModelError, match="img_size"):
        model(torch.randn(2, 3, 32, 32))


@pytest.mark.parametrize(("img_size", "stem"), [(32, True), (64, True), (96, False)])
def test_resnet18_small_stem_default(img_size: int, stem: bool) -> None:
    model = build("resnet18", img_size=img_size)
    assert model.options["small_stem"] is stem
    assert model.get_submodule("model.conv1").kernel_size == ((3, 3) if stem else (7, 7))
    assert isinstance(model.get_submodule("model.maxpool"), nn.Identity) is stem


def test_resnet18_small_stem_forced_off() -> None:
    model = build("resnet18", small_stem=False)
    assert model.forward_features(torch.randn(2, 3, 32, 32)).shape == (2, 512, 1, 1)


@pytest.mark.parametrize(
    ("img_size", "patch", "resolved"),
    [(224, 16, 16), (32, 16, 4), (28, 16, 4), (64, 16, 16), (32, 8, 8), (30, 16, 2), (96, 16, 16)],
)
def test_vit_patch_size(img_size: int, patch: int, resolved: int) -> None:
    assert resolve_patch_size(img_size, patch) == resolved


def test_vit_tiny_layout() -> None:
    model = build("vit_tiny", img_size=28)
    assert model.options == {"depth": 2, "patch_size": 4, "drop_path_rate": 0.0}
    assert model.num_features == 192
    assert model.forward_features(torch.randn(2, 3, 28, 28)).shape == (2, 1 + 7 * 7, 192)
    assert model.default_cam_layer == "model.blocks.1.norm1"
