"""Whole-batch loading, seeded per-epoch shuffling, balanced sampling, batch augmentation."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from imgrec.data.augment import BatchPreprocess, make_mixing, normalize, sample_policy
from imgrec.data.loaders import ArrayDataset, BalancedSampler, EpochShuffleSampler, make_loader


def _arrays(n: int = 10, size: int = 8) -> tuple[np.ndarray, np.ndarray]:
    images = np.arange(n * size * size * 3, dtype=np.int64).reshape(n, size, size, 3) % 251
    return images.astype(np.uint8), np.arange(n) % 2


def test_getitems_returns_a_channels_last_uint8_batch() -> None:
    images, labels = _arrays()
    batch, targets = ArrayDataset(images, labels).__getitems__([3, 1])
    assert batch.shape == (2, 3, 8, 8) and batch.dtype == torch.uint8
    assert batch.is_contiguous(memory_format=torch.channels_last)
    assert torch.equal(batch[0], torch.from_numpy(images[3]).permute(2, 0, 1))
    assert targets.tolist() == [1, 1]


def test_dataset_rejects_bad_arrays() -> None:
    images, labels = _arrays()
    with pytest.raises(ValueError, match="uint8"):
        ArrayDataset(images.astype(np.float32), labels)
    with pytest.raises(ValueError, match="labels"):
        ArrayDataset(images, labels[:3])


def test_loader_covers_every_sample_once_per_epoch_in_a_seeded_order() -> None:
    images, labels = _arrays(n=20)
    loader = make_loader(ArrayDataset(images, labels), batch_size=5, train=True, seed=3)
    first = torch.cat([b[0][:, 0, 0, 0] for b in loader])
    again = torch.cat([b[0][:, 0, 0, 0] for b in loader])
    assert torch.equal(first, again)  # same epoch number -> same order
    assert sorted(first.tolist()) == sorted(torch.from_numpy(images[:, 0, 0, 0]).tolist())
    loader.sampler.set_epoch(1)  # type: ignore[union-attr]
    other = torch.cat([b[0][:, 0, 0, 0] for b in loader])
    assert not torch.equal(first, other)


def test_creating_iterators_does_not_touch_the_global_rng() -> None:
    images, labels = _arrays()
    loader = make_loader(ArrayDataset(images, labels), batch_size=4, train=True)
    state = torch.get_rng_state()
    list(loader)
    assert torch.equal(state, torch.get_rng_state())


def test_epoch_sampler_depends_on_seed_and_epoch_only() -> None:
    a, b = EpochShuffleSampler(50, seed=1), EpochShuffleSampler(50, seed=1)
    assert list(a) == list(b)
    b.set_epoch(2)
    assert list(a) != list(b)


def test_balanced_sampler_draws_classes_equally() -> None:
    labels = np.array([0] * 90 + [1] * 10)
    sampler = BalancedSampler(labels, seed=0)
    drawn = labels[list(sampler)]
    assert 0.35 < drawn.mean() < 0.65


def test_normalize_matches_the_formula() -> None:
    images = torch.randint(0, 256, (2, 3, 4, 4), dtype=torch.uint8)
    out = normalize(images, (0.5, 0.4, 0.3), (0.2, 0.2, 0.2), dtype=torch.float32)
    expected = (images.float() / 255 - torch.tensor([0.5, 0.4, 0.3]).view(1, 3, 1, 1)) / 0.2
    torch.testing.assert_close(out, expected)


def test_batch_augmentation_is_per_sample_and_off_in_eval() -> None:
    pre = BatchPreprocess((0.5,) * 3, (0.5,) * 3)
    image = torch.randint(0, 256, (1, 3, 16, 16), dtype=torch.uint8).repeat(8, 1, 1, 1)
    plain = pre(image, augment=False)
    torch.testing.assert_close(plain, normalize(image, (0.5,) * 3, (0.5,) * 3, dtype=torch.float32))
    augmented = pre(image, augment=True)
    assert augmented.shape == plain.shape
    distinct = {tuple(a.flatten()[:20].tolist()) for a in augmented}
    assert len(distinct) > 1  # each sample got its own transform


def test_mixing_gives_soft_labels_and_policies_exist() -> None:
    mix = make_mixing(4, mixup=0.4, cutmix=1.0)
    assert mix is not None
    _, labels = mix(torch.rand(6, 3, 8, 8), torch.tensor([0, 1, 2, 3, 0, 1]))
    assert labels.shape == (6, 4)
    torch.testing.assert_close(labels.sum(dim=1), torch.ones(6))
    assert make_mixing(4, mixup=0.0, cutmix=0.0) is None
    policy = sample_policy("randaugment")
    assert policy is not None
    out = policy(torch.randint(0, 256, (3, 16, 16), dtype=torch.uint8))
    assert out.shape == (3, 16, 16) and out.dtype == torch.uint8
    assert sample_policy("light") is None
