"""The decoded-image cache: order, shapes, hits across calls, keys, corruption and clearing."""

from __future__ import annotations

import hashlib
import threading
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from imgrec.data import cache, images
from imgrec.data.cache import cache_key, cache_size_bytes, clear_cache, decode_to_array
from imgrec.data.manifest import Sample
from imgrec.errors import DatasetError


def colour(i: int) -> tuple[int, int, int]:
    return (3 * i % 256, (255 - 3 * i) % 256, 7)


def make_samples(folder: Path, n: int = 5, *, size: tuple[int, int] = (20, 12)) -> list[Sample]:
    """``n`` PNGs of ``size`` = (W, H), each a flat colour so decoded pixels are predictable."""
    folder.mkdir(parents=True, exist_ok=True)
    samples = []
    for i in range(n):
        path = folder / f"img{i}.png"
        Image.new("RGB", size, colour(i)).save(path)
        digest = hashlib.sha256(path.read_bytes()).hexdigest()
        samples.append(Sample(path, i % 2, "train", digest, size[0], size[1], "RGB"))
    return samples


def count_decodes(monkeypatch: pytest.MonkeyPatch) -> list[Path]:
    seen: list[Path] = []
    lock = threading.Lock()
    real = images.load_rgb

    def counting(path: str | Path) -> Image.Image:
        with lock:
            seen.append(Path(path))
        return real(path)

    monkeypatch.setattr(images, "load_rgb", counting)
    return seen


def test_decodes_in_sample_order_without_cache(tmp_path: Path) -> None:
    samples = make_samples(tmp_path / "imgs", 70)  # more than one decode chunk
    arr = decode_to_array(samples, size=(8, 6), cache_dir=None, num_threads=3)
    assert arr.shape == (70, 8, 6, 3) and arr.dtype == np.uint8
    for i in range(70):
        assert (arr[i].reshape(-1, 3) == colour(i)).all()


def test_resize_modes_give_requested_shape(tmp_path: Path) -> None:
    samples = make_samples(tmp_path / "imgs", 3, size=(40, 10))
    for mode in ("squash", "crop"):
        for interp in ("bilinear", "bicubic", "nearest"):
            arr = decode_to_array(
                samples, size=(16, 24), resize_mode=mode, interpolation=interp, cache_dir=None
            )
            assert arr.shape == (3, 16, 24, 3)
    with pytest.raises(ValueError, match="resize_mode"):
        decode_to_array(samples, size=(4, 4), resize_mode="pad", cache_dir=None)  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="interpolation"):
        decode_to_array(samples, size=(4, 4), interpolation="lanczos", cache_dir=None)


def test_crop_and_squash_match_resize_rgb(tmp_path: Path) -> None:
    path = tmp_path / "grad.png"
    grad = np.tile(np.arange(0, 240, 6, dtype=np.uint8), (10, 1))
    Image.fromarray(np.stack([grad] * 3, axis=-1)).save(path)
    sample = Sample(path, 0, None, hashlib.sha256(path.read_bytes()).hexdigest(), 40, 10, "RGB")
    for mode in ("squash", "crop"):
        got = decode_to_array([sample], size=(8, 8), resize_mode=mode, cache_dir=tmp_path / "c")
        want = images.resize_rgb(images.load_rgb(path), (8, 8), mode=mode)
        assert np.array_equal(got[0], want)


def test_second_call_hits_cache_without_decoding(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    samples = make_samples(tmp_path / "imgs", 6)
    cache_dir = tmp_path / "cache"
    first = np.array(decode_to_array(samples, size=(8, 8), cache_dir=cache_dir))
    assert len(list(cache_dir.glob("*.npy"))) == 1

    def refuse(path: str | Path) -> Image.Image:
        raise AssertionError(f"decoded {path} although the cache should have hit")

    monkeypatch.setattr(images, "load_rgb", refuse)
    progress: list[tuple[int, int]] = []
    second = decode_to_array(
        samples, size=(8, 8), cache_dir=cache_dir, progress=lambda d, t: progress.append((d, t))
    )
    assert isinstance(second, np.memmap) or not second.flags.writeable
    assert np.array_equal(second, first)
    assert progress == [(6, 6)]
    # the key depends on content hashes, not paths: a copy of the images elsewhere hits too
    moved = [
        Sample(tmp_path / "elsewhere" / s.path.name, s.label, s.split, s.sha256, 20, 12, "RGB")
        for s in samples
    ]
    assert np.array_equal(decode_to_array(moved, size=(8, 8), cache_dir=cache_dir), first)


def test_key_changes_with_recipe_and_order(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    samples = make_samples(tmp_path / "imgs", 3)
    base = cache_key(samples, size=(8, 8))
    assert base == cache_key(list(samples), size=(8, 8))
    others = {
        cache_key(samples, size=(8, 9)),
        cache_key(samples, size=(9, 8)),
        cache_key(samples, size=(8, 8), resize_mode="crop"),
        cache_key(samples, size=(8, 8), interpolation="nearest"),
        cache_key(samples[::-1], size=(8, 8)),
        cache_key(samples[:2], size=(8, 8)),
    }
    assert base not in others and len(others) == 6

    cache_dir = tmp_path / "cache"
    seen = count_decodes(monkeypatch)
    decode_to_array(samples, size=(8, 8), cache_dir=cache_dir)
    decode_to_array(samples, size=(10, 10), cache_dir=cache_dir)
    assert len(seen) == 6 and len(list(cache_dir.glob("*.npy"))) == 2
    reordered = decode_to_array(samples[::-1], size=(8, 8), cache_dir=cache_dir)
    assert np.array_equal(
        reordered[0], decode_to_array(samples[2:], size=(8, 8), cache_dir=None)[0]
    )


@pytest.mark.parametrize("damage", ["truncate", "garbage", "wrong-shape", "wrong-dtype", "pickle"])
def test_corrupt_cache_file_is_rebuilt(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, damage: str
) -> None:
    samples = make_samples(tmp_path / "imgs", 4)
    cache_dir = tmp_path / "cache"
    good = np.array(decode_to_array(samples, size=(8, 8), cache_dir=cache_dir))
    (path,) = cache_dir.glob("*.npy")
    if damage == "truncate":
        path.write_bytes(path.read_bytes()[:-50])
    elif damage == "garbage":
        path.write_bytes(b"\x00" * 300)
    elif damage == "wrong-shape":
        np.save(path, np.zeros((3, 8, 8, 3), np.uint8))
    elif damage == "wrong-dtype":
        np.save(path, np.zeros((4, 8, 8, 3), np.float32))
    else:
        np.save(path, np.array([{"evil": 1}], dtype=object), allow_pickle=True)
    seen = count_decodes(monkeypatch)
    rebuilt = decode_to_array(samples, size=(8, 8), cache_dir=cache_dir)
    assert len(seen) == 4
    assert np.array_equal(rebuilt, good)
    assert np.load(path, allow_pickle=False).shape == (4, 8, 8, 3)


def test_unreadable_sample_names_the_file_and_leaves_no_cache(tmp_path: Path) -> None:
    samples = make_samples(tmp_path / "imgs", 4)
    samples[2].path.write_bytes(b"no longer a png")
    cache_dir = tmp_path / "cache"
    with pytest.raises(DatasetError, match=r"img2\.png") as info:
        decode_to_array(samples, size=(8, 8), cache_dir=cache_dir)
    assert "ingest" in str(info.value)
    assert list(cache_dir.iterdir()) == []
    samples[1].path.unlink()
    with pytest.raises(DatasetError, match=r"img1\.png"):
        decode_to_array(samples[:2], size=(8, 8), cache_dir=None)


def test_empty_samples(tmp_path: Path) -> None:
    arr = decode_to_array([], size=(5, 7), cache_dir=tmp_path / "cache")
    assert arr.shape == (0, 5, 7, 3) and arr.dtype == np.uint8


def test_cache_size_and_clear(tmp_path: Path) -> None:
    cache_dir = tmp_path / "cache"
    assert cache_size_bytes(cache_dir) == 0 and clear_cache(cache_dir) == 0
    samples = make_samples(tmp_path / "imgs", 3)
    decode_to_array(samples, size=(8, 8), cache_dir=cache_dir)
    decode_to_array(samples, size=(4, 4), cache_dir=cache_dir)
    assert cache_size_bytes(cache_dir) >= 3 * (8 * 8 + 4 * 4) * 3
    (cache_dir / "README.txt").write_text("not a cache file")
    assert clear_cache(cache_dir) == 2
    assert [p.name for p in cache_dir.iterdir()] == ["README.txt"]
    assert cache_size_bytes(cache_dir) == 0


def test_progress_reaches_total(tmp_path: Path) -> None:
    samples = make_samples(tmp_path / "imgs", 130)
    calls: list[tuple[int, int]] = []
    decode_to_array(
        samples, size=(4, 4), cache_dir=None, progress=lambda d, t: calls.append((d, t))
    )
    assert calls[-1] == (130, 130)
    assert [d for d, _ in calls] == sorted(d for d, _ in calls)
    assert cache.CACHE_FORMAT_VERSION >= 1


def test_unwritable_cache_folder_is_a_dataset_error(tmp_path: Path) -> None:
    samples = make_samples(tmp_path / "imgs", 2)
    blocker = tmp_path / "cache"
    blocker.write_text("a file where the cache folder should be")
    with pytest.raises(DatasetError, match="cannot write the decoded-image cache"):
        decode_to_array(samples, size=(8, 8), cache_dir=blocker)
