"""Semantic segmentation end to end: synth, check, train, predict (any image), eval, mismatch."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pytest
from PIL import Image
from typer.testing import CliRunner

from imgrec import api
from imgrec.cli import app
from imgrec.data.segmentation import write_shapes_segmentation
from imgrec.errors import ConfigError, ImgrecError


@pytest.fixture(scope="module")
def seg_run(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    root = tmp_path_factory.mktemp("segment")
    data = write_shapes_segmentation(root / "data", n=24, img_size=48, seed=2)
    result = api.train(
        data, epochs=2, img_size=48, batch_size=8, out=str(root / "runs"), name="seg",
        show_progress=False, record=False, **{"model.options": {"width": 8, "depth": 3}},
    )  # fmt: skip
    return data, result.run_dir


def test_training_infers_the_task_and_writes_the_report(seg_run: tuple[Path, Path]) -> None:
    _, run = seg_run
    metrics = json.loads((run / "metrics.json").read_text())
    card = json.loads((run / "card.json").read_text())
    assert card["task"] == "segment" and card["architecture"] == "smallunet"
    assert card["classes"][0] == "background" and card["dataset"]["ignore_index"] == 255
    assert 0.0 <= metrics["miou"] <= 1.0 and metrics["split"] == "test"
    assert len(metrics["per_class"]) == len(card["classes"])
    assert "convention" in metrics and metrics["num_images"] > 0
    for name in ("class_iou.png", "mask_overlays.png", "confusion_matrix_normalized.png",
                 "per_class_iou.csv", "learning_curves.png", "data_report.json"):  # fmt: skip
        assert (run / name).stat().st_size > 0, name
    history = (run / "history.csv").read_text().splitlines()
    assert "val_miou" in history[0] and len(history) == 3


def test_any_image_is_segmented_at_its_own_size(seg_run: tuple[Path, Path], tmp_path) -> None:
    _, run = seg_run
    model = api.load(run, device="cpu")
    odd = Image.new("L", (37, 23), 128)  # grayscale, odd size
    rgba = Image.new("RGBA", (50, 70), (200, 10, 10, 90))
    large = np.zeros((3000, 4000, 3), np.uint8)  # a 12-megapixel photo, bounded memory
    broken = tmp_path / "broken.png"
    broken.write_bytes(b"not an image")
    preds = model.predict([odd, rgba, large, broken])
    assert [p.mask.shape for p in preds[:3]] == [(23, 37), (70, 50), (3000, 4000)]
    assert preds[3].error and "broken.png" in preds[3].error and preds[3].mask is None
    assert abs(sum(preds[0].shares.values()) - 1.0) < 1e-6
    assert set(preds[0].shares) <= set(model.classes)
    files = preds[0].save(tmp_path / "out", "odd", image=odd)
    index = Image.open(files["mask"])
    assert index.mode == "P" and index.size == (37, 23)
    assert np.array_equal(np.asarray(index), preds[0].mask)
    assert Image.open(files["overlay"]).size == (37, 23)


def test_eval_on_the_own_split_repeats_the_training_figures(seg_run: tuple[Path, Path]) -> None:
    _, run = seg_run
    trained = json.loads((run / "metrics.json").read_text())
    again = api.evaluate(run, device="cpu")
    assert again["miou"] == pytest.approx(trained["miou"], abs=1e-9)
    assert again["pixel_accuracy"] == pytest.approx(trained["pixel_accuracy"], abs=1e-9)


def test_training_validation_and_prediction_feed_the_model_the_same_pixels() -> None:
    """A segmenter trained on inputs normalised one way and evaluated on inputs normalised
    another scores like chance at test time (it happened: val mIoU 0.35, test 0.09)."""
    import torch

    from imgrec.config import TrainConfig
    from imgrec.engine.segment_eval import segment_arrays
    from imgrec.models.segmenters import create_segmenter
    from imgrec.tasks.segment.training import SegmentationModule

    model = create_segmenter("smallunet", num_classes=3, width=4, depth=2)
    seen: list[torch.Tensor] = []
    model.register_forward_pre_hook(lambda _m, args: seen.append(args[0].detach().clone()))
    module = SegmentationModule(
        model, train_config=TrainConfig(epochs=1), steps_per_epoch=1, class_names=["a", "b", "c"]
    )
    pixels = np.random.default_rng(0).integers(0, 256, (16, 16, 3), dtype=np.uint8)
    image = torch.from_numpy(pixels).permute(2, 0, 1)[None].float() / 255
    module.training_step((image, torch.zeros(1, 16, 16, dtype=torch.long)), 0)
    module.predict_step((image, None), 0)
    segment_arrays(model, [pixels], img_size=16)
    assert len(seen) == 3 and abs(float(seen[0].mean())) > 0.1  # ImageNet-normalised, not [0, 1]
    torch.testing.assert_close(seen[1], seen[0])
    torch.testing.assert_close(seen[2], seen[0], atol=1e-5, rtol=0)


def test_another_dataset_with_the_classes_reordered_is_scored_by_name(
    seg_run: tuple[Path, Path], tmp_path
) -> None:
    data, run = seg_run
    classes = (data / "classes.txt").read_text().split()
    other = tmp_path / "other"
    shutil.copytree(data, other)
    order = [classes[0], *reversed(classes[1:])]  # same images, class indices renumbered
    (other / "classes.txt").write_text("\n".join(order) + "\n")
    lut = np.arange(256, dtype=np.uint8)
    for i, name in enumerate(classes):
        lut[i] = order.index(name)
    for mask in (other / "masks").rglob("*.png"):
        Image.fromarray(lut[np.asarray(Image.open(mask))]).save(mask)
    same = api.evaluate(run, data=data, device="cpu")
    renumbered = api.evaluate(run, data=other, device="cpu")
    assert renumbered["miou"] == pytest.approx(same["miou"], abs=1e-9)
    assert [r["iou"] for r in renumbered["per_class"]] == [r["iou"] for r in same["per_class"]]


def test_cli_check_predict_json_and_masks(seg_run: tuple[Path, Path], tmp_path) -> None:
    data, run = seg_run
    check = CliRunner().invoke(app, ["data", "check", str(data)])
    assert check.exit_code == 0 and "mask-folders segmentation dataset" in check.output
    image = next((data / "images").rglob("*.png"))
    out = CliRunner().invoke(
        app, ["predict", str(run), str(image), "--json", "--save-images", str(tmp_path / "m")]
    )
    assert out.exit_code == 0, out.output
    [record] = json.loads(out.stdout[: out.stdout.rindex("]") + 1])
    assert record["width"] == 48 and record["shares"] and record["error"] is None
    assert {p.name for p in (tmp_path / "m").iterdir()} == {
        f"{image.stem}.png",
        f"{image.stem}-colour.png",
        f"{image.stem}-overlay.png",
    }


def test_segmentation_losses_and_their_task(tmp_path) -> None:
    data = write_shapes_segmentation(tmp_path / "d", n=12, img_size=32, seed=4)
    result = api.train(
        data, epochs=1, img_size=32, batch_size=4, out=str(tmp_path / "runs"),
        show_progress=False, record=False, class_weights=True, **{"train.loss": "ce+dice"},
        **{"model.options": {"width": 8, "depth": 2}},
    )  # fmt: skip
    assert result.metrics["miou"] is None or 0.0 <= result.metrics["miou"] <= 1.0
    with pytest.raises(ImgrecError, match=r"--task classify was asked for: pass --task segment"):
        api.train(data, task="classify", epochs=1, record=False)
    from imgrec.data.synth import write_shapes_dataset

    folders = write_shapes_dataset(tmp_path / "c", task="classify", per_class=2, img_size=16)
    with pytest.raises(ImgrecError, match=r"train.loss=dice is a segmentation loss"):
        api.train(folders, epochs=1, record=False, **{"train.loss": "dice"})


def test_asking_segment_of_a_box_only_coco_set_is_a_clear_error(tmp_path) -> None:
    from imgrec.data.detection import write_shapes_detection

    boxes = write_shapes_detection(tmp_path / "det", n=6, img_size=32, seed=0)
    with pytest.raises(ConfigError, match=r"coco detect dataset, but --task segment"):
        api.train(boxes, task="segment", epochs=1, record=False)


def test_explain_and_inspect_a_segmentation_run(seg_run: tuple[Path, Path]) -> None:
    data, run = seg_run
    image = next((data / "images").rglob("*.png"))
    [explained] = api.explain(run, [image], target_class="circle", device="cpu")
    [circle] = explained.classes  # more in tests/explain/test_segment_explain.py
    assert circle.name == "circle" and circle.heatmap.shape == Image.open(image).size[::-1]
    summary = api.inspect(run, "summary", device="cpu")
    assert summary["table"] and "parameters" in json.dumps(summary).lower()
    with pytest.raises(ConfigError, match="summary and filters only"):
        api.inspect(run, "embedding", device="cpu")
