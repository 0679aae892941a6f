"""DETR and Conditional DETR (transformers) behind the detector surface: the Hungarian-matching
losses, learning one box, pixel boxes and 0-based labels out, thresholds, a strict save/reload,
clear errors, and one training run through ``imgrec.api.train``."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import torch
from safetensors.torch import load_file, save_file

from imgrec.errors import ModelError
from imgrec.models.detectors import Detector, create_detector

TINY: dict[str, Any] = {
    "num_queries": 8,
    "d_model": 32,
    "encoder_layers": 1,
    "decoder_layers": 2,
    "attention_heads": 2,
    "ffn_dim": 64,
}
FAMILIES = ("detr", "conditional_detr")


def _tiny(family: str, **kwargs: Any) -> Detector:
    return create_detector(family, num_classes=3, img_size=64, **{**TINY, **kwargs})


def _net(model: Detector) -> Any:
    """The transformers model inside (typed loosely: its submodules are reached by name)."""
    return model.net


def _square(size: int = 64) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
    image = torch.zeros(3, size, size + 16)
    image[:, 12:44, 20:60] = 1.0
    return image, {"boxes": torch.tensor([[20.0, 12.0, 60.0, 44.0]]), "labels": torch.tensor([1])}


@pytest.mark.parametrize("family", FAMILIES)
def test_training_returns_the_hungarian_matching_losses(family: str) -> None:
    model = _tiny(family)
    image, target = _square()
    empty = {"boxes": torch.zeros(0, 4), "labels": torch.zeros(0, dtype=torch.long)}
    seen: list[Any] = []
    _net(model).register_forward_hook(lambda m, i, out: seen.append(out))
    model.train()
    losses = model([image, torch.rand(3, 48, 64)], [target, empty])
    assert {"classification", "bbox_l1", "giou"} <= set(losses)
    assert {"aux_classification", "aux_bbox_l1", "aux_giou"} <= set(losses)  # decoder layer 1
    assert all(torch.isfinite(v) for v in losses.values())
    total = sum(losses.values())
    assert isinstance(total, torch.Tensor)
    torch.testing.assert_close(total, seen[0].loss)  # the sum is transformers' own loss
    total.backward()
    assert _net(model).model.input_projection.weight.grad is not None


@pytest.mark.parametrize("family", FAMILIES)
def test_a_few_steps_on_one_box_reduce_the_loss(family: str) -> None:
    torch.manual_seed(0)
    model = _tiny(family, backbone="mobilenet_v3_small")
    image, target = _square()
    optimizer = torch.optim.AdamW(model.parameters(), lr=1e-3)
    model.train()
    history = []
    for _ in range(20):
        losses = model([image], [target])
        loss = sum(losses.values())
        assert isinstance(loss, torch.Tensor)
        history.append(loss.item())
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
    assert min(history[-3:]) < 0.75 * history[0], history


@pytest.mark.parametrize("family", FAMILIES)
def test_eval_gives_pixel_boxes_0_based_labels_and_honours_thresholds(family: str) -> None:
    model = _tiny(family).eval()
    images = [torch.rand(3, 64, 96), torch.rand(3, 40, 30)]
    model.score_thresh = 0.0
    with torch.no_grad():
        out = model(images)
    assert len(out) == 2
    for det, image in zip(out, images, strict=True):
        h, w = image.shape[-2:]
        boxes = det["boxes"]
        assert boxes.shape == (len(det["scores"]), 4) and len(boxes) > 0
        assert (
            (boxes >= 0).all() and (boxes[:, [0, 2]] <= w).all() and (boxes[:, [1, 3]] <= h).all()
        )
        assert (boxes[:, 2:] >= boxes[:, :2]).all()
        assert det["labels"].dtype == torch.long
        assert int(det["labels"].min()) >= 0 and int(det["labels"].max()) < 3
        assert (det["scores"][:-1] >= det["scores"][1:]).all()  # best first
    middle = float(out[0]["scores"].median())
    model.score_thresh = middle
    model.detections_per_img = 3
    model.nms_thresh = 0.4  # exists like the torchvision families' (DETR needs no NMS)
    with torch.no_grad():
        kept = model(images)[0]
    assert 0 < len(kept["scores"]) <= 3 and (kept["scores"] >= middle).all()
    assert model.score_thresh == middle and model.detections_per_img == 3
    assert model.nms_thresh == 0.4
    model.score_thresh = 1.01
    with torch.no_grad():
        assert all(len(d["boxes"]) == 0 for d in model(images))


@pytest.mark.parametrize("family", FAMILIES)
def test_a_saved_detector_reloads_strictly_and_predicts_the_same(
    family: str, tmp_path: Path
) -> None:
    model = _tiny(family, backbone="resnet18")
    image, target = _square()
    optimizer = torch.optim.SGD(model.parameters(), lr=1e-2)
    model.train()
    loss = sum(model([image], [target]).values())
    assert isinstance(loss, torch.Tensor)
    loss.backward()
    optimizer.step()
    path = tmp_path / "model.safetensors"
    save_file({k: v.detach().contiguous() for k, v in model.state_dict().items()}, str(path))
    assert model.options == {"backbone": "resnet18", **TINY, "auxiliary_loss": True}
    again = create_detector(family, num_classes=3, img_size=64, **model.options)
    again.load_state_dict(load_file(str(path)), strict=True)
    model.eval().score_thresh = again.eval().score_thresh = 0.0
    with torch.no_grad():
        a, b = model([image]), again([image])
    for key in ("boxes", "scores", "labels"):
        torch.testing.assert_close(a[0][key], b[0][key])


def test_backbone_and_head_parameters_split_the_detector() -> None:
    model = _tiny("detr")
    backbone = {id(p) for p in model.backbone_parameters()}
    head = {id(p) for p in model.head_parameters()}
    assert backbone and head and not backbone & head
    assert backbone | head == {id(p) for p in model.parameters()}
    assert id(_net(model).model.input_projection.weight) in head
    model.freeze_backbone()
    assert not any(p.requires_grad for p in model.backbone_parameters())
    assert all(p.requires_grad for p in model.head_parameters())


def test_pretrained_lite0_backbone_loads_and_keeps_its_statistics() -> None:
    from imgrec.models.pretrained_lite import lite0_weights_path

    state = torch.load(lite0_weights_path(), map_location="cpu", weights_only=True)
    model = _tiny("conditional_detr", backbone="efficientnet_lite0", pretrained=True)
    body: Any = _net(model).model.backbone.model
    assert torch.equal(body.conv_stem.weight, state["_conv_stem.weight"])
    assert "pretrained" not in model.options  # a saved detector reloads from its own file
    running = body.bn1.running_mean.clone()
    model.train()
    image, target = _square()
    model([image], [target])
    assert torch.equal(body.bn1.running_mean, running)


def test_bad_backbones_and_options_are_clear_model_errors() -> None:
    with pytest.raises(ModelError, match="unknown backbone 'vgg16' for detr") as info:
        create_detector("detr", num_classes=2, backbone="vgg16")
    assert "efficientnet_lite0" in str(info.value)
    with pytest.raises(ModelError, match="no offline ImageNet weights"):
        create_detector("detr", num_classes=2, backbone="resnet50", pretrained=True)
    with pytest.raises(ModelError, match="num_queries must be a positive whole number"):
        create_detector("detr", num_classes=2, num_queries=0)
    with pytest.raises(ModelError, match="divisible by attention_heads"):
        create_detector("detr", num_classes=2, d_model=30, attention_heads=4)
    with pytest.raises(ModelError, match="for detr and conditional_detr only"):
        create_detector("fcos", num_classes=2, num_queries=10)
    with pytest.raises(ModelError, match="Did you mean 'detr'"):
        create_detector("dert", num_classes=2)


def test_a_detr_run_trains_through_the_api_and_reloads(tmp_path: Path) -> None:
    from imgrec import api
    from imgrec.data.detection import write_shapes_detection
    from imgrec.engine.detect_predictor import DetectionPredictor

    data = write_shapes_detection(tmp_path / "d", n=12, img_size=64, seed=1)
    options: dict[str, Any] = {"model.options": {**TINY, "backbone": "mobilenet_v3_small"}}
    result = api.train(
        data, task="detect", model="detr", epochs=1, img_size=64, batch_size=4,
        out=str(tmp_path / "runs"), show_progress=False, db=f"sqlite:///{tmp_path / 'r.db'}",
        **options,
    )  # fmt: skip
    assert result.primary_metric == "map"
    score = result.score("map")
    assert score is not None and 0.0 <= score <= 1.0
    predictor = DetectionPredictor.from_run_dir(result.run_dir, device="cpu")
    [found] = predictor.predict([next((data / "images" / "train").glob("*.png"))], conf=0.0)
    assert found.error is None


@pytest.mark.parametrize("family", ["detr", "conditional_detr"])
def test_explaining_a_query_detector_is_a_clear_error(family: str) -> None:
    from imgrec.errors import ConfigError
    from imgrec.explain.detections import check_detection_method

    with pytest.raises(
        ConfigError, match=f"a {family} detector cannot be explained.*--save-images"
    ):
        check_detection_method("eigencam", family)
