"""Batch preprocessing and augmentation on the training device.

The loader hands over uint8 ``(B, 3, H, W)``; :class:`BatchPreprocess` turns it into normalised
floats and, in training, applies a per-sample random affine (scale, translation, horizontal flip)
in one ``grid_sample`` call, so augmentation costs one vectorised op per batch instead of a PIL
call per image. Per-image policies (RandAugment, TrivialAugment) run on uint8 in the dataset via
:func:`sample_policy`. Mixup/CutMix come from torchvision's batch transforms.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import torch
import torch.nn.functional as F
from torch import nn
from torchvision.transforms import v2

__all__ = ["BatchPreprocess", "make_mixing", "normalize", "sample_policy"]


def normalize(
    images: torch.Tensor, mean: Sequence[float], std: Sequence[float], *, dtype: torch.dtype
) -> torch.Tensor:
    """uint8 ``(B, 3, H, W)`` -> normalised float ``(B, 3, H, W)`` keeping the memory format."""
    mean_t = torch.tensor(mean, device=images.device, dtype=dtype).view(1, -1, 1, 1) * 255.0
    inv_std = 1.0 / (torch.tensor(std, device=images.device, dtype=dtype).view(1, -1, 1, 1) * 255.0)
    return (images.to(dtype) - mean_t) * inv_std


class BatchPreprocess(nn.Module):
    """Normalise a uint8 batch and (when ``augment``) apply random scale/shift/flip per sample.

    Args:
        mean: Per-channel mean in [0, 1].
        std: Per-channel std in [0, 1].
        scale: Zoom range; each image is zoomed by a factor drawn from it (1 = no zoom).
        translate: Maximum shift as a fraction of the image side.
        hflip: Flip half of the images horizontally.
    """

    def __init__(
        self,
        mean: Sequence[float],
        std: Sequence[float],
        *,
        scale: tuple[float, float] = (1.0, 1.15),
        translate: float = 0.1,
        hflip: bool = True,
    ) -> None:
        super().__init__()
        self.mean = tuple(mean)
        self.std = tuple(std)
        self.scale = scale
        self.translate = translate
        self.hflip = hflip

    def forward(self, images: torch.Tensor, *, augment: bool) -> torch.Tensor:
        x = normalize(images, self.mean, self.std, dtype=torch.float32)
        if not augment:
            return x
        B = x.shape[0]
        device = x.device
        zoom = torch.empty(B, device=device).uniform_(*self.scale)
        flip = (
            torch.where(torch.rand(B, device=device) < 0.5, -1.0, 1.0)
            if self.hflip
            else torch.ones(B, device=device)
        )
        shift = torch.empty(B, 2, device=device).uniform_(-self.translate, self.translate) * 2
        theta = torch.zeros(B, 2, 3, device=device)
        theta[:, 0, 0] = flip / zoom
        theta[:, 1, 1] = 1.0 / zoom
        theta[:, :, 2] = shift
        grid = F.affine_grid(theta, list(x.shape), align_corners=False)
        # Border padding keeps edge statistics instead of inventing black frames.
        return F.grid_sample(x, grid, mode="bilinear", padding_mode="border", align_corners=False)


def sample_policy(name: str) -> Callable[[torch.Tensor], torch.Tensor] | None:
    """Per-image uint8 augmentation policy for the dataset, or None."""
    if name == "randaugment":
        return v2.RandAugment()
    if name == "trivialaugment":
        return v2.TrivialAugmentWide()
    return None


def make_mixing(
    num_classes: int, *, mixup: float, cutmix: float
) -> Callable[[torch.Tensor, torch.Tensor], tuple[torch.Tensor, torch.Tensor]] | None:
    """Mixup and/or CutMix (torchvision v2) over a float batch; labels become soft ``(B, K)``."""
    options: list[nn.Module] = []
    if mixup > 0:
        options.append(v2.MixUp(alpha=mixup, num_classes=num_classes))
    if cutmix > 0:
        options.append(v2.CutMix(alpha=cutmix, num_classes=num_classes))
    if not options:
        return None
    chooser = options[0] if len(options) == 1 else v2.RandomChoice(options)

    def mix(images: torch.Tensor, labels: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        mixed_images, mixed_labels = chooser(images, labels)
        return mixed_images, mixed_labels

    return mix
