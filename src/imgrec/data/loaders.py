"""Datasets and loaders over decoded uint8 arrays.

Images arrive as one uint8 array ``(N, H, W, 3)`` from the decoded cache. A batch is fetched in
one fancy-indexing call (``__getitems__``) and handed over as a uint8 tensor in channels-last
layout ``(B, 3, H, W)``; conversion to float, normalisation and augmentation happen per batch on
the training device (see :mod:`imgrec.data.augment`), which is what makes epochs cheap.
Shuffling is seeded per epoch so that a resumed run sees exactly the same order.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from typing import Any

import numpy as np
import torch
from torch.utils.data import DataLoader, Dataset, Sampler

__all__ = ["ArrayDataset", "BalancedSampler", "EpochShuffleSampler", "make_loader"]

SampleTransform = Callable[[torch.Tensor], torch.Tensor]


class ArrayDataset(Dataset[tuple[torch.Tensor, int]]):
    """Images ``(N, H, W, 3)`` uint8 and integer labels ``(N,)``.

    Args:
        images: Decoded images (a numpy array or memory map).
        labels: Class index per image.
        sample_transform: Optional per-image transform on a uint8 ``(3, H, W)`` tensor (e.g.
            torchvision's RandAugment); when set, images are transformed one by one.
    """

    def __init__(
        self,
        images: np.ndarray,
        labels: Sequence[int] | np.ndarray,
        *,
        sample_transform: SampleTransform | None = None,
    ) -> None:
        if images.ndim != 4 or images.shape[-1] != 3 or images.dtype != np.uint8:
            raise ValueError(
                f"images must be uint8 (N, H, W, 3), got {images.dtype} {images.shape}"
            )
        self.images = images
        self.labels = torch.as_tensor(np.asarray(labels, dtype=np.int64))
        if len(self.labels) != len(images):
            raise ValueError(f"{len(images)} images but {len(self.labels)} labels")
        self.sample_transform = sample_transform

    def __len__(self) -> int:
        return len(self.images)

    def __getitem__(self, index: int) -> tuple[torch.Tensor, int]:
        image = torch.from_numpy(np.array(self.images[index])).permute(2, 0, 1)
        if self.sample_transform is not None:
            image = self.sample_transform(image)
        return image, int(self.labels[index])

    def __getitems__(self, indices: Sequence[int]) -> tuple[torch.Tensor, torch.Tensor]:
        """Fetch a whole batch at once: ``(B, 3, H, W)`` uint8 (channels-last) and ``(B,)``."""
        index = np.asarray(indices, dtype=np.int64)
        batch = torch.from_numpy(np.ascontiguousarray(self.images[index])).permute(0, 3, 1, 2)
        if self.sample_transform is not None:
            batch = torch.stack([self.sample_transform(img) for img in batch]).contiguous(
                memory_format=torch.channels_last
            )
        return batch, self.labels[torch.from_numpy(index)]


def _keep_batch(batch: Any) -> Any:
    """Collate for ``__getitems__``: the dataset already returned a stacked batch."""
    return batch


class EpochShuffleSampler(Sampler[int]):
    """A random permutation per epoch, derived from ``seed`` and the epoch number only."""

    def __init__(self, size: int, *, seed: int) -> None:
        self.size = size
        self.seed = seed
        self.epoch = 0

    def set_epoch(self, epoch: int) -> None:
        self.epoch = epoch

    def __len__(self) -> int:
        return self.size

    def __iter__(self) -> Iterator[int]:
        generator = torch.Generator().manual_seed(self.seed * 100_003 + self.epoch)
        return iter(torch.randperm(self.size, generator=generator).tolist())


class BalancedSampler(EpochShuffleSampler):
    """Draws classes equally often (with replacement), ``size`` samples per epoch."""

    def __init__(self, labels: Sequence[int] | np.ndarray, *, seed: int) -> None:
        labels_arr = np.asarray(labels, dtype=np.int64)
        super().__init__(len(labels_arr), seed=seed)
        counts = np.bincount(labels_arr)
        self.weights = torch.as_tensor(1.0 / counts[labels_arr], dtype=torch.float64)

    def __iter__(self) -> Iterator[int]:
        generator = torch.Generator().manual_seed(self.seed * 100_003 + self.epoch)
        draws = torch.multinomial(self.weights, self.size, replacement=True, generator=generator)
        return iter(draws.tolist())


def make_loader(
    dataset: ArrayDataset,
    *,
    batch_size: int,
    train: bool,
    seed: int = 0,
    balanced: bool = False,
    num_workers: int = 0,
    pin_memory: bool = False,
) -> DataLoader[Any]:
    """A DataLoader that fetches whole batches; seeded shuffling when ``train``."""
    sampler: Sampler[int] | None = None
    if train:
        sampler = (
            BalancedSampler(dataset.labels.numpy(), seed=seed)
            if balanced
            else EpochShuffleSampler(len(dataset), seed=seed)
        )
    return DataLoader(
        dataset,
        batch_size=batch_size,
        sampler=sampler,
        shuffle=False,
        # Dropping the ragged last batch only pays on large sets; on small ones (and per DDP rank)
        # it could drop everything. The task skips a lone size-1 batch instead.
        drop_last=train and len(dataset) >= 16 * batch_size,
        num_workers=num_workers,
        collate_fn=_keep_batch,
        pin_memory=pin_memory,
        persistent_workers=num_workers > 0,
        # Own generator: creating an iterator must not consume the global RNG (exact resume).
        generator=torch.Generator().manual_seed(seed),
    )
