"""Heatmaps for predictions: which pixels made the model say class ``k``.

One entry point, :func:`compute_heatmaps`, for every method:

- ``cam``: class activation map (Zhou et al., 2016), the classifier's weights for class ``k``
  times the last feature maps. Only for models ending in global average pooling + linear.
- ``gradcam``, ``gradcam++``, ``scorecam``, ``eigencam``, ``layercam``: pytorch-grad-cam on a
  target layer (``model.default_cam_layer`` unless one is named; ViT tokens are laid out on their
  patch grid, see :mod:`imgrec.explain.layers`).
- ``lime``, ``occlusion``: perturbation methods that need no layer and work for any model
  (:mod:`imgrec.explain.perturb`).

Every map is ``(H, W)`` float32 at the model's input size, in [0, 1], 1 at the strongest
evidence for the class. The layer methods are min-max scaled as pytorch-grad-cam does (the
weakest pixel is 0); LIME and occlusion keep 0 for "no evidence" (negative evidence is cut to 0)
and divide by the peak. A map that is zero everywhere means the method found no positive
evidence (e.g. LIME on an untrained model can give that).
"""

from __future__ import annotations

import contextlib
import difflib
import io
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F

from imgrec.data.augment import normalize
from imgrec.errors import ConfigError, ModelError
from imgrec.explain.layers import find_layer, spatial_transform
from imgrec.models.base import ImageClassifier
from imgrec.models.card import Preprocessing

__all__ = ["CAM_METHODS", "LAYER_METHODS", "METHODS", "check_method", "compute_heatmaps"]

CAM_METHODS = ("gradcam", "gradcam++", "scorecam", "eigencam", "layercam")
LAYER_METHODS = ("cam", *CAM_METHODS)  # the methods that look at one layer
METHODS = (*LAYER_METHODS, "lime", "occlusion")
_ALIASES = {
    "grad-cam": "gradcam",
    "grad-cam++": "gradcam++",
    "gradcampp": "gradcam++",
    "gradcamplusplus": "gradcam++",
    "score-cam": "scorecam",
    "eigen-cam": "eigencam",
    "layer-cam": "layercam",
}


def check_method(
    method: str,
    supported: Sequence[str] = METHODS,
    *,
    cannot: str = "",
    valid: str = "Valid",
) -> str:
    """The canonical name of ``method`` (case and dashes ignored) if it is one of ``supported``.

    ``cannot`` and ``valid`` word the error for a task's narrower list (``"a segmentation run"``,
    ``"Segmentation runs support"``).

    Raises:
        ConfigError: any other method; the message lists the valid ones.
    """
    key = method.strip().lower()
    key = _ALIASES.get(key, key)
    if key not in supported:
        near = difflib.get_close_matches(key, supported, n=1)
        hint = f" Did you mean '{near[0]}'?" if near else ""
        what = f"method '{method}' cannot explain {cannot}" if cannot else (
            f"unknown explanation method '{method}'"
        )  # fmt: skip
        raise ConfigError(f"{what}.{hint} {valid}: {', '.join(supported)}.")
    return key


def to_input(
    pixels: np.ndarray, preprocessing: Preprocessing, device: torch.device
) -> torch.Tensor:
    """uint8 ``(B, H, W, 3)`` -> the normalised float input ``(B, 3, H, W)`` on ``device``."""
    batch = torch.from_numpy(np.array(pixels, dtype=np.uint8)).permute(0, 3, 1, 2).to(device)
    return normalize(batch, preprocessing.mean, preprocessing.std, dtype=torch.float32)


def unit_scale(maps: np.ndarray) -> np.ndarray:
    """Negative values to 0, then each ``(H, W)`` map of ``(B, H, W)`` divided by its maximum."""
    maps = np.maximum(np.asarray(maps, dtype=np.float32), 0.0)
    peak = maps.reshape(len(maps), -1).max(axis=1).reshape(-1, 1, 1)
    return np.where(peak > 0, maps / np.where(peak > 0, peak, 1.0), 0.0).astype(np.float32)


def compute_heatmaps(
    model: ImageClassifier,
    pixels: np.ndarray,
    targets: Sequence[int],
    *,
    preprocessing: Preprocessing,
    method: str = "gradcam",
    layer: str | None = None,
    options: Mapping[str, Any] | None = None,
    batch_size: int = 32,
) -> np.ndarray:
    """Heatmaps of ``method`` for class ``targets[i]`` of image ``pixels[i]``.

    Args:
        model: A classifier (its mode is restored afterwards).
        pixels: uint8 ``(B, H, W, 3)`` images, already resized to the model's input size.
        targets: ``B`` class indices to explain.
        preprocessing: The card's preprocessing (mean/std normalisation).
        method: One of :data:`METHODS`.
        layer: Dotted module name for the layer methods; ``None``: ``model.default_cam_layer``.
        options: Method options: ``lime``: ``num_samples`` (500), ``n_segments`` (50), ``seed``;
            ``occlusion``: ``window``, ``stride``; ``scorecam``: ``batch_size`` (64).
        batch_size: Images per pass of the layer methods (bounds memory: Score-CAM holds
            ``batch_size x channels`` masked copies of the images at once).

    Returns:
        float32 ``(B, H, W)`` in [0, 1].

    Raises:
        ConfigError: unknown method, or ``targets`` does not match the images.
        ModelError: unknown layer, a layer without a spatial map, or ``cam`` on a model whose
            head is not global average pooling + linear.
    """
    method = check_method(method)
    opts = dict(options or {})
    if pixels.ndim != 4 or pixels.shape[-1] != 3 or len(targets) != len(pixels):
        raise ConfigError(
            f"need uint8 images (B, H, W, 3) and one target each; got {pixels.shape} and "
            f"{len(targets)} targets."
        )
    bad = [t for t in targets if not 0 <= int(t) < model.num_classes]
    if bad:
        raise ConfigError(f"class index {bad[0]} out of range for {model.num_classes} classes.")
    if len(pixels) > batch_size:
        return np.concatenate(
            [
                compute_heatmaps(
                    model,
                    pixels[i : i + batch_size],
                    targets[i : i + batch_size],
                    preprocessing=preprocessing,
                    method=method,
                    layer=layer,
                    options=options,
                    batch_size=batch_size,
                )
                for i in range(0, len(pixels), batch_size)
            ]
        )
    device = next(model.parameters()).device
    was_training = model.training
    model.eval()
    try:
        if method in ("lime", "occlusion"):
            from imgrec.explain import perturb

            run = perturb.lime_map if method == "lime" else perturb.occlusion_map
            maps = [
                run(model, image, int(t), preprocessing=preprocessing, **opts)
                for image, t in zip(pixels, targets, strict=True)
            ]
            return unit_scale(np.stack(maps))
        x = to_input(pixels, preprocessing, device)
        if method == "cam":
            return _class_activation_map(model, x, targets, layer)
        return _grad_cam_family(model, x, targets, method, layer, opts)
    finally:
        model.train(was_training)


def _grad_cam_family(
    model: ImageClassifier,
    x: torch.Tensor,
    targets: Sequence[int],
    method: str,
    layer: str | None,
    opts: dict[str, Any],
) -> np.ndarray:
    import pytorch_grad_cam as pgc
    from pytorch_grad_cam.utils.model_targets import ClassifierOutputTarget

    classes = {
        "gradcam": pgc.GradCAM,
        "gradcam++": pgc.GradCAMPlusPlus,
        "scorecam": pgc.ScoreCAM,
        "eigencam": pgc.EigenCAM,
        "layercam": pgc.LayerCAM,
    }
    _, module = find_layer(model, layer)
    reshape = spatial_transform(model, module, (x.shape[2], x.shape[3]))
    cam = classes[method](model=model, target_layers=[module], reshape_transform=reshape)
    cam.batch_size = int(opts.get("batch_size", 64))  # Score-CAM: masked images per forward
    try:
        # Score-CAM draws a tqdm bar on stderr for every image; explanations stay quiet.
        with contextlib.redirect_stderr(io.StringIO()), torch.enable_grad():
            maps = cam(input_tensor=x, targets=[ClassifierOutputTarget(int(t)) for t in targets])
    finally:
        cam.activations_and_grads.release()
    return unit_scale(np.nan_to_num(maps))


def _class_activation_map(
    model: ImageClassifier, x: torch.Tensor, targets: Sequence[int], layer: str | None
) -> np.ndarray:
    name = getattr(model, "architecture", type(model).__name__)
    if layer is not None:
        raise ConfigError(
            "cam always uses the last feature maps (the classifier's input); drop --layer, or "
            "use gradcam to look at another layer."
        )
    with torch.no_grad():
        features = model.forward_features(x)
        head = model.get_classifier()
        usable = (
            isinstance(head, torch.nn.Linear)
            and features.ndim == 4
            and head.in_features == features.shape[1]
            and torch.allclose(
                head(features.mean(dim=(2, 3))), model.forward_head(features), rtol=1e-3, atol=1e-4
            )
        )
        if not usable or not isinstance(head, torch.nn.Linear):
            raise ModelError(
                f"cam needs a model whose head is global average pooling + one linear layer; "
                f"{name} has another head. Use gradcam (or gradcam++, layercam), which work "
                "for any convolutional or transformer model."
            )
        weights = head.weight[torch.as_tensor(list(targets), device=x.device)]  # (B, C)
        maps = torch.einsum("bc,bchw->bhw", weights, features)
        # Post-processed as pytorch-grad-cam does its maps (ReLU, upsample, min-max), so that on
        # these models cam and gradcam agree exactly (Grad-CAM's weights are the fc row / (h*w)).
        maps = F.interpolate(
            maps.clamp(min=0)[:, None], size=x.shape[2:], mode="bilinear", align_corners=False
        )[:, 0]
        maps = maps - maps.flatten(1).min(dim=1).values[:, None, None]
    return unit_scale(maps.float().cpu().numpy())
