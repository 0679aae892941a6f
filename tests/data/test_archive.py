"""Safe zip extraction: what is written, what is skipped, how refusals look."""

from __future__ import annotations

import zipfile
from pathlib import Path

import pytest

from imgrec.data import archive
from imgrec.data.archive import extract_zip, extraction_dir, sha256_file
from imgrec.errors import DatasetError, UnsafeArchiveError
from tests.data.corpus import image_bytes, write_zip, zip_bomb


def test_extracts_files_and_skips_os_metadata(tmp_path: Path) -> None:
    data = image_bytes(seed=1)
    zpath = write_zip(
        tmp_path / "d.zip",
        [
            ("ds/cat/a.png", data),
            ("ds/dog/", b""),
            ("ds\\dog\\b.png", data),  # Windows zippers write backslashes
            ("__MACOSX/ds/cat/._a.png", b"junk"),
            ("ds/.DS_Store", b"junk"),
            ("ds/cat/.ipynb_checkpoints/a-checkpoint.png", data),
            ("ds/Thumbs.db", b"junk"),
        ],
    )
    target = extract_zip(zpath, tmp_path / "out")
    files = sorted(p.relative_to(target).as_posix() for p in target.rglob("*") if p.is_file())
    assert files == ["ds/cat/a.png", "ds/dog/b.png"]
    assert (target / "ds" / "cat" / "a.png").read_bytes() == data
    assert sorted(p.name for p in tmp_path.iterdir()) == ["d.zip", "out"]  # no temp dir left


def test_extraction_dir_is_stable_and_content_addressed(tmp_path: Path) -> None:
    a = write_zip(tmp_path / "My Data!.zip", [("x/a.png", image_bytes(seed=1))])
    first = extraction_dir(a, tmp_path / "root")
    assert first == extraction_dir(a, tmp_path / "root")
    assert first.parent == tmp_path / "root"
    assert first.name == f"My_Data-{sha256_file(a)[:16]}"
    b = write_zip(tmp_path / "b" / "My Data!.zip", [("x/a.png", image_bytes(seed=2))])
    assert extraction_dir(b, tmp_path / "root") != first


@pytest.mark.parametrize(
    ("entry", "why"),
    [
        ("../evil.png", "'..'"),
        ("cat/../../evil.png", "'..'"),
        ("..\\evil.png", "'..'"),
        ("/abs/evil.png", "absolute path"),
        ("\\abs\\evil.png", "absolute path"),
        ("C:/evil.png", "drive letter"),
        ("c:\\evil.png", "drive letter"),
    ],
)
def test_refuses_entries_that_escape(tmp_path: Path, entry: str, why: str) -> None:
    zpath = write_zip(tmp_path / "z" / "evil.zip", [("cat/a.png", b"x"), (entry, b"x")])
    before = sorted(tmp_path.rglob("*"))
    with pytest.raises(UnsafeArchiveError) as info:
        extract_zip(zpath, tmp_path / "out")
    message = str(info.value)
    assert str(zpath) in message and repr(entry) in message and why in message
    assert "Re-create the zip" in message
    assert sorted(tmp_path.rglob("*")) == before


def test_refuses_symlink_entries(tmp_path: Path) -> None:
    from tests.data.corpus import symlink_zip

    zpath = symlink_zip(tmp_path / "link.zip")
    with pytest.raises(UnsafeArchiveError, match="symbolic link"):
        extract_zip(zpath, tmp_path / "out")
    assert not (tmp_path / "out").exists()


def test_caps_count_size_and_ratio_before_writing(tmp_path: Path) -> None:
    files = [(f"c/{i}.png", image_bytes(seed=i)) for i in range(5)]
    zpath = write_zip(tmp_path / "many.zip", files)
    with pytest.raises(UnsafeArchiveError, match="more than 4 files"):
        extract_zip(zpath, tmp_path / "out", max_files=4)
    total = sum(len(d) for _, d in files)
    with pytest.raises(UnsafeArchiveError, match="total uncompressed size"):
        extract_zip(zpath, tmp_path / "out", max_total_bytes=total - 1)
    assert extract_zip(zpath, tmp_path / "out", max_files=5, max_total_bytes=total).is_dir()

    bomb = zip_bomb(tmp_path / "bomb.zip", size=2 * 1024**2)
    with pytest.raises(UnsafeArchiveError, match="compression ratio above 200"):
        extract_zip(bomb, tmp_path / "out2")
    assert not (tmp_path / "out2").exists()


def test_small_highly_compressible_entries_are_fine(tmp_path: Path) -> None:
    zpath = write_zip(tmp_path / "flat.zip", [("c/white.bmp", bytes(200_000))])
    assert (extract_zip(zpath, tmp_path / "out") / "c" / "white.bmp").stat().st_size == 200_000


def test_streaming_caps_hold_when_the_declared_sizes_pass(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The byte count while writing stops a bomb even if the up-front check were fooled."""
    monkeypatch.setattr(archive, "_plan", _plan_without_caps)
    bomb = zip_bomb(tmp_path / "bomb.zip", size=3 * 1024**2)
    with pytest.raises(UnsafeArchiveError, match="while extracting"):
        extract_zip(bomb, tmp_path / "out", max_total_bytes=1024**2, max_ratio=1e9)
    with pytest.raises(UnsafeArchiveError, match="compression ratio"):
        extract_zip(bomb, tmp_path / "out", max_ratio=10)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["bomb.zip"]


def _plan_without_caps(arch: Path, zf: zipfile.ZipFile, **_: object) -> list:
    return [(i, tuple(i.filename.split("/"))) for i in zf.infolist()]


def test_not_a_zip_and_corrupt_zip_are_dataset_errors(tmp_path: Path) -> None:
    text = tmp_path / "notes.zip"
    text.write_text("hello")
    with pytest.raises(DatasetError, match="not a valid zip"):
        extract_zip(text, tmp_path / "out")
    good = write_zip(tmp_path / "good.zip", [("c/a.png", image_bytes(seed=3))])
    data = bytearray(good.read_bytes())
    start = data.index(b"PK\x03\x04") + 30 + len("c/a.png")
    data[start : start + 20] = b"\x00" * 20  # damage the compressed stream
    bad = tmp_path / "bad.zip"
    bad.write_bytes(bytes(data))
    with pytest.raises(DatasetError) as info:
        extract_zip(bad, tmp_path / "out")
    assert not isinstance(info.value, UnsafeArchiveError)
    assert str(bad) in str(info.value)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["bad.zip", "good.zip", "notes.zip"]


def test_refuses_a_non_empty_target(tmp_path: Path) -> None:
    zpath = write_zip(tmp_path / "a.zip", [("c/a.png", b"x")])
    (tmp_path / "out").mkdir()
    (tmp_path / "out" / "keep.txt").write_text("mine")
    with pytest.raises(DatasetError, match="not empty"):
        extract_zip(zpath, tmp_path / "out")
    assert (tmp_path / "out" / "keep.txt").read_text() == "mine"
    (tmp_path / "out" / "keep.txt").unlink()
    assert (extract_zip(zpath, tmp_path / "out") / "c" / "a.png").read_bytes() == b"x"


def test_public_names() -> None:
    assert set(archive.__all__) <= set(dir(archive))
