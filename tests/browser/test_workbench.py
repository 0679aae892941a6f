"""The workbench in a real browser: upload a zip, read the report, search, watch, download.

One long test against a real ``imgrec serve`` (SQLite, one worker) so that the whole path a person
takes is exercised once: the pages, the upload, the worker, the live feed, the model zip and the
CLI that loads it. Screenshots of every page land in ``tests/browser/artifacts/``.
"""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path
from typing import Any

import pytest

from imgrec.api import synth_data
from tests.browser.conftest import shot
from tests.serving import Server

pytestmark = [pytest.mark.browser, pytest.mark.slow]


def _points(page: Any) -> int:
    return int(page.get_attribute("#chart-acc", "data-points") or 0)


def _dataset_zip(tmp_path: Path) -> tuple[Path, Path]:
    folder = synth_data(tmp_path / "shapes", per_class=20, img_size=32)
    archive = Path(shutil.make_archive(str(tmp_path / "shapes"), "zip", root_dir=folder))
    image = next(p for p in sorted(folder.rglob("*")) if p.suffix.lower() in {".png", ".jpg"})
    return archive, image


def _upload_and_check(page: Any, server: Server, archive: Path) -> str:
    page.goto(f"{server.url}/datasets")
    shot(page, "01-datasets")
    cdp = page.context.new_cdp_session(page)  # slow the upload down to see the progress bar
    cdp.send("Network.enable")
    slow = {"offline": False, "latency": 0, "downloadThroughput": -1}
    cdp.send("Network.emulateNetworkConditions", slow | {"uploadThroughput": 64 * 1024})
    page.set_input_files("#file", str(archive))
    page.wait_for_function(
        "(() => { const w = parseFloat(document.querySelector('#upload-bar').style.width);"
        " return w > 0 && w < 100; })()"
    )
    assert "Uploading shapes.zip" in page.inner_text("#upload-label")
    shot(page, "01-datasets-uploading")
    cdp.send("Network.emulateNetworkConditions", slow | {"uploadThroughput": -1})
    page.wait_for_url(re.compile(r"/datasets/[0-9a-f]{12}$"))
    page.wait_for_selector("#new-experiment", timeout=120_000)  # the page reloads when checked
    page.wait_for_function(
        "[...document.querySelectorAll('.sample-grid img')]"
        ".every((img) => img.complete && img.naturalWidth > 0)"
    )
    assert page.locator("#histogram").is_visible()
    assert page.locator(".sample-class").count() >= 2
    assert page.locator(".sample-grid img").count() >= 2
    shot(page, "02-dataset-report")
    return page.url.rsplit("/", 1)[-1]


def _start_experiment(page: Any) -> None:
    page.click("#new-experiment")
    page.wait_for_selector("input[name=model][value=simple_cnn]")
    page.wait_for_selector("tr[data-param=lr]")
    page.fill("input[name='low.lr']", "0.1")  # low above high: shown next to the field
    page.fill("input[name='high.lr']", "0.001")
    page.click("#start")
    error = page.locator("tr[data-param=lr] .field-error")
    error.wait_for()
    assert error.inner_text().strip(), "the invalid bound has no message next to it"
    shot(page, "03-experiment-new-invalid")

    page.fill("input[name='low.lr']", "0.001")
    page.fill("input[name='high.lr']", "0.01")
    page.fill("input[name='choices.batch_size']", "16")  # a few steps per epoch, not one
    for name in ("weight_decay", "label_smoothing", "augment", "optimizer"):
        page.uncheck(f"input[name='use.{name}']")
    for box in page.locator("input[name=model]").all():
        box.set_checked(box.get_attribute("value") == "simple_cnn")
    page.fill("#trials", "2")
    page.fill("#epochs", "3")
    page.fill("#image_size", "32")
    page.select_option("#pruner", "none")
    page.click("#start")
    page.wait_for_url(re.compile(r"/experiments/\d+$"))


def _watch(page: Any) -> None:
    page.wait_for_function(
        "Number(document.querySelector('#chart-acc').dataset.points) > 0", timeout=240_000
    )
    first = _points(page)
    shot(page, "04-experiment-live")
    page.wait_for_function(
        f"Number(document.querySelector('#chart-acc').dataset.points) > {first}", timeout=240_000
    )
    assert _points(page) > first
    page.wait_for_function(
        "document.querySelector('#exp-status .badge').textContent.trim() !== 'open'",
        timeout=300_000,
    )
    assert page.inner_text("#exp-status").strip() == "completed"
    page.wait_for_selector("#best:not([hidden])")
    page.wait_for_selector("#history-box:not([hidden])")
    assert page.locator("#trials tbody tr").count() == 2
    assert _points(page) == 6  # 2 trials x 3 epochs, no pruning
    shot(page, "05-experiment-done")


def _download_and_predict(page: Any, tmp_path: Path, image: Path) -> None:
    with page.expect_download() as download:
        page.click("#best-download")
    archive = tmp_path / "model.zip"
    download.value.save_as(archive)
    model_dir = tmp_path / "model"
    with zipfile.ZipFile(archive) as zf:
        zf.extractall(model_dir)
    assert (model_dir / "model.safetensors").is_file() and (model_dir / "card.json").is_file()
    done = subprocess.run(
        [sys.executable, "-m", "imgrec", "predict", str(model_dir), str(image)],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip(), done.stderr


def _run_pages(page: Any, server: Server, image: Path) -> None:
    page.click("#best-link")
    page.wait_for_url(re.compile(r"/runs/\d+$"))
    page.wait_for_selector("#chart-curves")
    assert page.locator("#confusion").is_visible()
    page.set_input_files("#predict-file", str(image))
    page.click("#predict-form button[type=submit]")
    page.wait_for_selector("#predictions li", timeout=120_000)
    assert page.locator("#predictions li").count() >= 1
    assert page.locator("#predict-heatmap").is_visible()  # the Grad-CAM overlay
    page.click("[data-inspect=embedding]")
    page.wait_for_selector("#inspect-image:not([hidden])", timeout=120_000)
    page.click("[data-inspect=summary]")
    page.wait_for_selector("#inspect-table:not([hidden])", timeout=60_000)
    assert "Conv2d" in page.locator("#inspect-table").inner_text()
    page.click("[data-inspect=filters]")
    page.wait_for_selector("#inspect-image:not([hidden])", timeout=60_000)
    shot(page, "06-run")

    page.goto(f"{server.url}/runs")
    boxes = page.locator("#runs tbody .pick")
    assert boxes.count() == 2
    boxes.nth(0).check()
    boxes.nth(1).check()
    shot(page, "07-runs")
    page.click("#compare")
    page.wait_for_url(re.compile(r"/runs/compare\?ids="))
    assert page.locator("#compare-table").is_visible()
    shot(page, "08-compare")

    for path, name in (
        ("/", "09-home"),
        ("/experiments", "10-experiments"),
        ("/login", "11-login"),
    ):
        page.goto(f"{server.url}{path}")
        shot(page, name)


def test_upload_search_watch_download(server: Server, page: Any, tmp_path: Path) -> None:
    archive, image = _dataset_zip(tmp_path)
    try:
        _upload_and_check(page, server, archive)
        _start_experiment(page)
        _watch(page)
        _download_and_predict(page, tmp_path, image)
        _run_pages(page, server, image)
    except Exception:
        shot(page, "failure")
        print(server.log_tail())
        raise
    assert not page.errors, page.errors
