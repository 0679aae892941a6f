"""Object detection in a real browser: a COCO upload's report with boxes and charts, a broken
one's problems, the new-experiment form on task=detect, the live val mAP curve, the run page.

Against a real ``imgrec serve`` (SQLite, one worker) and Debian's Chromium; screenshots land in
``tests/browser/artifacts/det-*.png`` for a person to look at.
"""

from __future__ import annotations

import json
import re
import shutil
from pathlib import Path
from typing import Any

import pytest

from imgrec.data.detection import write_shapes_detection
from tests.browser.conftest import shot
from tests.serving import Server

pytestmark = [pytest.mark.browser, pytest.mark.slow]

IMAGES_LOADED = (
    "[...document.querySelectorAll('{0}')].length > 0 && "
    "[...document.querySelectorAll('{0}')].every((img) => img.complete && img.naturalWidth > 0)"
)


def _zips(tmp_path: Path) -> tuple[Path, Path, Path]:
    """The generated COCO set, a copy with broken annotations (both zipped), a test image."""
    folder = write_shapes_detection(tmp_path / "coco", n=24, img_size=96, seed=1)
    good = Path(shutil.make_archive(str(tmp_path / "shapes-coco"), "zip", root_dir=folder))
    broken = Path(shutil.copytree(folder, tmp_path / "broken"))
    train = broken / "annotations" / "instances_train.json"
    data = json.loads(train.read_text())
    data["annotations"][0]["bbox"] = [80, 80, 40, 40]
    data["annotations"][1]["category_id"] = 99
    train.write_text(json.dumps(data))
    (broken / "annotations" / "instances_val.json").write_text("{not json")
    bad = Path(shutil.make_archive(str(tmp_path / "broken-coco"), "zip", root_dir=broken))
    image = next((folder / "images" / "test").glob("*.png"))
    return good, bad, image


def _upload(page: Any, server: Server, archive: Path) -> None:
    page.goto(f"{server.url}/datasets")
    page.set_input_files("#file", str(archive))
    page.wait_for_url(re.compile(r"/datasets/[0-9a-f]{12}$"))
    page.wait_for_selector("#det-counts", timeout=120_000)  # the page reloads once checked
    page.wait_for_function(IMAGES_LOADED.format(".det-frame img"))


def _bars(page: Any, canvas: str) -> int:
    return int(page.get_attribute(canvas, "data-bars") or 0)


def _dataset_pages(page: Any, server: Server, good: Path, bad: Path) -> None:
    _upload(page, server, bad)
    rows = page.locator("#det-problems tbody tr")
    assert rows.count() == 3
    assert "unknown category_id 99" in page.inner_text("#det-problems")
    assert "annotations[1]" in page.inner_text("#det-problems")
    assert page.locator("#no-val").is_visible()  # its val file was skipped
    shot(page, "det-02-dataset-problems")

    _upload(page, server, good)
    assert page.locator(".det-box").count() > 10
    assert page.locator(".det-label", has_text="circle").count() > 0
    label = page.locator(".det-label").first.bounding_box()
    assert label is not None and label["width"] > 10  # drawn, not collapsed
    box = page.locator(".det-box").first.bounding_box()
    frame = page.locator(".det-frame").first.bounding_box()
    assert box is not None and frame is not None and 4 < box["width"] < frame["width"]
    assert frame["x"] <= box["x"] and box["x"] + box["width"] <= frame["x"] + frame["width"] + 1
    assert page.locator("#no-val").count() == 0
    assert _bars(page, "#det-per-class") > 0 and _bars(page, "#det-box-sizes") > 0
    assert page.locator("#det-counts tbody tr").count() == 4
    assert page.locator("#problems").inner_text().count("None: every annotation") == 1
    shot(page, "det-01-dataset")


def _start_detection_search(page: Any) -> None:
    page.click("#new-experiment")
    page.wait_for_selector("form[data-task=detect]")
    assert page.input_value("#task") == "detect"
    assert page.is_checked("input[name=model][value=tinydet]")
    assert page.get_attribute("input[name=model][value=tinydet]", "type") == "radio"
    assert page.input_value("#metric") == "val_map"
    page.select_option("#task", "classify")  # the wrong task is flagged at once
    page.wait_for_selector("[data-field=task].has-error")
    page.wait_for_selector("form[data-task=classify]")
    page.select_option("#task", "detect")
    page.wait_for_selector("form[data-task=detect]")
    assert page.locator("[data-field=task].has-error").count() == 0
    page.fill("input[name='low.lr']", "0.002")
    page.fill("input[name='high.lr']", "0.004")
    page.fill("input[name='choices.batch_size']", "4")
    for name in ("weight_decay", "optimizer"):
        page.uncheck(f"input[name='use.{name}']")
    page.fill("#trials", "1")
    page.fill("#epochs", "2")
    page.fill("#image_size", "96")
    page.select_option("#pruner", "none")
    shot(page, "det-03-experiment-new")
    page.click("#start")
    page.wait_for_url(re.compile(r"/experiments/\d+$"))


def _watch(page: Any) -> None:
    assert page.get_attribute("#chart-acc", "data-metric") == "val_map"
    assert "Val mAP per epoch" in page.inner_text("#chart-acc-title")
    page.wait_for_function(
        "Number(document.querySelector('#chart-acc').dataset.points) > 0", timeout=300_000
    )
    page.wait_for_function(
        "document.querySelector('#exp-status .badge').textContent.trim() !== 'open'",
        timeout=300_000,
    )
    assert page.inner_text("#exp-status").strip() == "completed"
    assert int(page.get_attribute("#chart-acc", "data-points") or 0) == 2  # 1 trial x 2 epochs
    page.wait_for_selector("#best:not([hidden])")
    shot(page, "det-04-experiment-live")


def _run_page(page: Any, image: Path) -> None:
    page.click("#best-link")
    page.wait_for_url(re.compile(r"/runs/\d+$"))
    page.wait_for_selector("#chart-curves")
    assert "Val mAP" in (page.get_attribute("#chart-curves", "data-series") or "")
    assert page.locator("#ap-per-class tbody tr").count() == 4
    page.wait_for_function(IMAGES_LOADED.format("img.artifact"))
    page.set_input_files("#predict-file", str(image))
    page.click("#predict-form button[type=submit]")
    page.wait_for_selector("#predictions li", timeout=120_000)
    page.wait_for_function(IMAGES_LOADED.format("#predict-input"))
    shot(page, "det-05-run")


def test_detection_dataset_form_live_curve_and_run(
    server: Server, page: Any, tmp_path: Path
) -> None:
    good, bad, image = _zips(tmp_path)
    try:
        _dataset_pages(page, server, good, bad)
        _start_detection_search(page)
        _watch(page)
        _run_page(page, image)
    except Exception:
        shot(page, "det-failure")
        print(server.log_tail())
        raise
    assert not page.errors, page.errors
