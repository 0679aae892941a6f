"""Loading and saving weights: safetensors, weights-only state dicts, refusals, head transfer."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch
from safetensors.torch import load_file
from torch import nn

from imgrec.errors import ModelError
from imgrec.models.base import ImageClassifier
from imgrec.models.registry import create_model
from imgrec.models.weights import LoadReport, load_weights, save_weights


def cnn(num_classes: int = 4, seed: int = 0, **options: object) -> ImageClassifier:
    torch.manual_seed(seed)
    return create_model("simple_cnn", num_classes=num_classes, img_size=28, width=8, **options)


def same(a: nn.Module, b: nn.Module) -> bool:
    sa, sb = a.state_dict(), b.state_dict()
    return sa.keys() == sb.keys() and all(torch.equal(sa[k], sb[k]) for k in sa)


def test_safetensors_round_trip(tmp_path: Path) -> None:
    source, target = cnn(seed=1), cnn(seed=2)
    assert not same(source, target)
    path = save_weights(source, tmp_path / "model.safetensors")
    report = load_weights(target, path)
    assert same(source, target)
    assert report == LoadReport(source=path, loaded=len(source.state_dict()), skipped_head=[])


def test_saved_file_carries_architecture(tmp_path: Path) -> None:
    from safetensors import safe_open

    path = save_weights(cnn(), tmp_path / "m.safetensors")
    with safe_open(str(path), framework="pt") as f:
        meta = f.metadata()
    assert meta["architecture"] == "simple_cnn" and '"width": 8' in meta["options"]


@pytest.mark.parametrize("suffix", [".pt", ".pth", ".bin"])
def test_torch_state_dict_round_trip(tmp_path: Path, suffix: str) -> None:
    source, target = cnn(seed=1), cnn(seed=2)
    torch.save(source.state_dict(), tmp_path / f"w{suffix}")
    load_weights(target, tmp_path / f"w{suffix}")
    assert same(source, target)


@pytest.mark.parametrize(
    "wrap",
    [
        lambda sd: {"state_dict": {f"model.{k}": v for k, v in sd.items()}, "epoch": 3},
        lambda sd: {"model": {f"module.{k}": v for k, v in sd.items()}},
        lambda sd: {"state_dict": {f"model.module.{k}": v for k, v in sd.items()}},
    ],
    ids=["lightning", "ddp", "both"],
)
def test_nested_and_prefixed_checkpoints(tmp_path: Path, wrap: object) -> None:
    source, target = cnn(seed=1), cnn(seed=2)
    torch.save(wrap(source.state_dict()), tmp_path / "ckpt.pt")  # type: ignore[operator]
    load_weights(target, tmp_path / "ckpt.pt")
    assert same(source, target)


def test_adapter_prefix_is_matched_both_ways(tmp_path: Path) -> None:
    """A plain torchvision state dict fits the `model.`-prefixed adapter of `resnet18`."""
    source = create_model("resnet18", num_classes=3, img_size=32)
    plain = {k.removeprefix("model."): v for k, v in source.state_dict().items()}
    torch.save(plain, tmp_path / "tv.pth")
    target = create_model("resnet18", num_classes=3, img_size=32)
    load_weights(target, tmp_path / "tv.pth")
    assert same(source, target)


def test_head_mismatch_is_skipped_and_reported(tmp_path: Path) -> None:
    source, target = cnn(num_classes=10, seed=1), cnn(num_classes=3, seed=2)
    fresh_head = target.get_classifier().weight.detach().clone()
    path = save_weights(source, tmp_path / "ten.safetensors")
    report = load_weights(target, path)
    assert sorted(s.partition(":")[0] for s in report.skipped_head) == ["fc.bias", "fc.weight"]
    assert "(10, 128)" in str(report) and "(3, 128)" in str(report)
    assert report.zeroed == ["fc.bias", "fc.weight"]  # the new head starts at zero
    assert torch.count_nonzero(target.get_classifier().weight) == 0
    kept = cnn(num_classes=3, seed=2)
    assert load_weights(kept, path, zero_head=False).zeroed == []
    assert torch.equal(kept.get_classifier().weight, fresh_head)
    conv = "stages.0.0.weight"
    assert torch.equal(target.state_dict()[conv], source.state_dict()[conv])
    with pytest.raises(ModelError, match=r"fc\.weight"):
        load_weights(cnn(num_classes=3), path, strict_head=True)


def test_pickled_model_is_refused(tmp_path: Path) -> None:
    torch.save(cnn(), tmp_path / "whole.pt")  # a whole module, not a state dict
    with pytest.raises(ModelError) as err:
        load_weights(cnn(), tmp_path / "whole.pt")
    message = str(err.value)
    assert "refused" in message and "safetensors" in message and "weights_only" in message


def test_backbone_mismatch_lists_keys(tmp_path: Path) -> None:
    path = save_weights(cnn(), tmp_path / "w8.safetensors")
    with pytest.raises(ModelError, match=r"shape mismatch: .*stages\.0\.0\.weight"):
        load_weights(create_model("simple_cnn", num_classes=4, img_size=28, width=16), path)
    with pytest.raises(ModelError, match="missing in file") as err:
        load_weights(cnn(depth=3), path)
    assert "more)" in str(err.value)  # depth 3 adds 12 tensors: 10 listed, the rest counted


def test_unexpected_keys(tmp_path: Path) -> None:
    state = cnn().state_dict() | {"extra.weight": torch.zeros(1)}
    torch.save(state, tmp_path / "extra.pt")
    with pytest.raises(ModelError, match=r"unexpected in file: extra\.weight"):
        load_weights(cnn(), tmp_path / "extra.pt")


def test_bad_files(tmp_path: Path) -> None:
    with pytest.raises(ModelError, match="not found"):
        load_weights(cnn(), tmp_path / "absent.safetensors")
    (tmp_path / "w.onnx").write_bytes(b"x")
    with pytest.raises(ModelError, match="unsupported"):
        load_weights(cnn(), tmp_path / "w.onnx")
    (tmp_path / "junk.safetensors").write_bytes(b"not really")
    with pytest.raises(ModelError, match="safetensors"):
        load_weights(cnn(), tmp_path / "junk.safetensors")
    torch.save({"epoch": 3}, tmp_path / "meta.pt")
    with pytest.raises(ModelError, match="not a state dict"):
        load_weights(cnn(), tmp_path / "meta.pt")


def test_create_model_with_weights(tmp_path: Path) -> None:
    source = cnn(seed=5)
    path = save_weights(source, tmp_path / "m.safetensors")
    model = create_model("simple_cnn", num_classes=4, img_size=28, width=8, weights=path)
    assert same(source, model)
    model = create_model(
        "simple_cnn", num_classes=4, img_size=28, width=8, weights=str(path), pretrained=True
    )
    assert same(source, model)


def test_shared_tensors_are_saved(tmp_path: Path) -> None:
    tied = nn.Sequential(nn.Linear(4, 4, bias=False), nn.Linear(4, 4, bias=False))
    tied[1].weight = tied[0].weight
    path = save_weights(tied, tmp_path / "tied.safetensors")
    loaded = load_file(str(path))
    assert torch.equal(loaded["0.weight"], loaded["1.weight"])
    fresh = nn.Sequential(nn.Linear(4, 4, bias=False), nn.Linear(4, 4, bias=False))
    load_weights(fresh, path)
    assert torch.equal(fresh[1].weight, tied[0].weight)
