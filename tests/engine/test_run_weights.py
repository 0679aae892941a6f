"""Loading a run's weights: one loader (and one set of errors) for every predictor.

Runs are written the way a training writes them (card.json + model.safetensors), from untrained
networks, so nothing here trains.
"""

from __future__ import annotations

from pathlib import Path

import pytest
import torch
from torch import nn

from imgrec.engine.detect_predictor import DetectionPredictor
from imgrec.engine.predictor import Predictor
from imgrec.engine.run_weights import load_run_model, load_run_weights
from imgrec.errors import ModelError
from imgrec.models.card import ModelCard, Preprocessing
from imgrec.models.detectors import create_detector
from imgrec.models.registry import create_model
from imgrec.models.weights import save_weights

SIZE = 16
CLASSES = ["circle", "square", "star"]
BUILDS = {"classify": create_model, "detect": create_detector}
PREDICTORS = {"classify": Predictor, "detect": DetectionPredictor}
ARCHITECTURES = {"classify": ("simple_cnn", {"width": 8}), "detect": ("tinydet", {"width": 8})}


def save_run(folder: Path, *, task: str = "classify", num_classes: int = 3) -> Path:
    """An untrained ``task`` model saved as a run directory (card + weights)."""
    torch.manual_seed(0)
    architecture, options = ARCHITECTURES[task]
    model = BUILDS[task](architecture, num_classes=num_classes, img_size=SIZE, **options)
    folder.mkdir(parents=True, exist_ok=True)
    ModelCard(
        task="detect" if task == "detect" else "classify",
        architecture=architecture,
        options=dict(model.options),
        classes=CLASSES[:num_classes] + [f"c{i}" for i in range(3, num_classes)],
        preprocessing=Preprocessing(size=(SIZE, SIZE), mean=(0, 0, 0), std=(1, 1, 1)),
    ).save(folder)
    save_weights(model, folder / "model.safetensors")
    return folder


@pytest.fixture(params=["classify", "detect"])
def task(request: pytest.FixtureRequest) -> str:
    return str(request.param)


def _state(model: nn.Module) -> dict[str, torch.Tensor]:
    return {k: v.detach().cpu() for k, v in model.state_dict().items()}


def test_load_run_model_restores_the_saved_tensors(task: str, tmp_path: Path) -> None:
    run = save_run(tmp_path / "run", task=task)
    model, card = load_run_model(run, task=task, build=BUILDS[task])
    assert card.task == task and card.classes == CLASSES
    torch.manual_seed(1)  # a fresh build starts elsewhere: the file's tensors must replace it
    architecture, options = ARCHITECTURES[task]
    fresh = BUILDS[task](architecture, num_classes=3, img_size=SIZE, **options)
    assert load_run_weights(fresh, run, card=card) is fresh
    for key, value in _state(model).items():
        assert torch.equal(value, _state(fresh)[key]), key
    predictor = PREDICTORS[task].from_run_dir(run, device="cpu")
    assert predictor.card == card


def test_missing_weights_say_how_to_finish_the_run(task: str, tmp_path: Path) -> None:
    run = save_run(tmp_path / "run", task=task)
    (run / "model.safetensors").unlink()
    with pytest.raises(ModelError, match=r"model\.safetensors: weights file missing.*--resume"):
        PREDICTORS[task].from_run_dir(run, device="cpu")


@pytest.mark.parametrize(
    "damage",
    [
        pytest.param(lambda data: data[: len(data) // 2], id="truncated"),
        pytest.param(lambda data: b"", id="zero-bytes"),
        pytest.param(lambda data: b"this is text, not tensors\n" * 4, id="text"),
        pytest.param(lambda data: b"\xff" * 8 + data[8:], id="corrupt-header"),
    ],
)
def test_a_broken_safetensors_file_is_one_clear_error(
    task: str, damage: object, tmp_path: Path
) -> None:
    run = save_run(tmp_path / "run", task=task)
    weights = run / "model.safetensors"
    weights.write_bytes(damage(weights.read_bytes()))  # type: ignore[operator]  # a lambda
    with pytest.raises(ModelError) as info:
        PREDICTORS[task].from_run_dir(run, device="cpu")
    message = str(info.value)
    assert message.startswith(f"{weights}: not a readable safetensors file")
    assert "truncated or corrupt" in message and "copy the run directory again" in message


def test_weights_of_other_shapes_name_the_tensors_and_the_card(task: str, tmp_path: Path) -> None:
    run = save_run(tmp_path / "run", task=task)
    other = save_run(tmp_path / "other", task=task, num_classes=5)  # another head
    (run / "model.safetensors").write_bytes((other / "model.safetensors").read_bytes())
    with pytest.raises(ModelError) as info:
        PREDICTORS[task].from_run_dir(run, device="cpu")
    message = str(info.value)
    assert f"{run / 'model.safetensors'}: weights do not fit the architecture in" in message
    assert str(run / "card.json") in message and "3 classes" in message
    assert "shape mismatch:" in message and "file (5" in message and "vs model (3" in message
    assert "put back the card.json written with these weights" in message


def test_weights_of_another_architecture_list_missing_and_unexpected_names(
    tmp_path: Path,
) -> None:
    run = save_run(tmp_path / "run")
    save_weights(nn.Linear(3, 2), run / "model.safetensors")
    with pytest.raises(ModelError) as info:
        Predictor.from_run_dir(run, device="cpu")
    message = str(info.value)
    assert "do not fit the architecture" in message and "(simple_cnn, 3 classes, " in message
    assert "width=8" in message  # the card's options, as the network was built from them
    assert "missing in file: stages.0.0.weight" in message and "more)" in message
    assert "unexpected in file: " in message and "bias" in message


def test_a_run_of_another_task_names_the_right_predictor(tmp_path: Path) -> None:
    classify = save_run(tmp_path / "classify")
    detect = save_run(tmp_path / "detect", task="detect")
    with pytest.raises(
        ModelError, match=r"card\.json: a classify run, not a detect run.*\.Predictor"
    ):
        DetectionPredictor.from_run_dir(classify, device="cpu")
    with pytest.raises(ModelError, match=r"a detect run, not a classify run.*DetectionPredictor"):
        Predictor.from_run_dir(detect, device="cpu")


def test_no_card_is_reported_before_any_weights(tmp_path: Path) -> None:
    with pytest.raises(ModelError, match="no model card"):
        load_run_model(tmp_path, task="classify", build=create_model)
