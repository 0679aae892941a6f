"""Run files get ordinary permissions (the umask decides), and atomic writes stay atomic."""

from __future__ import annotations

import os
import stat
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from imgrec._files import atomic_path, atomic_write_text, make_temp_dir

pytestmark = pytest.mark.skipif(os.name != "posix", reason="POSIX permission bits")


@pytest.fixture
def umask() -> Iterator[Callable[[int], int]]:
    """Call ``umask(value)`` to set the process umask; the old one comes back afterwards."""
    old = os.umask(0o022)
    try:
        yield os.umask
    finally:
        os.umask(old)


def _mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def _wrong_modes(mask: int, *roots: Path) -> dict[str, str]:
    """Paths under ``roots`` whose mode is not what a plain ``open()``/``mkdir`` would give."""
    wrong = {}
    for root in roots:
        for path in sorted(root.rglob("*")):
            expected = (0o777 if path.is_dir() else 0o666) & ~mask
            if _mode(path) != expected:
                wrong[str(path)] = oct(_mode(path))
    return wrong


@pytest.mark.parametrize("mask", [0o022, 0o027, 0o077], ids=oct)
def test_atomic_writes_honour_the_umask(
    umask: Callable[[int], int], tmp_path: Path, mask: int
) -> None:
    umask(mask)
    text = atomic_write_text(tmp_path / "a" / "metrics.json", "{}\n")
    with atomic_path(tmp_path / "model.safetensors") as tmp:
        # what safetensors' save_file does: a fresh file readable by its owner only
        tmp.unlink()
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        os.write(fd, b"weights")
        os.close(fd)
    folder = make_temp_dir(tmp_path, prefix="shapes.tmp-")
    assert _mode(text) == 0o666 & ~mask
    assert _mode(tmp_path / "model.safetensors") == 0o666 & ~mask
    assert _mode(folder) == 0o777 & ~mask
    assert (tmp_path / "model.safetensors").read_bytes() == b"weights"
    assert folder.name.startswith("shapes.tmp-") and not any(folder.iterdir())


def test_a_failed_write_leaves_the_old_file_and_no_temporary(tmp_path: Path) -> None:
    target = tmp_path / "card.json"
    atomic_write_text(target, "old\n")
    with pytest.raises(RuntimeError, match="disk full"), atomic_path(target) as tmp:
        tmp.write_text("half a fi")
        raise RuntimeError("disk full")
    assert target.read_text() == "old\n"
    assert [p.name for p in tmp_path.iterdir()] == ["card.json"]
    with pytest.raises(RuntimeError), atomic_path(tmp_path / "new.json") as tmp:
        raise RuntimeError("before any byte")
    assert [p.name for p in tmp_path.iterdir()] == ["card.json"]


def test_the_temporary_is_hidden_beside_the_target_and_unique(tmp_path: Path) -> None:
    with atomic_path(tmp_path / "last.ckpt") as one, atomic_path(tmp_path / "last.ckpt") as two:
        assert one != two and one.parent == two.parent == tmp_path
        assert one.name.startswith(".last.ckpt.") and one.name.endswith(".tmp")
        one.write_text("1")
        two.write_text("2")
    assert (tmp_path / "last.ckpt").read_text() == "1"  # the last to finish wins, whole


def test_an_extracted_zip_is_readable_as_the_umask_allows(
    umask: Callable[[int], int], tmp_path: Path
) -> None:
    import zipfile

    from imgrec.data.archive import extract_zip

    archive = tmp_path / "pets.zip"
    with zipfile.ZipFile(archive, "w") as zf:
        zf.writestr("cat/1.png", b"not decoded here")
    umask(0o022)
    target = extract_zip(archive, tmp_path / "datasets" / "pets")
    assert _wrong_modes(0o022, target) == {}
    assert _mode(target) == 0o755


@pytest.mark.slow
@pytest.mark.parametrize("mask", [0o022, 0o077], ids=oct)
def test_a_training_run_is_readable_as_the_umask_allows(
    umask: Callable[[int], int], tmp_path: Path, mask: int
) -> None:
    """Every file a run writes (weights, checkpoints, card, metrics, data report, run.json,
    plots, CSVs), its data set, cache and database get ``0o666 & ~umask``; folders ``0o777``."""
    import imgrec
    from imgrec.data.synth import write_shapes_dataset

    umask(mask)
    home = Path(os.environ["IMGREC_HOME"])
    data = write_shapes_dataset(tmp_path / "shapes", per_class=6, img_size=16, seed=0)
    run_dir = imgrec.train(
        data,
        epochs=1,
        img_size=16,
        batch_size=8,
        out=str(tmp_path / "runs"),
        show_progress=False,
        **{"model.options.width": 4},
    ).run_dir
    written = {"model.safetensors", "card.json", "metrics.json", "data_report.json", "run.json"}
    assert written <= {p.name for p in run_dir.iterdir()}
    assert {p.name for p in (run_dir / "checkpoints").iterdir()} >= {"last.ckpt"}
    assert _wrong_modes(mask, tmp_path, home) == {}
