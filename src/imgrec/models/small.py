"""Small models that train in minutes on a CPU: ``simple_cnn`` and ``mlp``."""

from __future__ import annotations

import itertools

import torch
from torch import nn

from imgrec.errors import ModelError
from imgrec.models.base import ImageClassifier
from imgrec.models.registry import register_model

__all__ = ["MLP", "SimpleCNN", "mlp", "simple_cnn"]


def _conv_bn_relu(cin: int, cout: int) -> list[nn.Module]:
    # ReLU not in-place: Grad-CAM hooks the activation of `default_cam_layer` and keeps it.
    return [nn.Conv2d(cin, cout, 3, padding=1, bias=False), nn.BatchNorm2d(cout), nn.ReLU()]


class SimpleCNN(ImageClassifier):
    """``depth`` stages of two conv-BN-ReLU blocks and a 2x2 max-pool (channels ``width * 2**i``),
    then the classic dense head: the feature map average-pooled to a ``grid`` x ``grid`` layout,
    flattened, a ``hidden``-wide ReLU layer with dropout, and the linear classifier.

    Keeping a coarse spatial layout matters: a global-average-pooled head throws away *where*
    features are (sleeves vs. body, corners vs. edges) and learned Fashion-MNIST and the shapes
    data several times slower. At width 32, depth 2 and 28x28x3 inputs (a 7x7 map, so the pooling
    is the identity) the network costs about 19.1M multiply-adds per image.
    """

    def __init__(
        self,
        *,
        num_classes: int,
        in_chans: int,
        width: int,
        depth: int,
        dropout: float,
        hidden: int = 128,
        grid: int = 7,
    ):
        super().__init__()
        chans = [in_chans] + [width * 2**i for i in range(depth)]
        self.stages = nn.Sequential(
            *(
                nn.Sequential(
                    *_conv_bn_relu(cin, cout), *_conv_bn_relu(cout, cout), nn.MaxPool2d(2)
                )
                for cin, cout in itertools.pairwise(chans)
            )
        )
        self.num_features = hidden
        self.num_classes = num_classes
        self.pool = nn.Sequential(nn.AdaptiveAvgPool2d(grid), nn.Flatten(1))
        self.hidden = nn.Sequential(nn.Linear(chans[-1] * grid * grid, hidden), nn.ReLU())
        self.dropout = nn.Dropout(dropout)
        self.fc = nn.Linear(self.num_features, num_classes)
        self.default_cam_layer = f"stages.{depth - 1}.5"  # the last ReLU, before the pool

    def forward_features(self, x: torch.Tensor) -> torch.Tensor:
        return self.stages(x)

    def forward_head(self, features: torch.Tensor, *, pre_logits: bool = False) -> torch.Tensor:
        x = self.hidden(self.pool(features))
        return x if pre_logits else self.fc(self.dropout(x))

    def get_classifier(self) -> nn.Module:
        return self.fc

    def reset_classifier(self, num_classes: int) -> None:
        self.num_classes = num_classes
        self.fc = nn.Linear(self.num_features, num_classes)


class MLP(ImageClassifier):
    """Flattened pixels -> ``hidden`` Linear-ReLU-Dropout layers -> linear classifier.

    No batch norm: it would fail on a last training batch of one image.

    ``forward_features`` returns the last hidden activations ``(B, F)``; there is no spatial map,
    so ``default_cam_layer`` names the last hidden block (Grad-CAM degenerates to one value).
    """

    def __init__(
        self,
        *,
        num_classes: int,
        in_chans: int,
        img_size: int,
        hidden: tuple[int, ...],
        dropout: float,
    ) -> None:
        super().__init__()
        self.input_shape = (in_chans, img_size, img_size)
        dims = [in_chans * img_size * img_size, *hidden]
        self.layers = nn.Sequential(
            nn.Flatten(1),
            *(
                nn.Sequential(nn.Linear(a, b), nn.ReLU(), nn.Dropout(dropout))
                for a, b in itertools.pairwise(dims)
            ),
        )
        self.num_features = dims[-1]
        self.num_classes = num_classes
        self.fc = nn.Linear(self.num_features, num_classes)
        self.default_cam_layer = f"layers.{len(hidden)}" if hidden else "layers.0"

    def forward_features(self, x: torch.Tensor) -> torch.Tensor:
        if tuple(x.shape[1:]) != self.input_shape:
            raise ModelError(
                f"mlp expects images of shape (B, {', '.join(map(str, self.input_shape))}), got "
                f"{tuple(x.shape)}; build it with the img_size/in_chans of the data."
            )
        return self.layers(x)

    def forward_head(self, features: torch.Tensor, *, pre_logits: bool = False) -> torch.Tensor:
        return features if pre_logits else self.fc(features)

    def get_classifier(self) -> nn.Module:
        return self.fc

    def reset_classifier(self, num_classes: int) -> None:
        self.num_classes = num_classes
        self.fc = nn.Linear(self.num_features, num_classes)


@register_model
def simple_cnn(
    *,
    num_classes: int,
    in_chans: int = 3,
    img_size: int = 224,
    width: int = 32,
    depth: int = 2,
    dropout: float = 0.25,
    hidden: int = 128,
) -> ImageClassifier:
    """The beginner's CNN: ``depth`` stages of conv-BN-ReLU x2 + max-pool, then a dense head
    (7x7 pooled map, ``hidden`` ReLU units, dropout, linear)."""
    if width < 1 or depth < 1 or hidden < 1 or not 0.0 <= dropout < 1.0:
        raise ModelError(
            f"simple_cnn needs width >= 1, depth >= 1, hidden >= 1, 0 <= dropout < 1; got "
            f"width={width}, depth={depth}, hidden={hidden}, dropout={dropout}."
        )
    if img_size < 2**depth:
        raise ModelError(
            f"simple_cnn depth={depth} halves the image {depth} times: img_size must "
            f"be at least {2**depth}, got {img_size}."
        )
    return SimpleCNN(
        num_classes=num_classes,
        in_chans=in_chans,
        width=width,
        depth=depth,
        dropout=dropout,
        hidden=hidden,
    )


@register_model
def mlp(
    *,
    num_classes: int,
    in_chans: int = 3,
    img_size: int = 224,
    hidden: tuple[int, ...] = (512, 256),
    dropout: float = 0.2,
) -> ImageClassifier:
    """A feed-forward network on raw pixels (the input size is fixed by ``img_size``)."""
    if any(h < 1 for h in hidden) or not 0.0 <= dropout < 1.0:
        raise ModelError(
            f"mlp needs positive hidden sizes and 0 <= dropout < 1; got "
            f"hidden={hidden}, dropout={dropout}."
        )
    return MLP(
        num_classes=num_classes,
        in_chans=in_chans,
        img_size=img_size,
        hidden=hidden,
        dropout=dropout,
    )
