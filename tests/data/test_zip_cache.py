"""A zipped dataset is extracted once: a second check or read reuses the extraction, a changed
zip is extracted again, and the user's zip is never written to (nor anything beside it)."""

from __future__ import annotations

import hashlib
import os
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from imgrec.cli import app
from imgrec.data import archive
from imgrec.data.detection import read_detection, write_shapes_detection
from imgrec.data.ingest import ingest
from imgrec.data.zipcache import INDEX_DIR, extract_cached
from imgrec.errors import DatasetError
from tests.data.corpus import make_imagefolder, write_zip, zip_folder


class Spy:
    """Counts calls to a function of :mod:`imgrec.data.archive` (and still runs it)."""

    def __init__(self, monkeypatch: pytest.MonkeyPatch, name: str) -> None:
        self.calls: list[tuple[Any, ...]] = []
        real: Callable[..., Any] = getattr(archive, name)

        def spy(*args: Any, **kwargs: Any) -> Any:
            self.calls.append(args)
            return real(*args, **kwargs)

        monkeypatch.setattr(archive, name, spy)

    def on(self, path: Path) -> int:
        return sum(1 for args in self.calls if Path(args[0]) == path)


def _sha(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def _classify_zip(tmp_path: Path, *, counts: dict[str, int], seed: int = 0) -> Path:
    src = make_imagefolder(tmp_path / f"src-{seed}", counts, seed=seed)
    return zip_folder(src, tmp_path / "user" / "photos.zip", prefix="photos/")


def _check(zpath: Path) -> dict[str, Any]:
    import json

    result = CliRunner().invoke(app, ["data", "check", str(zpath), "--json"])
    assert result.exit_code == 0, result.output
    report: dict[str, Any] = json.loads(result.stdout)
    return report


def test_second_data_check_does_not_extract_or_rehash(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, _isolated_home: Path
) -> None:
    zpath = _classify_zip(tmp_path, counts={"a": 4, "b": 4})
    zip_sha = _sha(zpath)
    extract = Spy(monkeypatch, "extract_zip")
    hashed = Spy(monkeypatch, "sha256_file")

    first = _check(zpath)
    assert extract.on(zpath) == 1 and hashed.on(zpath) == 1
    assert any(n.startswith("zip extracted to") for n in first["notes"])
    root = Path(first["root"])
    assert root.is_relative_to(_isolated_home / "datasets")  # the cache folder imgrec uses
    stamp = root.stat().st_mtime_ns

    second = _check(zpath)
    assert extract.on(zpath) == 1  # not extracted again
    assert hashed.on(zpath) == 1  # size, mtime, ctime and inode unchanged: not even re-read
    assert second["root"] == first["root"] and root.stat().st_mtime_ns == stamp
    assert any(n.startswith("zip already extracted: reused") for n in second["notes"])
    assert second["images_per_class"] == first["images_per_class"] == {"a": 4, "b": 4}

    assert _sha(zpath) == zip_sha
    assert sorted(p.name for p in zpath.parent.iterdir()) == ["photos.zip"]


def test_changed_zip_is_extracted_again(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    zpath = _classify_zip(tmp_path, counts={"a": 3, "b": 3})
    extract = Spy(monkeypatch, "extract_zip")
    first = ingest(zpath, extract_root=tmp_path / "cache")

    _classify_zip(tmp_path, counts={"a": 3, "b": 3, "c": 3}, seed=1)  # same path, new content
    zip_sha = _sha(zpath)
    second = ingest(zpath, extract_root=tmp_path / "cache")
    assert extract.on(zpath) == 2
    assert second.classes == ["a", "b", "c"] and second.root != first.root
    assert any(n.startswith("zip extracted to") for n in second.notes)
    assert first.root.is_dir()  # the earlier extraction is left for the cache to clear

    again = ingest(zpath, extract_root=tmp_path / "cache")
    assert extract.on(zpath) == 2 and again.root == second.root
    assert _sha(zpath) == zip_sha
    assert sorted(p.name for p in zpath.parent.iterdir()) == ["photos.zip"]


def test_touched_but_identical_zip_is_rehashed_not_reextracted(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    zpath = _classify_zip(tmp_path, counts={"a": 2, "b": 2})
    first, reused = extract_cached(zpath, tmp_path / "cache")
    assert not reused
    st = zpath.stat()
    os.utime(zpath, ns=(st.st_atime_ns, st.st_mtime_ns + 5_000_000_000))
    extract = Spy(monkeypatch, "extract_zip")
    hashed = Spy(monkeypatch, "sha256_file")
    again, reused = extract_cached(zpath, tmp_path / "cache")
    assert reused and again == first
    assert hashed.on(zpath) == 1 and extract.on(zpath) == 0
    assert extract_cached(zpath, tmp_path / "cache") == (first, True)
    assert hashed.on(zpath) == 1  # the new stamp was remembered


def test_a_refused_zip_leaves_no_cache_entry(tmp_path: Path) -> None:
    bad = write_zip(tmp_path / "user" / "bad.zip", [("../evil.png", b"x")])
    with pytest.raises(DatasetError, match="climbs out"):
        extract_cached(bad, tmp_path / "cache")
    assert list((tmp_path / "cache").rglob("*")) == []
    corrupt = tmp_path / "user" / "corrupt.zip"
    corrupt.write_bytes(bad.read_bytes()[:20])
    with pytest.raises(DatasetError, match="not a valid zip"):
        extract_cached(corrupt, tmp_path / "cache")
    assert not (tmp_path / "cache" / INDEX_DIR).exists()


def test_detection_zip_is_extracted_once_per_content(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    src = write_shapes_detection(tmp_path / "src" / "shapes", n=6, img_size=32, seed=0)
    zpath = zip_folder(src, tmp_path / "user" / "boxes.zip", prefix="shapes/")
    zip_sha = _sha(zpath)
    extract = Spy(monkeypatch, "extract_zip")
    work = tmp_path / "work"
    first = read_detection(zpath, work_dir=work)
    second = read_detection(zpath, work_dir=work)
    assert extract.on(zpath) == 1
    assert first.layout == second.layout == "coco" and len(second.images) == 6
    assert [i.key for i in first.images] == [i.key for i in second.images]
    assert first.source == zpath

    changed = write_shapes_detection(tmp_path / "src2" / "shapes", n=8, img_size=32, seed=1)
    zip_folder(changed, zpath, prefix="shapes/")
    third = read_detection(zpath, work_dir=work)
    assert extract.on(zpath) == 2 and len(third.images) == 8
    assert sorted(p.name for p in zpath.parent.iterdir()) == ["boxes.zip"]
    assert _sha(zpath) != zip_sha  # rewritten by the test only


def test_a_zipped_detection_set_is_checked_as_one_without_task_and_extracted_once(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, _isolated_home: Path
) -> None:
    src = write_shapes_detection(tmp_path / "src" / "shapes", n=6, img_size=32, seed=0)
    zpath = zip_folder(src, tmp_path / "user" / "boxes.zip", prefix="shapes/")
    extract = Spy(monkeypatch, "extract_zip")
    for _ in range(2):
        result = CliRunner().invoke(app, ["data", "check", str(zpath)])
        assert result.exit_code == 0, result.output
        assert "COCO detection dataset" in result.output and "6 images" in result.output
    assert extract.on(zpath) == 1  # inferring the task and reading it share one extraction
    assert not list((_isolated_home / "datasets").glob("check-*"))  # no folder per check
    wrong = CliRunner().invoke(app, ["data", "check", str(zpath), "--task", "classify"])
    assert wrong.exit_code != 0 and "pass --task detect" in wrong.output
