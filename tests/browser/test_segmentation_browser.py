"""Segmentation in a real browser: a mask-folder upload's report (pixel-share and image charts,
samples with their masks), a broken one's problems with what to do, a COCO upload with masks as
an instance dataset, the new-experiment form on task=segment, and the run pages of a
segmentation and an instance run with a prediction drawn over an uploaded image.

Against a real ``imgrec serve`` (SQLite, one worker) and Debian's Chromium; screenshots land in
``tests/browser/artifacts/seg-*.png`` for a person to look at.
"""

from __future__ import annotations

import re
import shutil
from pathlib import Path
from typing import Any

import pytest

from imgrec import api
from imgrec.data.detection import write_shapes_instances
from imgrec.data.segmentation import write_shapes_segmentation
from tests.browser.conftest import shot
from tests.serving import Server

pytestmark = [pytest.mark.browser, pytest.mark.slow]

IMAGES_LOADED = (
    "[...document.querySelectorAll('{0}')].length > 0 && "
    "[...document.querySelectorAll('{0}')].every((img) => img.complete && img.naturalWidth > 0)"
)


def _data(tmp_path: Path) -> dict[str, Path]:
    """The mask folders, a copy with broken masks and a COCO set with masks (all zipped)."""
    seg = write_shapes_segmentation(tmp_path / "seg", n=24, img_size=64, seed=1)
    inst = write_shapes_instances(tmp_path / "inst", n=16, img_size=64, seed=2)
    broken = Path(shutil.copytree(seg, tmp_path / "broken"))
    masks = broken / "masks" / "train"
    first, second = sorted(masks.glob("*.png"))[:2]
    first.write_bytes(b"not a png")
    second.unlink()
    return {
        "seg": seg,
        "inst": inst,
        "seg_zip": Path(shutil.make_archive(str(tmp_path / "shapes-seg"), "zip", root_dir=seg)),
        "bad_zip": Path(shutil.make_archive(str(tmp_path / "broken-seg"), "zip", root_dir=broken)),
        "inst_zip": Path(shutil.make_archive(str(tmp_path / "shapes-inst"), "zip", root_dir=inst)),
    }


def _upload(page: Any, server: Server, archive: Path, ready: str) -> None:
    page.goto(f"{server.url}/datasets")
    page.set_input_files("#file", str(archive))
    page.wait_for_url(re.compile(r"/datasets/[0-9a-f]{12}$"))
    page.wait_for_selector(ready, timeout=120_000)  # the page reloads once checked
    page.wait_for_function(IMAGES_LOADED.format(".det-frame img"))


def _bars(page: Any, canvas: str) -> int:
    return int(page.get_attribute(canvas, "data-bars") or 0)


def _dataset_pages(page: Any, server: Server, data: dict[str, Path]) -> None:
    _upload(page, server, data["bad_zip"], "#seg-problems")
    assert page.locator("#seg-problems tbody tr").count() == 2
    problems = page.inner_text("#seg-problems")
    assert "export the mask again as a PNG" in problems and "add its mask" in problems
    shot(page, "seg-02-dataset-problems")

    _upload(page, server, data["inst_zip"], "#det-counts")
    assert int(page.inner_text("#det-mask-count").split()[0]) > 0
    assert page.locator("#other-tasks").is_visible()
    assert page.locator(".det-box").count() > 5
    shot(page, "seg-05-instance-dataset")
    page.click("#new-experiment")  # a COCO set with masks trains semantic segmentation too
    page.wait_for_selector("form[data-task=instance]")
    assert page.inner_text("#models-title") == "Instance segmenter"
    page.select_option("#task", "segment")
    page.wait_for_selector("form[data-task=segment]")
    assert page.locator("[data-field=task].has-error").count() == 0
    page.select_option("#task", "classify")
    page.wait_for_selector("[data-field=task].has-error")

    _upload(page, server, data["seg_zip"], "#seg-counts")
    assert _bars(page, "#seg-pixel-share") > 0 and _bars(page, "#seg-images") > 0
    assert page.locator("#seg-counts tbody tr").count() == 5
    assert page.locator(".seg-sample").count() >= 5
    frame = page.locator(".seg-sample .det-frame img").first.bounding_box()
    assert frame is not None and frame["width"] > 100  # a 64 px sample shown large
    assert page.locator("#problems").inner_text().count("None: every image and mask") == 1
    shot(page, "seg-01-dataset")


def _form(page: Any) -> None:
    page.click("#new-experiment")
    page.wait_for_selector("form[data-task=segment]")
    assert page.input_value("#task") == "segment"
    assert page.is_checked("input[name=model][value=smallunet]")
    assert page.get_attribute("input[name=model][value=smallunet]", "type") == "radio"
    assert page.input_value("#metric") == "val_miou"
    assert page.inner_text("#models-title") == "Segmenter"
    page.select_option("#task", "detect")  # the wrong task is flagged at once
    page.wait_for_selector("[data-field=task].has-error")
    page.select_option("#task", "segment")
    page.wait_for_selector("form[data-task=segment]")
    assert page.locator("[data-field=task].has-error").count() == 0
    shot(page, "seg-03-experiment-new")


def _train(server: Server, data: Path, task: str, options: dict[str, Any], out: Path) -> int:
    result = api.train(
        data, task=task, epochs=2, img_size=64, batch_size=4, show_progress=False,
        db=f"sqlite:///{server.home / 'imgrec.db'}", out=str(out), name=f"{task}-browser",
        **{"model.options": options},
    )  # fmt: skip
    assert result.run_id is not None
    return result.run_id


def _run_page(page: Any, server: Server, run_id: int, image: Path, name: str) -> None:
    page.goto(f"{server.url}/runs/{run_id}")
    page.wait_for_selector("#chart-curves")
    page.wait_for_function(IMAGES_LOADED.format("img.artifact"))
    page.set_input_files("#predict-file", str(image))
    page.click("#predict-form button[type=submit]")
    page.wait_for_selector("#predictions li", timeout=120_000)
    page.wait_for_function(IMAGES_LOADED.format("#predict-input"))
    shot(page, name)


def test_segmentation_datasets_form_and_runs(server: Server, page: Any, tmp_path: Path) -> None:
    data = _data(tmp_path)
    try:
        _dataset_pages(page, server, data)
        _form(page)
        seg_run = _train(server, data["seg"], "segment", {"width": 8, "depth": 2}, tmp_path)
        image = next((data["seg"] / "images" / "test").glob("*.png"))
        _run_page(page, server, seg_run, image, "seg-04-run")
        assert "Val mIoU" in (page.get_attribute("#chart-curves", "data-series") or "")
        assert page.locator("#iou-per-class tbody tr").count() == 5
        assert "of the pixels" in page.inner_text("#predictions")
        inst_run = _train(server, data["inst"], "instance", {"width": 8}, tmp_path)
        image = next((data["inst"] / "images" / "test").glob("*.png"))
        _run_page(page, server, inst_run, image, "seg-06-instance-run")
        assert page.locator("#mask-ap-per-class tbody tr").count() == 4
    except Exception:
        shot(page, "seg-failure")
        print(server.log_tail())
        raise
    assert not page.errors, page.errors
