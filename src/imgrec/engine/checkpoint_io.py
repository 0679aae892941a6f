"""Checkpoints without pickles.

Lightning's default checkpoint is a ``torch.save`` pickle; loading one runs arbitrary code. imgrec
stores the same nested checkpoint dict as one safetensors file: every tensor (and numpy array) is
a safetensors entry, and the tree around them (dicts with int or str keys, lists, tuples, numbers,
strings, None) is JSON kept in the file's metadata. Loading reads JSON and tensors only.

Files are written to a temporary name and renamed, so a process killed mid-write leaves the previous
checkpoint intact.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import torch
from lightning.fabric.plugins import CheckpointIO
from safetensors import SafetensorError
from safetensors.torch import save_file

from imgrec._files import atomic_path
from imgrec.errors import RunError

__all__ = ["SafeCheckpointIO", "load_tree", "save_tree"]

_TREE_KEY = "imgrec_tree"
_FORMAT = "imgrec-checkpoint-1"


class _Encoder:
    def __init__(self) -> None:
        self.tensors: dict[str, torch.Tensor] = {}

    def _store(self, tensor: torch.Tensor) -> str:
        key = f"t{len(self.tensors)}"
        self.tensors[key] = tensor.detach().to("cpu").contiguous().clone()
        return key

    def encode(self, obj: Any, where: str) -> Any:
        if obj is None or isinstance(obj, bool | str):
            return obj
        if isinstance(obj, int | float):
            return obj
        if isinstance(obj, torch.Tensor):
            return {"__tensor__": self._store(obj)}
        if isinstance(obj, np.ndarray):
            return {"__ndarray__": self._store(torch.from_numpy(np.ascontiguousarray(obj)))}
        if isinstance(obj, np.generic):
            return obj.item()
        if isinstance(obj, Path):
            return {"__path__": str(obj)}
        if isinstance(obj, torch.dtype | torch.device):
            return {"__str__": str(obj)}
        if isinstance(obj, tuple):
            return {"__tuple__": [self.encode(v, f"{where}[{i}]") for i, v in enumerate(obj)]}
        if isinstance(obj, list):
            return [self.encode(v, f"{where}[{i}]") for i, v in enumerate(obj)]
        if isinstance(obj, dict):
            items = []
            for key, value in obj.items():
                if not isinstance(key, str | int) or isinstance(key, bool):
                    raise RunError(f"checkpoint key {key!r} at {where} is not a str or int.")
                items.append([key, self.encode(value, f"{where}.{key}")])
            return {"__dict__": items}
        raise RunError(
            f"cannot store {type(obj).__name__} at checkpoint path {where} without pickling; "
            "keep callback and module state to tensors, numbers, strings and containers."
        )


def _decode(obj: Any, tensors: dict[str, torch.Tensor]) -> Any:
    if isinstance(obj, list):
        return [_decode(v, tensors) for v in obj]
    if not isinstance(obj, dict):
        return obj
    if "__tensor__" in obj:
        return tensors[obj["__tensor__"]]
    if "__ndarray__" in obj:
        return tensors[obj["__ndarray__"]].numpy()
    if "__path__" in obj:
        return Path(obj["__path__"])
    if "__str__" in obj:
        return obj["__str__"]
    if "__tuple__" in obj:
        return tuple(_decode(v, tensors) for v in obj["__tuple__"])
    if "__dict__" in obj:
        return {key: _decode(value, tensors) for key, value in obj["__dict__"]}
    raise RunError(f"unknown entry in checkpoint tree: {sorted(obj)}")


def save_tree(tree: dict[str, Any], path: str | Path) -> None:
    """Write a nested dict of tensors/arrays/plain values to ``path`` atomically."""
    target = Path(path)
    target.parent.mkdir(parents=True, exist_ok=True)
    encoder = _Encoder()
    encoded = encoder.encode(tree, "checkpoint")
    metadata = {"format": _FORMAT, _TREE_KEY: json.dumps(encoded, allow_nan=True)}
    with atomic_path(target) as tmp:
        save_file(encoder.tensors, str(tmp), metadata=metadata)


def load_tree(path: str | Path, map_location: str | torch.device = "cpu") -> dict[str, Any]:
    """Read a checkpoint written by :func:`save_tree`.

    Raises:
        RunError: the file is missing, is not an imgrec checkpoint, or is damaged.
    """
    source = Path(path)
    if not source.is_file():
        raise RunError(f"{source}: checkpoint not found.")
    try:
        from safetensors import safe_open

        with safe_open(str(source), framework="pt", device=str(map_location)) as handle:
            metadata = handle.metadata() or {}
            tensors = {key: handle.get_tensor(key) for key in handle.keys()}  # noqa: SIM118
    except (SafetensorError, OSError, ValueError) as exc:
        raise RunError(
            f"{source}: not a readable imgrec checkpoint ({exc}). It may be damaged; "
            "delete it to restart the run from scratch."
        ) from exc
    if metadata.get("format") != _FORMAT or _TREE_KEY not in metadata:
        raise RunError(f"{source}: not an imgrec checkpoint (format {metadata.get('format')!r}).")
    tree = _decode(json.loads(metadata[_TREE_KEY]), tensors)
    if not isinstance(tree, dict):
        raise RunError(f"{source}: checkpoint root is not a mapping.")
    return tree


class SafeCheckpointIO(CheckpointIO):
    """Lightning ``CheckpointIO`` that reads and writes :func:`save_tree` files."""

    def save_checkpoint(
        self, checkpoint: dict[str, Any], path: Any, storage_options: Any | None = None
    ) -> None:
        save_tree(checkpoint, path)

    def load_checkpoint(
        self, path: Any, map_location: Any | None = None, weights_only: bool | None = None
    ) -> dict[str, Any]:
        # Tensors load on the CPU; Lightning moves them to the device itself.
        return load_tree(path, map_location="cpu")

    def remove_checkpoint(self, path: Any) -> None:
        Path(path).unlink(missing_ok=True)
