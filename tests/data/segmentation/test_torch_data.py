"""The torch dataset and transforms keep image and mask aligned; the collate stacks."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image
from torchvision import tv_tensors
from torchvision.transforms import v2

from imgrec.data.segmentation import (
    SegmentationTorchDataset,
    collate_segmentation,
    read_segmentation,
    segmentation_transforms,
)

STEP = 60  # the image's grey level is STEP * class


def _aligned_set(root: Path) -> Path:
    """Images whose every channel equals STEP * mask: alignment is checkable pixel by pixel."""
    mask = np.zeros((24, 40), np.uint8)
    mask[:, :10] = 1
    mask[4:12, 25:33] = 2
    mask[20:, 30:] = 3
    for name, values in (("a", mask), ("b", mask[:, ::-1])):
        (root / "images").mkdir(parents=True, exist_ok=True)
        (root / "masks").mkdir(parents=True, exist_ok=True)
        grey = (values.astype(np.uint16) * STEP).astype(np.uint8)
        Image.fromarray(np.stack([grey] * 3, -1)).save(root / "images" / f"{name}.png")
        Image.fromarray(values.copy()).save(root / "masks" / f"{name}.png")
    return root


def _interior(mask: torch.Tensor, radius: int = 1) -> torch.Tensor:
    """Pixels whose neighbourhood of ``radius`` is one class (a resize blends only near edges:
    about one pixel going down in size, the zoom factor going up)."""
    m = mask.float()[None, None]
    pool = torch.nn.functional.max_pool2d
    k = 2 * radius + 1
    return (pool(m, k, 1, radius) == -pool(-m, k, 1, radius))[0, 0]


def _agreement(image: torch.Tensor, mask: torch.Tensor, *, interior: bool = False) -> float:
    """Share of pixels (``interior``: away from edges) whose grey level is STEP * class."""
    close = (image[0] - mask.float() * STEP / 255).abs() < 0.02
    return float(close[_interior(mask)].float().mean() if interior else close.float().mean())


def test_items_are_tv_tensors_and_a_flip_moves_both(tmp_path: Path) -> None:
    ds = read_segmentation(_aligned_set(tmp_path / "set"), work_dir=tmp_path / "w")
    plain = SegmentationTorchDataset(ds.images, ds)
    image, mask = plain[0]
    assert isinstance(image, tv_tensors.Image) and isinstance(mask, tv_tensors.Mask)
    assert image.dtype == torch.float32 and image.shape == (3, 24, 40)
    assert mask.dtype == torch.int64 and mask.shape == (24, 40)
    assert float(image.min()) >= 0.0 and float(image.max()) <= 1.0
    assert _agreement(image, mask) == 1.0
    flipped = SegmentationTorchDataset(ds.images, ds, v2.RandomHorizontalFlip(1.0))
    f_image, f_mask = flipped[0]
    assert torch.equal(f_mask, mask.flip(-1))
    assert _agreement(f_image, f_mask) == 1.0


def test_train_and_eval_transforms_keep_alignment(tmp_path: Path) -> None:
    ds = read_segmentation(_aligned_set(tmp_path / "set"), work_dir=tmp_path / "w")
    train = SegmentationTorchDataset(ds.images, ds, segmentation_transforms(32, train=True))
    torch.manual_seed(0)
    for i in range(8):
        image, mask = train[i % 2]
        assert image.shape == (3, 32, 32) and mask.shape == (32, 32)
        assert mask.dtype == torch.int64
        assert set(mask.unique().tolist()) <= {0, 1, 2, 3}  # nearest: no blended classes
        # Colour jitter shifts the grey levels of the whole image alike: inside each class
        # region the image stays flat, and brighter for a higher class, when both moved alike.
        inside = _interior(mask, radius=4)  # crops are zoomed in by up to about 3
        levels = []
        for c in mask.unique().tolist():
            values = image[0][inside & (mask == c)]
            if len(values):
                assert float(values.max() - values.min()) < 0.02
                levels.append(float(values.mean()))
        assert levels == sorted(levels)
    evaluate = SegmentationTorchDataset(ds.images, ds, segmentation_transforms(16, train=False))
    image, mask = evaluate[0]
    assert image.shape == (3, 16, 16) and _agreement(image, mask, interior=True) == 1.0


def test_collate_stacks_and_refuses_mixed_sizes(tmp_path: Path) -> None:
    ds = read_segmentation(_aligned_set(tmp_path / "set"), work_dir=tmp_path / "w")
    items = SegmentationTorchDataset(ds.images, ds, segmentation_transforms(16, train=False))
    images, masks = collate_segmentation([items[0], items[1]])
    assert images.shape == (2, 3, 16, 16) and images.dtype == torch.float32
    assert masks.shape == (2, 16, 16) and masks.dtype == torch.int64
    raw = SegmentationTorchDataset(ds.images, ds)
    with pytest.raises(ValueError, match="differ in size"):
        collate_segmentation([items[0], raw[0]])
