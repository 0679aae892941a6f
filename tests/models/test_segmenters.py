"""Semantic segmenters: every family's shapes, training, reloading, weights files and errors."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import pytest
import torch
import torch.nn.functional as F
from safetensors.torch import save_file

from imgrec.errors import ModelError
from imgrec.models.pretrained_lite import MEAN, STD, lite0_weights_path
from imgrec.models.segmenters import Segmenter, create_segmenter, list_segmenters
from imgrec.models.weights import save_weights

LITE = {"backbone": "efficientnet_lite0"}
FAMILIES: list[tuple[str, dict[str, Any]]] = [
    ("smallunet", {"width": 8, "depth": 3}),
    ("unet", {}),
    ("unet", LITE),
    ("fpn", {"encoder": "resnet18"}),
    ("deeplabv3plus", LITE),
    ("fcn", {"backbone": "resnet18"}),
    ("fcn", {"backbone": "resnet50"}),
    ("deeplabv3", {"backbone": "mobilenet_v3_large"}),
    ("lraspp", {}),
]


def _ids(case: tuple[str, dict[str, Any]]) -> str:
    name, opts = case
    return "-".join([name, *map(str, opts.values())])


@pytest.mark.parametrize("case", FAMILIES, ids=_ids)
def test_every_family_returns_logits_at_the_input_size(case: tuple[str, dict[str, Any]]) -> None:
    name, opts = case
    model = create_segmenter(name, num_classes=3, **opts)
    assert isinstance(model, Segmenter)
    assert model.architecture == name and model.num_classes == 3
    x = torch.randn(2, 3, 66, 50)  # odd sides, not multiples of any stride
    model.train()
    logits = model(x)
    assert logits.shape == (2, 3, 66, 50)
    logits.mean().backward()
    model.eval()
    with torch.no_grad():
        assert model(x[:1]).shape == (1, 3, 66, 50)
    backbone = {id(p) for p in model.backbone_parameters()}
    head = {id(p) for p in model.head_parameters()}
    assert backbone and head and not backbone & head
    assert backbone | head == {id(p) for p in model.parameters()}
    assert all(p.grad is not None for p in model.head_parameters() if p.requires_grad)


@pytest.mark.slow
@pytest.mark.parametrize("name", ["fcn", "deeplabv3"])
def test_resnet101_families_build(name: str) -> None:
    model = create_segmenter(name, num_classes=2, backbone="resnet101").eval()
    with torch.no_grad():
        assert model(torch.randn(1, 3, 40, 36)).shape == (1, 2, 40, 36)


def test_list_segmenters_names_every_family() -> None:
    assert set(list_segmenters()) == {name for name, _ in FAMILIES}


def test_smallunet_learns_a_square() -> None:
    image = torch.full((1, 3, 64, 64), -1.0)
    mask = torch.zeros(1, 64, 64, dtype=torch.long)
    image[:, :, 16:44, 20:48] = 1.0
    mask[:, 16:44, 20:48] = 1
    image += 0.3 * torch.randn_like(image)
    model = create_segmenter("smallunet", num_classes=2, width=8, depth=3).train()
    optimiser = torch.optim.Adam(model.parameters(), lr=1e-2)
    losses = []
    for _ in range(25):
        optimiser.zero_grad()
        logits = model(image)
        loss = F.cross_entropy(logits, mask)
        loss.backward()
        optimiser.step()
        losses.append(loss.item())
    assert losses[-1] < 0.3 * losses[0], losses
    assert (logits.argmax(1) == mask).float().mean() > 0.95  # batch statistics (train mode)


@pytest.mark.parametrize(
    "case",
    [("smallunet", {"width": 8}), ("unet", LITE), ("fcn", {"backbone": "resnet18"})],
    ids=_ids,
)
def test_state_dict_round_trips_through_the_recorded_options(
    case: tuple[str, dict[str, Any]],
) -> None:
    name, opts = case
    model = create_segmenter(name, num_classes=4, **opts)
    model.train()
    model(torch.randn(2, 3, 64, 64))  # move the BatchNorm statistics off their init
    model.eval()
    again = create_segmenter(model.architecture, num_classes=model.num_classes, **model.options)
    again.load_state_dict(model.state_dict(), strict=True)
    again.eval()
    x = torch.randn(1, 3, 48, 40)
    with torch.no_grad():
        assert torch.equal(model(x), again(x))


def test_weights_file_with_other_classes_loads_the_body_and_renews_the_head(
    tmp_path: Path,
) -> None:
    source = create_segmenter("smallunet", num_classes=3, width=8, depth=3)
    path = save_weights(source, tmp_path / "model.safetensors")
    model = create_segmenter("smallunet", num_classes=5, width=8, depth=3, weights=path)
    assert torch.equal(model.net.encoder[0][0].weight, source.net.encoder[0][0].weight)
    assert torch.equal(model.net.decoder[-1][3].weight, source.net.decoder[-1][3].weight)
    assert model.net.head.weight.shape[0] == 5
    same = create_segmenter("smallunet", num_classes=3, width=8, depth=3, weights=path)
    assert torch.equal(same.net.head.weight, source.net.head.weight)


def test_torchvision_state_dict_with_aux_head_loads(tmp_path: Path) -> None:
    from torchvision.models.segmentation import deeplabv3_mobilenet_v3_large

    tv = deeplabv3_mobilenet_v3_large(
        weights=None, weights_backbone=None, num_classes=21, aux_loss=True
    )
    path = tmp_path / "deeplabv3_coco.pth"
    torch.save(tv.state_dict(), path)  # what torchvision publishes: a bare state dict
    model = create_segmenter(
        "deeplabv3", num_classes=2, backbone="mobilenet_v3_large", weights=path
    )
    tv_state = tv.state_dict()
    for key, value in model.net.state_dict().items():
        if key.startswith("classifier.4."):
            assert value.shape[0] == 2  # the class layer starts afresh
        else:
            assert torch.equal(value, tv_state[key]), key


def test_weights_of_another_architecture_are_refused(tmp_path: Path) -> None:
    model = create_segmenter("smallunet", num_classes=2, width=8)
    path = save_weights(model, tmp_path / "model.safetensors")
    with pytest.raises(ModelError, match="do not fit segmenter smallunet") as info:
        create_segmenter("smallunet", num_classes=2, width=16, weights=path)
    assert "same architecture and options" in str(info.value)
    save_file({"something.weight": torch.zeros(2)}, str(tmp_path / "odd.safetensors"))
    with pytest.raises(ModelError, match=r"unexpected in file: something\.weight"):
        create_segmenter("smallunet", num_classes=2, width=8, weights=tmp_path / "odd.safetensors")


def test_pretrained_lite0_encoder_holds_the_wheels_weights() -> None:
    file_state = torch.load(lite0_weights_path(), map_location="cpu", weights_only=True)
    model = create_segmenter("unet", num_classes=3, backbone="efficientnet_lite0", pretrained=True)
    body = model.get_submodule(model.backbone_name).model
    assert torch.equal(body.conv_stem.weight, file_state["_conv_stem.weight"])
    own = body.state_dict()
    assert torch.equal(
        own["blocks.5.3.conv_dw.weight"], file_state["_blocks.14._depthwise_conv.weight"]
    )
    assert (model.mean, model.std) == (MEAN, STD)
    assert model.options == {"backbone": "efficientnet_lite0"}  # reload needs no pretrained
    scratch = create_segmenter("unet", num_classes=3, backbone="efficientnet_lite0")
    scratch_body = scratch.get_submodule(scratch.backbone_name).model
    assert not torch.equal(scratch_body.conv_stem.weight, file_state["_conv_stem.weight"])


def test_freeze_backbone_keeps_the_head_trainable() -> None:
    model = create_segmenter("fpn", num_classes=2, backbone="efficientnet_lite0")
    model.freeze_backbone()
    assert not any(p.requires_grad for p in model.backbone_parameters())
    assert all(p.requires_grad for p in model.head_parameters())
    model.freeze_backbone(False)
    assert all(p.requires_grad for p in model.parameters())


@pytest.mark.parametrize(
    ("call", "words"),
    [
        (lambda: create_segmenter("unte", num_classes=2), ["'unte'", "Did you mean 'unet'"]),
        (
            lambda: create_segmenter("fcn", num_classes=2, backbone="resnet19"),
            ["'resnet19'", "fcn", "Did you mean 'resnet18'"],
        ),
        (
            lambda: create_segmenter("lraspp", num_classes=2, backbone="resnet50"),
            ["'resnet50'", "mobilenet_v3_large"],
        ),
        (
            lambda: create_segmenter("unet", num_classes=2, encoder="resnet181"),
            ["'resnet181'", "unet", "tu-<timm name>"],
        ),
        (
            lambda: create_segmenter("fpn", num_classes=2, backbone="tu-efficentnet_b0"),
            ["'efficentnet_b0'", "Did you mean 'tu-efficientnet_b0'"],
        ),
        (
            lambda: create_segmenter("unet", num_classes=2, pretrained=True),
            ["no offline ImageNet weights", "'resnet18'", "efficientnet_lite0", "--weights FILE"],
        ),
        (
            lambda: create_segmenter("smallunet", num_classes=2, pretrained=True),
            ["no offline ImageNet weights for smallunet", "--weights FILE"],
        ),
        (
            lambda: create_segmenter("smallunet", num_classes=2, widht=8),
            ["'widht'", "Did you mean 'width'"],
        ),
        (
            lambda: create_segmenter("smallunet", num_classes=2, depth=9),
            ["depth", "from 2 to 6", "9"],
        ),
        (lambda: create_segmenter("smallunet", num_classes=0), ["at least one class"]),
        (
            lambda: create_segmenter("smallunet", num_classes=2, backbone="resnet18"),
            ["smallunet", "takes no backbone"],
        ),
    ],
)
def test_bad_requests_are_model_errors_naming_the_thing(call: Any, words: list[str]) -> None:
    with pytest.raises(ModelError) as info:
        call()
    for word in words:
        assert word in str(info.value)


def test_missing_weights_file_fails_fast_with_its_path(tmp_path: Path) -> None:
    missing = tmp_path / "nowhere" / "model.safetensors"
    started = time.perf_counter()
    with pytest.raises(ModelError, match="weights file not found") as info:
        create_segmenter("fcn", num_classes=2, backbone="resnet101", weights=missing)
    assert str(missing) in str(info.value)
    assert time.perf_counter() - started < 0.5  # refused before building anything


def test_forward_refuses_images_that_are_not_rgb_batches() -> None:
    model = create_segmenter("smallunet", num_classes=2, width=4, depth=2)
    with pytest.raises(ModelError, match=r"\(B, 3, H, W\)"):
        model(torch.randn(1, 1, 32, 32))
