"""A model summary: its layers, their output shapes, parameters and multiply-adds.

Multiply-adds come from :class:`torch.utils.flop_counter.FlopCounterMode`, which counts the
matrix products of convolutions, linear layers and attention (``scaled_dot_product_attention``
included) per module; one multiply-add is two FLOPs. Element-wise work (activations,
normalisation, pooling) is not counted, as in the papers' MAC figures.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any

import torch
from torch import nn
from torch.utils.flop_counter import FlopCounterMode

__all__ = ["LayerRow", "ModelSummary", "summarize"]


@dataclass
class LayerRow:
    """One leaf layer as the forward pass used it."""

    name: str
    kind: str
    output_shape: list[int]
    params: int
    macs: int


@dataclass
class ModelSummary:
    """Totals and the per-layer rows; ``render()`` gives the terminal table."""

    architecture: str
    input_shape: list[int]
    total_params: int
    trainable_params: int
    total_macs: int
    layers: list[LayerRow] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    def render(self) -> str:
        """A fixed-width table with one line per layer and the totals underneath."""
        width = max([len(r.name) for r in self.layers] + [5])
        lines = [
            f"{self.architecture}  input {tuple(self.input_shape)}",
            f"{'layer':<{width}}  {'type':<22} {'output shape':<20} {'params':>11} {'MACs':>14}",
        ]
        for r in self.layers:
            shape = str(tuple(r.output_shape))
            lines.append(
                f"{r.name:<{width}}  {r.kind[:22]:<22} {shape:<20} {r.params:>11,} {r.macs:>14,}"
            )
        lines.append(
            f"total: {self.total_params:,} parameters ({self.trainable_params:,} trainable), "
            f"{self.total_macs:,} multiply-adds ({self.total_macs / 1e6:.2f} M) per image"
        )
        return "\n".join(lines)


def summarize(
    model: nn.Module, *, input_size: tuple[int, int, int], as_list: bool = False
) -> ModelSummary:
    """Run one zero image of ``input_size`` = ``(C, H, W)`` through ``model`` and summarise it.

    Only leaf modules that the forward pass calls are listed (in call order); a module called
    twice is listed once, with its first output shape and the multiply-adds of all calls.
    ``as_list``: the model takes a list of ``(C, H, W)`` images (detectors), not a batch.
    """
    shapes: dict[str, list[int]] = {}
    order: list[str] = []
    handles = []
    for name, module in model.named_modules():
        if name and not any(True for _ in module.children()):

            def hook(_m: nn.Module, _i: Any, out: Any, name: str = name) -> None:
                if name not in shapes:
                    tensor = out[0] if isinstance(out, tuple | list) else out
                    shapes[name] = list(tensor.shape) if isinstance(tensor, torch.Tensor) else []
                    order.append(name)

            handles.append(module.register_forward_hook(hook))
    param = next(model.parameters(), None)
    x = torch.zeros(1, *input_size, device=param.device if param is not None else "cpu")
    was_training = model.training
    counter = FlopCounterMode(display=False)
    try:
        model.eval()
        with torch.no_grad(), counter:
            model(list(x) if as_list else x)
    finally:
        for handle in handles:
            handle.remove()
        model.train(was_training)
    root = type(model).__name__
    flops = {
        key.removeprefix(f"{root}."): sum(ops.values())
        for key, ops in counter.get_flop_counts().items()
    }
    modules = dict(model.named_modules())
    rows = [
        LayerRow(
            name=name,
            kind=type(modules[name]).__name__,
            output_shape=shapes[name],
            params=sum(p.numel() for p in modules[name].parameters()),
            macs=int(flops.get(name, 0)) // 2,
        )
        for name in order
    ]
    return ModelSummary(
        architecture=str(getattr(model, "architecture", type(model).__name__)),
        input_shape=[1, *input_size],
        total_params=sum(p.numel() for p in model.parameters()),
        trainable_params=sum(p.numel() for p in model.parameters() if p.requires_grad),
        total_macs=int(counter.get_total_flops()) // 2,
        layers=rows,
    )
