"""``vit_tiny``: timm's VisionTransformer at ViT-Ti width (192 wide, 3 heads), any image size."""

from __future__ import annotations

from imgrec.errors import ModelError
from imgrec.models.base import ImageClassifier
from imgrec.models.external import TimmClassifier
from imgrec.models.registry import register_model

__all__ = ["resolve_patch_size", "vit_tiny"]


def resolve_patch_size(img_size: int, patch_size: int) -> int:
    """``patch_size`` if it divides ``img_size`` into at least 4x4 patches; otherwise it is halved
    until it divides ``img_size`` into at least 7x7 patches (or is 1): 16 -> 4 for 28-32 px."""
    if img_size % patch_size == 0 and img_size // patch_size >= 4:
        return patch_size
    p = patch_size
    while p > 1 and (img_size % p or img_size // p < 7):
        p //= 2
    return max(p, 1)


@register_model
def vit_tiny(
    *,
    num_classes: int,
    in_chans: int = 3,
    img_size: int = 224,
    depth: int = 12,
    patch_size: int = 16,
    drop_path_rate: float = 0.0,
) -> ImageClassifier:
    """ViT-Tiny (timm's ``vit_tiny_patch16_224`` layout, under ``model.``) for ``img_size`` images.

    Args:
        depth: number of transformer blocks.
        patch_size: side of a square patch; reduced for small images (see resolve_patch_size).
        drop_path_rate: stochastic depth rate of the last block.
    """
    from timm.models.vision_transformer import VisionTransformer

    if depth < 1 or patch_size < 1 or img_size < 4:
        raise ModelError(
            f"vit_tiny needs depth >= 1, patch_size >= 1 and img_size >= 4; got "
            f"depth={depth}, patch_size={patch_size}, img_size={img_size}."
        )
    patch = resolve_patch_size(img_size, patch_size)
    net = VisionTransformer(
        img_size=img_size,
        patch_size=patch,
        in_chans=in_chans,
        num_classes=num_classes,
        embed_dim=192,
        depth=depth,
        num_heads=3,
        drop_path_rate=drop_path_rate,
    )
    model = TimmClassifier(net)
    model.options = {"patch_size": patch}
    return model
