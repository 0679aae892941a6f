"""``resnet18``: torchvision's ResNet-18, with a CIFAR-style stem for small images."""

from __future__ import annotations

from torch import nn

from imgrec.models.base import ImageClassifier
from imgrec.models.external import TorchvisionClassifier
from imgrec.models.registry import register_model

__all__ = ["resnet18"]


@register_model
def resnet18(
    *, num_classes: int, in_chans: int = 3, img_size: int = 224, small_stem: bool | None = None
) -> ImageClassifier:
    """ResNet-18 (torchvision's structure and parameter names, under ``model.``).

    Args:
        small_stem: a 3x3 stride-1 first convolution and no max-pool, as CIFAR ResNets use, so a
            32 px image still ends at 4x4 instead of 1x1. ``None``: on for ``img_size <= 64``.
    """
    from torchvision.models.resnet import BasicBlock, ResNet

    net = ResNet(BasicBlock, [2, 2, 2, 2], num_classes=num_classes)
    small = img_size <= 64 if small_stem is None else small_stem
    if small:
        net.conv1 = nn.Conv2d(in_chans, 64, kernel_size=3, stride=1, padding=1, bias=False)
        net.maxpool = nn.Identity()
    elif in_chans != 3:
        net.conv1 = nn.Conv2d(in_chans, 64, kernel_size=7, stride=2, padding=3, bias=False)
    nn.init.kaiming_normal_(net.conv1.weight, mode="fan_out", nonlinearity="relu")
    model = TorchvisionClassifier(net)
    model.options = {"small_stem": small}
    return model
