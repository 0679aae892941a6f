"""Running a Mask R-CNN on images of any size with bounded memory; masks come back as RLE.

torchvision's Mask R-CNN pastes every detection's mask into a float ``(N, 1, H, W)`` tensor at
the input's size: 100 detections on a 4000 x 3000 photo would be 4.8 GB. The model looks at the
image with its longest side at ``img_size`` anyway, so the image is shrunk to that first; then
each kept detection's mask is scaled to the original size one at a time and run-length encoded
at once (COCO RLE), so no more than one full-size mask exists at a time.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import torch
from PIL import Image

from imgrec.data.detection.masks import encode_mask

__all__ = ["InstanceOutput", "segment_instances"]


@dataclass
class InstanceOutput:
    """One image's instances: ``boxes (N, 4)`` xyxy, ``scores``, ``labels`` and ``rles`` (COCO
    RLE dicts, ``counts`` as str) at the original image's size."""

    boxes: np.ndarray
    scores: np.ndarray
    labels: np.ndarray
    rles: list[dict[str, Any]] = field(default_factory=list)


def _shrunk(pixels: np.ndarray, img_size: int) -> tuple[torch.Tensor, float, float]:
    """The image as a float tensor with its longest side at most ``img_size``, and the x and y
    factors from its pixels back to the original's."""
    h, w = pixels.shape[:2]
    scale = img_size / max(h, w)
    if scale < 1.0:
        size = (max(1, round(w * scale)), max(1, round(h * scale)))
        pixels = np.asarray(Image.fromarray(pixels).resize(size, Image.Resampling.BILINEAR))
    tensor = torch.from_numpy(np.array(pixels, copy=True)).permute(2, 0, 1).float().div(255)
    return tensor, w / tensor.shape[2], h / tensor.shape[1]


def _full_size_rle(prob: torch.Tensor, height: int, width: int) -> dict[str, Any]:
    """One ``(h, w)`` mask probability map scaled to ``(height, width)``, thresholded, encoded."""
    if prob.shape != (height, width):
        prob = torch.nn.functional.interpolate(
            prob[None, None], size=(height, width), mode="bilinear", align_corners=False
        )[0, 0]
    return encode_mask((prob > 0.5).cpu().numpy())


@torch.inference_mode()
def segment_instances(
    model: torch.nn.Module,
    images: Sequence[np.ndarray],
    *,
    img_size: int,
    device: str | torch.device = "cpu",
    min_score: float = 0.0,
    batch: int = 4,
) -> list[InstanceOutput]:
    """Instances of each uint8 RGB ``(H, W, 3)`` image, scores ``>= min_score``, masks as RLE.

    ``model`` is a :func:`~imgrec.models.instance_segmenters.create_instance_segmenter` model:
    its own score threshold, NMS and detections-per-image apply first.
    """
    model.eval().to(device)
    out: list[InstanceOutput] = []
    for start in range(0, len(images), batch):
        chunk = images[start : start + batch]
        shrunk = [_shrunk(np.asarray(a), img_size) for a in chunk]
        dets = model([t.to(device) for t, _, _ in shrunk])
        for pixels, (_, fx, fy), det in zip(chunk, shrunk, dets, strict=True):
            keep = det["scores"] >= min_score
            boxes = det["boxes"][keep].float().cpu()
            boxes *= torch.tensor([fx, fy, fx, fy])
            probs = det["masks"][keep][:, 0]
            height, width = np.asarray(pixels).shape[:2]
            out.append(
                InstanceOutput(
                    boxes=boxes.numpy(),
                    scores=det["scores"][keep].float().cpu().numpy(),
                    labels=det["labels"][keep].cpu().numpy(),
                    rles=[_full_size_rle(p, height, width) for p in probs],
                )
            )
            del probs
    return out
