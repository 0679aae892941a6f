"""Every heatmap method on a CNN, a ResNet and a ViT from the registry: shapes, ranges, errors."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from imgrec.errors import ConfigError, ModelError
from imgrec.explain.heatmaps import METHODS, check_method, compute_heatmaps, unit_scale
from imgrec.explain.layers import find_layer, spatial_transform
from imgrec.models.base import ImageClassifier
from imgrec.models.card import Preprocessing
from imgrec.models.registry import create_model

FAST_OPTIONS = {"lime": {"num_samples": 60, "n_segments": 20}, "occlusion": {"window": 8}}


def _heat(
    model: ImageClassifier, pixels: np.ndarray, pre: Preprocessing, method: str, **kwargs: object
) -> np.ndarray:
    return compute_heatmaps(
        model,
        pixels,
        [0, 1],
        preprocessing=pre,
        method=method,
        options=FAST_OPTIONS.get(method),
        **kwargs,  # type: ignore[arg-type]
    )


@pytest.mark.parametrize("method", [m for m in METHODS if m != "cam"])
def test_every_method_gives_unit_maps_at_input_size(
    tiny_model: ImageClassifier, tiny_pixels: np.ndarray, tiny_pre: Preprocessing, method: str
) -> None:
    maps = _heat(tiny_model, tiny_pixels, tiny_pre, method)
    assert maps.shape == (2, 32, 32)
    assert maps.dtype == np.float32
    assert np.isfinite(maps).all()
    assert maps.min() >= 0.0 and maps.max() <= 1.0
    # Each map is scaled so that its peak is exactly 1, or is all zero when the method found no
    # positive evidence (LIME on an untrained model can); on these images some map has evidence.
    peaks = maps.reshape(2, -1).max(axis=1)
    assert all(p == pytest.approx(1.0) or p == 0.0 for p in peaks)
    assert peaks.max() == pytest.approx(1.0)
    assert not tiny_model.training  # the mode is restored


def test_cam_equals_gradcam_for_global_pooling_and_linear(
    tiny_pixels: np.ndarray, tiny_pre: Preprocessing
) -> None:
    # For GAP + linear, Grad-CAM's channel weights are the classifier row / (h*w): the same map.
    torch.manual_seed(0)
    model = create_model("resnet18", num_classes=4, img_size=32).eval()
    cam = _heat(model, tiny_pixels, tiny_pre, "cam")
    grad = _heat(model, tiny_pixels, tiny_pre, "gradcam")
    assert cam.shape == (2, 32, 32)
    assert np.abs(cam - grad).max() < 0.05
    assert np.corrcoef(cam.ravel(), grad.ravel())[0, 1] > 0.99


@pytest.mark.parametrize("name", ["simple_cnn", "vit_tiny"])
def test_cam_refuses_a_model_without_global_pooling_head(
    name: str, tiny_pixels: np.ndarray, tiny_pre: Preprocessing
) -> None:
    model = create_model(
        name, num_classes=4, img_size=32, **({"depth": 1} if "vit" in name else {})
    )
    with pytest.raises(ModelError, match="global average pooling"):
        _heat(model, tiny_pixels, tiny_pre, "cam")


def test_vit_tokens_are_laid_out_on_the_patch_grid() -> None:
    model = create_model("vit_tiny", num_classes=4, img_size=32, depth=1).eval()
    name, module = find_layer(model, None)
    assert name == "model.blocks.0.norm1"
    transform = spatial_transform(model, module, (32, 32))
    assert transform is not None
    tokens = torch.arange(2 * 65 * 3, dtype=torch.float32).reshape(2, 65, 3)  # cls + 8x8 patches
    grid = transform(tokens)
    assert grid.shape == (2, 3, 8, 8)
    # Patch token 1 (the first after the class token) is the top-left cell; row-major after it.
    assert torch.equal(grid[:, :, 0, 0], tokens[:, 1, :])
    assert torch.equal(grid[:, :, 1, 0], tokens[:, 1 + 8, :])


def test_layer_override_is_used(tiny_pixels: np.ndarray, tiny_pre: Preprocessing) -> None:
    torch.manual_seed(0)
    model = create_model("simple_cnn", num_classes=4, img_size=32, width=8).eval()
    default = _heat(model, tiny_pixels, tiny_pre, "gradcam")
    early = _heat(model, tiny_pixels, tiny_pre, "gradcam", layer="stages.0.5")
    assert early.shape == default.shape
    assert not np.allclose(early, default)


def test_unknown_layer_names_the_closest_ones(
    tiny_pixels: np.ndarray, tiny_pre: Preprocessing
) -> None:
    model = create_model("simple_cnn", num_classes=4, img_size=32, width=8)
    with pytest.raises(ModelError, match=r"layer 'stages\.1\.9' does not exist.*stages\.1\."):
        _heat(model, tiny_pixels, tiny_pre, "gradcam", layer="stages.1.9")


def test_a_layer_without_a_spatial_map_is_refused(
    tiny_pixels: np.ndarray, tiny_pre: Preprocessing
) -> None:
    model = create_model("mlp", num_classes=4, img_size=32, hidden=(16,))
    with pytest.raises(ModelError, match=r"not a spatial map.*lime / occlusion"):
        _heat(model, tiny_pixels, tiny_pre, "gradcam")
    # ...while the perturbation methods explain any model.
    for method in ("lime", "occlusion"):
        assert _heat(model, tiny_pixels, tiny_pre, method).shape == (2, 32, 32)


def test_bad_method_and_class_index(tiny_pixels: np.ndarray, tiny_pre: Preprocessing) -> None:
    model = create_model("simple_cnn", num_classes=4, img_size=32, width=8)
    with pytest.raises(ConfigError, match="Did you mean 'gradcam'"):
        check_method("gradcma")
    assert check_method("Grad-CAM++") == "gradcam++"
    with pytest.raises(ConfigError, match="class index 7 out of range for 4 classes"):
        compute_heatmaps(model, tiny_pixels, [0, 7], preprocessing=tiny_pre)
    with pytest.raises(ConfigError, match="one target each"):
        compute_heatmaps(model, tiny_pixels, [0], preprocessing=tiny_pre)


def test_occlusion_finds_the_pixels_the_model_uses(tiny_pre: Preprocessing) -> None:
    # A "model" whose class-0 logit is the brightness of the top-left 8x8 corner only, and so
    # confident (logits +-11) that its float32 probability is 1.0 even with a quarter hidden.
    class Corner(ImageClassifier):
        def __init__(self) -> None:
            super().__init__()
            self.scale = torch.nn.Parameter(torch.tensor(5.0))
            self.num_classes = 2

        def forward(self, x: torch.Tensor) -> torch.Tensor:
            corner = x[:, :, :8, :8].mean(dim=(1, 2, 3)) * self.scale
            return torch.stack([corner, -corner], dim=1)

    pixels = np.full((1, 32, 32, 3), 250, dtype=np.uint8)
    maps = compute_heatmaps(
        Corner(),
        pixels,
        [0],
        preprocessing=tiny_pre,
        method="occlusion",
        options={"window": 4, "stride": 4},
    )
    assert maps[0, :8, :8].min() == pytest.approx(1.0, abs=1e-4)
    assert maps[0, 8:, :].max() < 1e-4 and maps[0, :, 8:].max() < 1e-4  # float noise only


def test_unit_scale_keeps_zero_maps_zero() -> None:
    maps = unit_scale(np.stack([np.zeros((4, 4)), np.full((4, 4), -1.0), np.eye(4) * 3]))
    assert maps[0].max() == 0.0 and maps[1].max() == 0.0
    assert np.array_equal(maps[2], np.eye(4, dtype=np.float32))


def test_batching_does_not_change_the_maps(
    tiny_pixels: np.ndarray, tiny_pre: Preprocessing
) -> None:
    torch.manual_seed(0)
    model = create_model("simple_cnn", num_classes=4, img_size=32, width=8).eval()
    whole = compute_heatmaps(model, tiny_pixels, [2, 3], preprocessing=tiny_pre)
    one_by_one = compute_heatmaps(model, tiny_pixels, [2, 3], preprocessing=tiny_pre, batch_size=1)
    assert np.allclose(whole, one_by_one, atol=1e-5)
