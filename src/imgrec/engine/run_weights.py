"""A run's model: the network its ``card.json`` describes, with the run's ``model.safetensors``.

>>> model, card = load_run_model("runs/tinydet-20261202-101500", task="detect",
...                              build=create_detector)

One loader for every predictor, so a broken run directory fails the same way everywhere, with
one :class:`ModelError` per way it can be broken: no card (or an unreadable one), a card of
another task, the weights file missing (an unfinished run), a file that is not safetensors
(truncated or corrupt), or tensors that do not fit the card's architecture.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import torch
from safetensors import SafetensorError
from safetensors.torch import load_file
from torch import nn

from imgrec.errors import ModelError
from imgrec.models.card import CARD_FILE, ModelCard

__all__ = ["load_run_model", "load_run_weights"]

_LOADERS = {
    "classify": "imgrec.engine.predictor.Predictor",
    "detect": "imgrec.engine.detect_predictor.DetectionPredictor",
    "segment": "imgrec.engine.segment_predictor.SegmentationPredictor",
    "instance": "imgrec.engine.instance_predictor.InstancePredictor",
}


def load_run_model(
    run_dir: str | Path, *, task: str, build: Callable[..., nn.Module]
) -> tuple[nn.Module, ModelCard]:
    """Build the card's network with ``build`` and load the run's weights into it.

    Args:
        run_dir: A run directory (``card.json`` + ``model.safetensors``).
        task: The task the caller predicts (``"classify"``, ``"detect"``).
        build: ``create_model`` or ``create_detector``: called as
            ``build(architecture, num_classes=K, img_size=S, **options)``.

    Returns:
        ``(model on the CPU, card)``.

    Raises:
        ModelError: no or unreadable card, another task's run, or weights that are missing,
            unreadable or do not fit (see :func:`load_run_weights`).
    """
    directory = Path(run_dir)
    card = ModelCard.load(directory)
    if card.task != task:
        raise ModelError(
            f"{directory / CARD_FILE}: a {card.task} run, not a {task} run; load it with "
            f"{_LOADERS.get(card.task, 'imgrec.load')} (imgrec.load(RUN_DIR) and "
            "`imgrec predict` choose by the card's task)."
        )
    weights = directory / card.weights_file
    if not weights.is_file():  # checked before building: a large network is not built for nothing
        raise _missing(weights, directory)
    model = build(
        card.architecture,
        num_classes=card.num_classes,
        img_size=card.preprocessing.size[0],
        **card.options,
    )
    load_run_weights(model, directory, card=card)
    return model, card


def load_run_weights(model: nn.Module, run_dir: str | Path, *, card: ModelCard) -> nn.Module:
    """Copy the run's weights file into ``model`` (strictly: every tensor, every shape).

    Returns:
        ``model``, its tensors replaced.

    Raises:
        ModelError: the file is missing, is not a readable safetensors file (truncated, corrupt,
            another format), or its tensors do not fit ``model`` (names or shapes differ from the
            architecture and options in ``card.json``); the message names the file and says what
            to do.
    """
    directory = Path(run_dir)
    weights = directory / card.weights_file
    if not weights.is_file():
        raise _missing(weights, directory)
    try:
        state = load_file(str(weights), device="cpu")
    except (SafetensorError, OSError, ValueError) as exc:
        raise ModelError(
            f"{weights}: not a readable safetensors file ({exc}). It is truncated or corrupt (an "
            "interrupted copy?) or was replaced by another file; copy the run directory again "
            "from where it was trained, or train the run again."
        ) from exc
    problems = _misfits(state, model.state_dict())
    if problems:
        raise ModelError(
            f"{weights}: weights do not fit the architecture in {directory / CARD_FILE} "
            f"({_described(card)}): {'; '.join(problems)}. The card and the weights come from "
            "different runs (or the card was edited); put back the card.json written with these "
            "weights, or train the run again."
        )
    try:
        model.load_state_dict(state, strict=True)
    except RuntimeError as exc:  # e.g. a dtype that cannot be copied into the parameter
        raise ModelError(
            f"{weights}: weights do not fit the architecture in {directory / CARD_FILE} "
            f"({str(exc).splitlines()[0]})."
        ) from exc
    return model


def _missing(weights: Path, directory: Path) -> ModelError:
    return ModelError(
        f"{weights}: weights file missing. The run may not have finished; "
        f"`imgrec train --resume {directory}` completes it."
    )


def _misfits(state: dict[str, torch.Tensor], target: dict[str, torch.Tensor]) -> list[str]:
    """What stops ``state`` loading into ``target``: shapes, missing and unexpected names."""
    shapes = [
        f"{key}: file {tuple(value.shape)} vs model {tuple(target[key].shape)}"
        for key, value in state.items()
        if key in target and value.shape != target[key].shape
    ]
    missing = [key for key in target if key not in state]
    unexpected = [key for key in state if key not in target]
    return [
        _listing(what, keys)
        for what, keys in (
            ("shape mismatch", shapes),
            ("missing in file", missing),
            ("unexpected in file", unexpected),
        )
        if keys
    ]


def _listing(what: str, items: list[str]) -> str:
    more = f" (and {len(items) - 5} more)" if len(items) > 5 else ""
    return f"{what}: {', '.join(items[:5])}{more}"


def _described(card: ModelCard) -> str:
    options = ", ".join(f"{k}={v}" for k, v in sorted(card.options.items()))
    return f"{card.architecture}, {card.num_classes} classes" + (f", {options}" if options else "")
