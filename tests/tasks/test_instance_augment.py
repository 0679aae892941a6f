"""Instance training's augmentation keeps masks binary: a zoom-out pads the image grey and the
masks with background (a grey-filled mask, 114 where a 0 belongs, made the mask loss negative)."""

from __future__ import annotations

import torch
from torchvision import tv_tensors
from torchvision.transforms import v2

from imgrec.tasks.detect.training import train_transform


def _zoom_out_only(img_size: int) -> v2.Transform:
    transform = train_transform(img_size)
    [zoom] = [t for t in transform.transforms if isinstance(t, v2.RandomApply)
              and isinstance(t.transforms[0], v2.RandomZoomOut)]  # fmt: skip
    zoom.p = 1.0
    return transform


def test_zoom_out_pads_masks_with_background_and_images_with_grey() -> None:
    torch.manual_seed(0)
    transform = _zoom_out_only(64)
    image = tv_tensors.Image(torch.full((3, 32, 32), 200, dtype=torch.uint8))
    mask = torch.zeros((1, 32, 32), dtype=torch.uint8)
    mask[0, 8:24, 8:24] = 1
    target = {
        "boxes": tv_tensors.BoundingBoxes(
            torch.tensor([[8.0, 8.0, 24.0, 24.0]]), format="XYXY", canvas_size=(32, 32)
        ),
        "labels": torch.tensor([1]),
        "masks": tv_tensors.Mask(mask),
    }
    padded = 0
    for _ in range(20):
        out_image, out = transform(image, target)
        values = set(torch.unique(out["masks"]).tolist())
        assert values <= {0, 1}, values
        assert int(out["masks"].sum()) > 0  # the object is still there
        padded += int((out_image == 114).any())
    assert padded > 0  # the zoom-out did pad (grey) in these draws
