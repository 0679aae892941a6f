"""Segmentation training data: a tv_tensors dataset, transforms v2 and a collate.

The image travels as ``tv_tensors.Image`` and the mask as ``tv_tensors.Mask`` through one
transforms v2 pipeline, so every crop, resize and flip moves both together (masks are resampled
nearest, never blended; photometric transforms leave them alone).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import numpy as np
import torch
from torchvision import tv_tensors
from torchvision.transforms import v2

from imgrec.data.images import load_rgb
from imgrec.data.segmentation.masks import load_mask
from imgrec.data.segmentation.model import SegmentationDataset, SegmentationImage
from imgrec.errors import DatasetError

__all__ = ["SegmentationTorchDataset", "collate_segmentation", "segmentation_transforms"]

Transform = Callable[[tv_tensors.Image, tv_tensors.Mask], tuple[Any, Any]]


def segmentation_transforms(
    img_size: int,
    *,
    train: bool,
    scale: tuple[float, float] = (0.35, 1.0),
    hflip: bool = True,
) -> v2.Transform:
    """Transforms v2 for ``(image uint8 (3, H, W), mask (H, W))`` pairs, ending in a float image.

    Train: a random crop of ``scale`` of the area (aspect 3/4..4/3) resized to ``img_size``
    square (scale jitter), horizontal flip, mild colour jitter (image only). Eval: a square
    resize to ``img_size`` (bilinear for the image, nearest for the mask). Both end with the
    image as float32 in [0, 1]; the mask keeps its dtype.
    """
    size = (img_size, img_size)
    to_float = v2.ToDtype({tv_tensors.Image: torch.float32, "others": None}, scale=True)
    if not train:
        return v2.Compose([v2.Resize(size, antialias=True), to_float])
    steps: list[v2.Transform] = [v2.RandomResizedCrop(size, scale=scale, antialias=True)]
    if hflip:
        steps.append(v2.RandomHorizontalFlip(0.5))
    steps += [v2.RandomApply([v2.ColorJitter(0.2, 0.2, 0.2, 0.02)], p=0.5), to_float]
    return v2.Compose(steps)


class SegmentationTorchDataset(torch.utils.data.Dataset[tuple[torch.Tensor, torch.Tensor]]):
    """``(image, mask)`` items of some of a dataset's images.

    Each item is the image as ``tv_tensors.Image`` float32 ``(3, H, W)`` in [0, 1] and its mask
    as ``tv_tensors.Mask`` int64 ``(H, W)`` of class indices and ``dataset.ignore_index``, after
    ``transform`` (called on the uint8 image and the mask; see :func:`segmentation_transforms`).

    Args:
        images: The images to serve (e.g. ``dataset.by_split("train")``).
        dataset: Their dataset (classes and mask rules).
        transform: A transforms v2 pipeline taking ``(image, mask)``, or ``None``.
    """

    def __init__(
        self,
        images: Sequence[SegmentationImage],
        dataset: SegmentationDataset,
        transform: Transform | None = None,
    ) -> None:
        self.images = list(images)
        self.dataset = dataset
        self.transform = transform

    def __len__(self) -> int:
        return len(self.images)

    def __getitem__(self, index: int) -> tuple[torch.Tensor, torch.Tensor]:
        item = self.images[index]
        pixels = np.asarray(load_rgb(item.path))
        classes = load_mask(item, self.dataset)
        if pixels.shape[:2] != classes.shape:
            raise DatasetError(
                f"{item.mask_path}: mask is {classes.shape[1]}x{classes.shape[0]} but its image "
                f"{item.path} is {pixels.shape[1]}x{pixels.shape[0]}; read the dataset again"
            )
        image = tv_tensors.Image(torch.from_numpy(pixels.copy()).permute(2, 0, 1))
        mask = tv_tensors.Mask(torch.from_numpy(classes.astype(np.int64)))
        if self.transform is not None:
            image, mask = self.transform(image, mask)
        if not image.is_floating_point():
            image = tv_tensors.wrap(image.float().div(255), like=image)
        return image, mask


def collate_segmentation(
    batch: Sequence[tuple[torch.Tensor, torch.Tensor]],
) -> tuple[torch.Tensor, torch.Tensor]:
    """Stack items into images float ``(B, 3, H, W)`` and masks int64 ``(B, H, W)``.

    Raises:
        ValueError: the items differ in size (use a transform that resizes to one size).
    """
    sizes = {tuple(img.shape[-2:]) for img, _ in batch}
    if len(sizes) > 1:
        raise ValueError(
            f"segmentation items differ in size {sorted(sizes)}; give the dataset a transform "
            "that resizes every item to one size (segmentation_transforms)"
        )
    images = torch.stack([img.as_subclass(torch.Tensor) for img, _ in batch])
    masks = torch.stack([m.as_subclass(torch.Tensor) for _, m in batch]).long()
    return images, masks
