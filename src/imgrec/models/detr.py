"""DETR and Conditional DETR from Hugging Face transformers behind imgrec's :class:`Detector`.

The transformer, the Hungarian matcher and the set loss are transformers' own
(``DetrForObjectDetection``, ``ConditionalDetrForObjectDetection``, built from a config: nothing
is downloaded). This module adds the imgrec surface: ``(3, H, W)`` images in [0, 1] are
normalised, resized to longest side ``img_size`` and padded into a batch with a ``pixel_mask``;
boxes go in as ``cxcywh`` normalised by their image's size and come out as ``xyxy`` pixels of
the input image; labels stay 0-based (DETR's no-object class is the extra last logit;
Conditional DETR has none, it scores each class with a sigmoid).

The CNN under the transformer is one of imgrec's backbones. transformers' own backbones
(``use_timm_backbone``, a ``ResNetConfig``) build offline only with random weights and then get
every BatchNorm frozen at identity statistics (no normalisation at all from scratch), and timm's
``BatchNormAct2d`` (EfficientNet) loses its activation; so :class:`_Body` replaces the library's
conv encoder, keeping its contract (``[(features, mask)]``).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from imgrec.errors import ModelError
from imgrec.models.detectors import _BACKBONES, Detector

__all__ = [
    "DETR_BACKBONES",
    "DETR_FAMILIES",
    "DETR_OPTIONS",
    "DetrDetector",
    "build_detr",
    "check_detr",
]

DETR_FAMILIES = ("detr", "conditional_detr")
DETR_BACKBONES = _BACKBONES  # all of imgrec's detector backbones
# imgrec option -> the transformers config field(s) it sets; None keeps the library's default.
DETR_OPTIONS: dict[str, tuple[str, ...]] = {
    "num_queries": ("num_queries",),
    "d_model": ("d_model",),
    "encoder_layers": ("encoder_layers",),
    "decoder_layers": ("decoder_layers",),
    "attention_heads": ("encoder_attention_heads", "decoder_attention_heads"),
    "ffn_dim": ("encoder_ffn_dim", "decoder_ffn_dim"),
    "auxiliary_loss": ("auxiliary_loss",),
}
_IMAGENET = ((0.485, 0.456, 0.406), (0.229, 0.224, 0.225))
_STRIDE = 32  # every backbone here ends at stride 32; padding to it keeps masks exact
_LOSS_NAMES = {"loss_ce": "classification", "loss_bbox": "bbox_l1", "loss_giou": "giou"}


@dataclass
class _Limits:
    """What eval mode keeps (``Detector``'s threshold properties read and write these)."""

    score_thresh: float = 0.05
    nms_thresh: float = 0.5  # recorded for the common surface; a set predictor needs no NMS
    detections_per_img: int = 100


class _Body(nn.Module):
    """A CNN's last (stride 32) feature map with the pixel mask shrunk to it: ``[(x, mask)]``,
    what DETR's own conv encoder returns. ``model`` is the CNN (DETR's ``freeze_backbone``
    reads that name). With ``norm_eval`` its BatchNorm layers keep their ImageNet statistics."""

    def __init__(self, model: nn.Module, channels: int, *, norm_eval: bool) -> None:
        super().__init__()
        self.model = model
        self.intermediate_channel_sizes = [channels]
        self.norm_eval = norm_eval

    def train(self, mode: bool = True) -> _Body:
        super().train(mode)
        if self.norm_eval:
            for m in self.model.modules():
                if isinstance(m, nn.BatchNorm2d):
                    m.eval()
        return self

    def forward(
        self, pixel_values: torch.Tensor, pixel_mask: torch.Tensor
    ) -> list[tuple[torch.Tensor, torch.Tensor]]:
        x = self.model(pixel_values)
        if isinstance(x, list | tuple):  # timm features_only
            x = x[-1]
        mask = F.interpolate(pixel_mask[None].float(), size=x.shape[-2:]).to(torch.bool)[0]
        return [(x, mask)]


def _body(backbone: str, *, pretrained: bool) -> tuple[_Body, tuple[tuple[float, ...], ...]]:
    """The backbone and the mean/std its weights expect."""
    if backbone == "efficientnet_lite0":
        import timm

        from imgrec.models.pretrained_lite import ARCH, MEAN, STD, create_lite0

        kwargs: dict[str, Any] = {"features_only": True, "out_indices": (4,)}
        lite: Any = (
            create_lite0(**kwargs)
            if pretrained
            else timm.create_model(ARCH, pretrained=False, bn_eps=1e-3, **kwargs)
        )
        channels = int(lite.feature_info.channels()[-1])
        return _Body(lite, channels, norm_eval=pretrained), (MEAN, STD)
    import torchvision

    net = getattr(torchvision.models, backbone)(weights=None)
    if backbone.startswith("resnet"):
        cnn: nn.Module = nn.Sequential(*list(net.children())[:-2])  # without avgpool and fc
        channels = 512 if backbone in ("resnet18", "resnet34") else 2048
    else:
        cnn = net.features
        channels = int(net.features[-1].out_channels)
    return _Body(cnn, channels, norm_eval=False), _IMAGENET


def _config(family: str, num_classes: int, options: dict[str, Any]) -> Any:
    import transformers

    # the configs take their fields as **kwargs (typed as the dataclass fields only)
    lib: Any = transformers

    fields: dict[str, Any] = {"auxiliary_loss": True}  # per-layer losses, as in the DETR paper
    for key, value in options.items():
        if value is None:
            continue
        if key == "auxiliary_loss":
            if not isinstance(value, bool):
                raise ModelError(f"option auxiliary_loss must be true or false, got {value!r}.")
        elif isinstance(value, bool) or not isinstance(value, int) or value < 1:
            raise ModelError(f"option {key} must be a positive whole number, got {value!r}.")
        fields.update(dict.fromkeys(DETR_OPTIONS[key], value))
    # A throwaway two-layer ResNet stands in for the backbone while the model is built; the
    # real one replaces it (see the module docstring).
    stub = lib.ResNetConfig(embedding_size=8, hidden_sizes=[8], depths=[1], out_features=["stage1"])
    kind = lib.DetrConfig if family == "detr" else lib.ConditionalDetrConfig
    cfg = kind(backbone_config=stub, num_labels=num_classes, **fields)
    heads = int(cfg.encoder_attention_heads)
    if cfg.d_model % heads or cfg.d_model % 2:
        raise ModelError(
            f"d_model={cfg.d_model} must be even and divisible by attention_heads={heads}."
        )
    return cfg


class DetrDetector(Detector):
    """DETR / Conditional DETR with the torchvision families' surface (module docstring)."""

    mean: torch.Tensor
    std: torch.Tensor

    def __init__(
        self,
        net: nn.Module,
        *,
        family: str,
        num_classes: int,
        options: dict[str, Any],
        img_size: int,
        mean_std: tuple[tuple[float, ...], ...],
    ) -> None:
        super().__init__(net, family=family, num_classes=num_classes, options=options)
        self.offset = 0
        self.img_size = img_size
        self.limits = _Limits()
        self.register_buffer("mean", torch.tensor(mean_std[0]).view(3, 1, 1), persistent=False)
        self.register_buffer("std", torch.tensor(mean_std[1]).view(3, 1, 1), persistent=False)

    def _thresholds(self) -> Any:
        return self.limits

    def _backbone(self) -> nn.Module:
        net: Any = self.net
        body: nn.Module = net.model.backbone
        return body

    def _batch(self, images: list[torch.Tensor]) -> tuple[torch.Tensor, torch.Tensor]:
        """``(B, 3, H, W)`` normalised, zero-padded pixels and the ``(B, H, W)`` valid mask."""
        if not images:
            raise ModelError("a detector needs at least one image.")
        resized = []
        for image in images:
            if image.dim() != 3 or image.shape[0] != 3:
                raise ModelError(f"images must be (3, H, W) tensors, got {tuple(image.shape)}.")
            h, w = image.shape[-2:]
            scale = self.img_size / max(h, w)
            size = (max(1, round(h * scale)), max(1, round(w * scale)))
            if size != (h, w):
                image = F.interpolate(image[None].float(), size=size, mode="bilinear")[0]
            resized.append((image.float() - self.mean) / self.std)
        pad_h = math.ceil(max(r.shape[1] for r in resized) / _STRIDE) * _STRIDE
        pad_w = math.ceil(max(r.shape[2] for r in resized) / _STRIDE) * _STRIDE
        pixels = resized[0].new_zeros(len(resized), 3, pad_h, pad_w)
        mask = torch.zeros(len(resized), pad_h, pad_w, dtype=torch.long, device=pixels.device)
        for i, r in enumerate(resized):
            pixels[i, :, : r.shape[1], : r.shape[2]] = r
            mask[i, : r.shape[1], : r.shape[2]] = 1
        return pixels, mask

    def forward(
        self, images: list[torch.Tensor], targets: list[dict[str, torch.Tensor]] | None = None
    ) -> Any:
        from torchvision.ops import box_convert

        pixels, mask = self._batch(images)
        # (w, h, w, h) of each input image: boxes are normalised by the image they belong to
        scales = [image.new_tensor([image.shape[-1], image.shape[-2]] * 2) for image in images]
        if not self.training:
            out = self.net(pixel_values=pixels, pixel_mask=mask)
            return self._detections(out.logits, out.pred_boxes, scales)
        if targets is None or len(targets) != len(images):
            raise ModelError("in training mode a detector needs one target dict per image.")
        labels = [
            {
                "class_labels": t["labels"].to(pixels.device, torch.long),
                "boxes": box_convert(
                    t["boxes"].to(pixels).reshape(-1, 4) / s, "xyxy", "cxcywh"
                ).clamp(0, 1),
            }
            for t, s in zip(targets, scales, strict=True)
        ]
        out = self.net(pixel_values=pixels, pixel_mask=mask, labels=labels)
        return self._losses(out.loss_dict)

    def _losses(self, parts: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
        """transformers' loss parts, weighted as its total loss weighs them (their sum is that
        loss); the auxiliary decoder layers' parts summed per kind (``aux_giou`` ...)."""
        net: Any = self.net
        cfg = net.config
        weight = {"loss_ce": 1.0, "loss_bbox": cfg.bbox_loss_coefficient}
        weight["loss_giou"] = cfg.giou_loss_coefficient
        losses: dict[str, torch.Tensor] = {}
        for key, value in parts.items():
            base, _, layer = key.rpartition("_") if key[-1].isdigit() else (key, "", "")
            if base not in weight:  # cardinality_error: a logged count, not a loss
                continue
            name = ("aux_" if layer else "") + _LOSS_NAMES[base]
            part = value * weight[base]
            losses[name] = losses[name] + part if name in losses else part
        return losses

    def _detections(
        self, logits: torch.Tensor, boxes: torch.Tensor, scales: list[torch.Tensor]
    ) -> list[dict[str, torch.Tensor]]:
        from torchvision.ops import box_convert

        k, keep = self.num_classes, self.limits.detections_per_img
        out = []
        for logit, box, scale in zip(logits, boxes, scales, strict=True):
            if self.architecture == "detr":  # softmax with a no-object class last
                scores, labels = logit.softmax(-1)[:, :k].max(-1)
                query = torch.arange(len(scores), device=scores.device)
            else:  # a sigmoid per class: the best (query, class) pairs
                flat = logit.sigmoid().flatten()
                scores, index = flat.topk(min(keep, flat.numel()))
                query, labels = index // k, index % k
            ok = scores >= self.limits.score_thresh
            scores, labels, query = scores[ok], labels[ok], query[ok]
            order = scores.argsort(descending=True)[:keep]
            xyxy = box_convert(box[query[order]], "cxcywh", "xyxy") * scale
            xyxy = torch.minimum(xyxy.clamp(min=0), scale)
            out.append({"boxes": xyxy, "scores": scores[order], "labels": labels[order]})
        return out


def check_detr(family: str, *, backbone: str, pretrained: bool) -> None:
    """What :func:`build_detr` refuses before building: an unknown backbone, ``pretrained``
    on a backbone without offline ImageNet weights."""
    if backbone not in DETR_BACKBONES:
        raise ModelError(
            f"unknown backbone '{backbone}' for {family}; use one of {', '.join(DETR_BACKBONES)}."
        )
    if pretrained and backbone != "efficientnet_lite0":
        raise ModelError(
            f"no offline ImageNet weights for {family} on '{backbone}'; use "
            "-o backbone=efficientnet_lite0 with --pretrained, or start from --weights FILE."
        )


def build_detr(
    family: str,
    *,
    num_classes: int,
    img_size: int,
    backbone: str,
    pretrained: bool,
    options: dict[str, Any],
) -> DetrDetector:
    """``family`` (``detr`` | ``conditional_detr``) on ``backbone``; ``options`` are
    :data:`DETR_OPTIONS` keys (None: the library's default). The detector's ``options`` record
    every resolved value, so ``create_detector(family, **detector.options)`` rebuilds it."""
    check_detr(family, backbone=backbone, pretrained=pretrained)
    from transformers import ConditionalDetrForObjectDetection, DetrForObjectDetection

    cfg = _config(family, num_classes, options)
    kind = DetrForObjectDetection if family == "detr" else ConditionalDetrForObjectDetection
    net: Any = kind(cfg)
    body, mean_std = _body(backbone, pretrained=pretrained)
    net.model.backbone = body
    net.model.input_projection = nn.Conv2d(body.intermediate_channel_sizes[-1], cfg.d_model, 1)
    resolved = {key: getattr(cfg, fields[0]) for key, fields in DETR_OPTIONS.items()}
    return DetrDetector(
        net,
        family=family,
        num_classes=num_classes,
        options={"backbone": backbone, **resolved},
        img_size=img_size,
        mean_std=mean_std,
    )
