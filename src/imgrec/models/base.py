"""The surface every imgrec classifier has, whatever library built it (timm's model contract).

``forward(x) == forward_head(forward_features(x))``. The split is what the rest of imgrec relies
on: embeddings are ``forward_head(features, pre_logits=True)``, transfer learning swaps
``get_classifier()`` with ``reset_classifier``, freezing and per-group learning rates use
``backbone_parameters()`` / ``head_parameters()``, and Grad-CAM hooks ``default_cam_layer``.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import TYPE_CHECKING, Any

import torch
from torch import nn

if TYPE_CHECKING:
    from imgrec.models.weights import LoadReport

__all__ = ["ImageClassifier"]


class ImageClassifier(nn.Module):
    """Base class of every model :func:`imgrec.models.create_model` returns.

    Subclasses implement :meth:`forward_features`, :meth:`forward_head`, :meth:`get_classifier`
    and :meth:`reset_classifier`, and set ``num_features``, ``num_classes`` and
    ``default_cam_layer``. ``architecture`` and ``options`` are filled in by ``create_model``:
    ``create_model(m.architecture, num_classes=..., in_chans=..., img_size=..., **m.options)``
    rebuilds the same network.

    Attributes:
        architecture: registry name, e.g. ``"resnet18"`` or ``"tv:mobilenet_v3_small"``.
        options: the resolved builder options, JSON-serialisable.
        num_features: width ``F`` of the pooled features ``forward_head(..., pre_logits=True)``.
        num_classes: number of logits ``K``.
        default_cam_layer: dotted module name (``model.get_submodule(name)``) whose output suits
            Grad-CAM: the last convolutional stage for CNNs, the last block's ``norm1`` for ViTs.
        load_report: what ``create_model`` started the weights from (a local file or published
            weights) and which head tensors start afresh; None for a model built from scratch.
    """

    architecture: str
    options: dict[str, Any]
    num_features: int
    num_classes: int
    default_cam_layer: str
    load_report: LoadReport | None

    def __init__(self) -> None:
        super().__init__()
        self.architecture = type(self).__name__
        self.options = {}
        self.load_report = None

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Images ``(B, C, H, W)`` -> logits ``(B, K)``."""
        return self.forward_head(self.forward_features(x))

    def forward_features(self, x: torch.Tensor) -> torch.Tensor:
        """Images ``(B, C, H, W)`` -> unpooled ``(B, C', h, w)`` maps, or ``(B, N, D)`` tokens."""
        raise NotImplementedError

    def forward_head(self, features: torch.Tensor, *, pre_logits: bool = False) -> torch.Tensor:
        """Features -> logits ``(B, K)``, or pooled features ``(B, F)`` when ``pre_logits``."""
        raise NotImplementedError

    def get_classifier(self) -> nn.Module:
        """The layer(s) mapping pooled features to logits (what ``reset_classifier`` swaps)."""
        raise NotImplementedError

    def reset_classifier(self, num_classes: int) -> None:
        """Replace the classifier by a freshly initialised one with ``num_classes`` outputs."""
        raise NotImplementedError

    def head_parameters(self) -> Iterator[nn.Parameter]:
        """Parameters of :meth:`get_classifier`."""
        yield from self.get_classifier().parameters()

    def backbone_parameters(self) -> Iterator[nn.Parameter]:
        """Every parameter not in :meth:`head_parameters` (together: all, without overlap)."""
        head = {id(p) for p in self.head_parameters()}
        yield from (p for p in self.parameters() if id(p) not in head)

    def freeze_backbone(self, frozen: bool = True) -> None:
        """Stop (or restart) gradients for the backbone; the head always stays trainable.

        Only ``requires_grad`` changes: batch-norm statistics still update in ``train()`` mode.
        """
        for p in self.backbone_parameters():
            p.requires_grad_(not frozen)
        for p in self.head_parameters():
            p.requires_grad_(True)
