"""``tv:`` and ``timm:`` models: the adapters' surface and pretrained weights from caches."""

from __future__ import annotations

import time
from pathlib import Path

import pytest
import torch

from imgrec.errors import ModelError
from imgrec.models.registry import create_model
from imgrec.models.weights import save_weights

SMALL = ["tv:mobilenet_v3_small", "tv:resnet18", "timm:resnet10t", "timm:test_vit"]


@pytest.mark.parametrize("name", SMALL)
def test_surface(name: str) -> None:
    model = create_model(name, num_classes=4, img_size=32).eval()
    x = torch.randn(2, 3, 32, 32)
    with torch.no_grad():
        logits = model(x)
        features = model.forward_features(x)
        assert torch.allclose(model.forward_head(features), logits, atol=1e-5)
        assert torch.allclose(model.model(x), logits, atol=1e-5)  # same as the library's forward
        pooled = model.forward_head(features, pre_logits=True)
    assert logits.shape == (2, 4)
    assert features.ndim == (3 if "vit" in name else 4)
    assert pooled.shape == (2, model.num_features)
    assert model.architecture == name and model.options == {}
    model.get_submodule(model.default_cam_layer)
    backbone = {id(p) for p in model.backbone_parameters()}
    head = {id(p) for p in model.head_parameters()}
    assert head and not backbone & head and backbone | head == {id(p) for p in model.parameters()}
    model.freeze_backbone()
    assert not any(p.requires_grad for p in model.backbone_parameters())
    model.reset_classifier(7)
    assert model.num_classes == 7 and model(x).shape == (2, 7)


def test_options_pass_through_and_round_trip() -> None:
    model = create_model("tv:resnet18", num_classes=3, img_size=32, zero_init_residual=True)
    assert model.options == {"zero_init_residual": True}
    assert torch.count_nonzero(model.get_submodule("model.layer1.0.bn2").weight) == 0
    again = create_model(model.architecture, num_classes=3, img_size=32, **model.options)
    assert again.state_dict().keys() == model.state_dict().keys()
    timm_model = create_model("timm:resnet10t", num_classes=3, img_size=32, drop_rate=0.5)
    assert timm_model.model.drop_rate == 0.5


def test_constructor_errors_become_model_errors() -> None:
    with pytest.raises(ModelError, match="cannot build 'tv:resnet18'"):
        create_model("tv:resnet18", num_classes=3, replace_stride_with_dilation=[True])


@pytest.mark.parametrize("name", ["tv:mobilenet_v3_small", "timm:resnet10t"])
def test_single_channel(name: str) -> None:
    model = create_model(name, num_classes=2, in_chans=1, img_size=32)
    assert model(torch.randn(2, 1, 32, 32)).shape == (2, 2)


def test_timm_vit_gets_the_image_size() -> None:
    model = create_model("timm:test_vit", num_classes=2, img_size=48)
    assert model(torch.randn(1, 3, 48, 48)).shape == (1, 2)


def test_local_weights_for_library_models(tmp_path: Path) -> None:
    source = create_model("tv:mobilenet_v3_small", num_classes=3, img_size=32)
    path = save_weights(source, tmp_path / "m.safetensors")
    model = create_model("tv:mobilenet_v3_small", num_classes=3, img_size=32, weights=path)
    assert all(torch.equal(v, model.state_dict()[k]) for k, v in source.state_dict().items())


def test_tv_pretrained_offline_fails_fast(tmp_path: Path) -> None:
    start = time.monotonic()
    with pytest.raises(ModelError) as err:
        create_model(
            "tv:resnet18", num_classes=3, pretrained=True, offline=True, cache_dir=tmp_path
        )
    assert time.monotonic() - start < 5
    message = str(err.value)
    assert str(tmp_path / "checkpoints" / "resnet18-f37072fd.pth") in message
    assert "--weights PATH" in message and "https://download.pytorch.org" in message


def test_tv_pretrained_offline_default_cache_path(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setattr(torch.hub, "get_dir", lambda: str(tmp_path / "hub"))
    with pytest.raises(ModelError, match=str(tmp_path / "hub" / "checkpoints")):
        create_model("tv:resnet18", num_classes=3, pretrained=True, offline=True)


def test_tv_weights_by_name(tmp_path: Path) -> None:
    with pytest.raises(ModelError, match=r"resnet18-f37072fd\.pth"):
        create_model(
            "tv:resnet18", num_classes=3, weights="IMAGENET1K_V1", offline=True, cache_dir=tmp_path
        )
    with pytest.raises(ModelError, match="IMAGENET1K_V1"):
        create_model("tv:resnet18", num_classes=3, weights="NO_SUCH_WEIGHTS", cache_dir=tmp_path)


def test_timm_pretrained_offline_fails_fast(tmp_path: Path) -> None:
    start = time.monotonic()
    with pytest.raises(ModelError) as err:
        create_model(
            "timm:resnet10t", num_classes=3, pretrained=True, offline=True, cache_dir=tmp_path
        )
    assert time.monotonic() - start < 5
    assert "models--timm--resnet10t.c3_in1k" in str(err.value)
    assert "--weights PATH" in str(err.value)


def test_timm_pretrained_from_the_hf_cache(tmp_path: Path) -> None:
    """A file in the Hugging Face cache layout is used without any network access."""
    import timm

    reference = timm.create_model("resnet10t")  # stands in for the published weights
    repo = tmp_path / "models--timm--resnet10t.c3_in1k"
    (repo / "refs").mkdir(parents=True)
    (repo / "refs" / "main").write_text("0123abcd")
    (repo / "snapshots" / "0123abcd").mkdir(parents=True)
    save_weights(reference, repo / "snapshots" / "0123abcd" / "model.safetensors")
    model = create_model(
        "timm:resnet10t",
        num_classes=3,
        pretrained=True,
        offline=True,
        cache_dir=tmp_path,
        img_size=32,
    )
    assert torch.equal(model.state_dict()["model.conv1.0.weight"], reference.conv1[0].weight)
    assert model.num_classes == 3


def test_builtin_pretrained_is_refused() -> None:
    with pytest.raises(ModelError, match="no published pretrained weights"):
        create_model("resnet18", num_classes=3, pretrained=True, offline=True)
