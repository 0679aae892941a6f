"""PNG plots of a segmentation evaluation: mask overlays, per-class IoU bars, confusion matrix.

Drawn like :mod:`imgrec.evaluation.plots`: on matplotlib's Agg canvas, never through ``pyplot``.
:func:`default_palette` and :func:`colourise` turn class-index masks into colours (also for
predictions shown to users); ignored pixels are white, so they never read as a class (class 0 of
the VOC palette is black).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from matplotlib.figure import Figure
from matplotlib.patches import Patch

from imgrec.evaluation.plots import _new_figure, _save, _shorten, image_grid, plot_confusion_matrix
from imgrec.evaluation.segmentation import SegmentationReport

__all__ = [
    "IGNORE_COLOUR",
    "SegmentationSample",
    "colourise",
    "default_palette",
    "overlay_mask",
    "plot_class_iou",
    "plot_mask_overlays",
    "plot_segmentation_confusion",
    "write_segmentation_plots",
]

IGNORE_COLOUR = (255, 255, 255)
_MAX_LEGEND_CLASSES = 40
_MAX_ANNOTATED_BARS = 60
_PANELS = ("image", "truth", "prediction")


@dataclass(frozen=True)
class SegmentationSample:
    """One image to show: uint8 ``(H, W, 3)`` or ``(H, W)`` image, integer ``(H, W)`` masks."""

    image: np.ndarray
    target: np.ndarray
    prediction: np.ndarray
    iou: float | None  # the image's mean IoU (report.per_image_iou); None or NaN: n/a
    title: str = ""


def default_palette(k: int) -> np.ndarray:
    """``(k, 3)`` uint8 colours of the Pascal VOC colour map: 0 black, 1 dark red, 2 green, ...

    The bits of each index are spread over the three channels, so every index up to ``2**24``
    gets its own colour and no index below 256 is white (the colour of ignored pixels).
    """
    if k < 0:
        raise ValueError(f"k must be >= 0, got {k}")
    index = np.arange(k, dtype=np.int64)
    palette = np.zeros((k, 3), dtype=np.int64)
    for bit in range(8):
        for channel in range(3):
            palette[:, channel] |= ((index >> (3 * bit + channel)) & 1) << (7 - bit)
    return palette.astype(np.uint8)


def _mask(mask: np.ndarray, what: str) -> np.ndarray:
    m = np.asarray(mask)
    if m.ndim != 2 or not np.issubdtype(m.dtype, np.integer):
        raise ValueError(
            f"{what} must be an integer (H, W) class-index mask, got {m.dtype} {m.shape}"
        )
    return m


def colourise(
    mask: np.ndarray,
    palette: np.ndarray | None = None,
    *,
    ignore_index: int | None = 255,
    ignore_colour: tuple[int, int, int] = IGNORE_COLOUR,
) -> np.ndarray:
    """``(H, W, 3)`` uint8 colours of an integer ``(H, W)`` mask (``palette[c]`` for class ``c``).

    Raises:
        ValueError: on a non-integer or non-2-D mask, or a class index the palette lacks.
    """
    m = _mask(mask, "mask")
    ignored = m == ignore_index if ignore_index is not None else np.zeros(m.shape, dtype=bool)
    labels = np.where(ignored, 0, m)
    top = int(labels.max(initial=0))
    colours = default_palette(top + 1) if palette is None else np.asarray(palette, dtype=np.uint8)
    if colours.ndim != 2 or colours.shape[1] != 3:
        raise ValueError(f"palette must be (K, 3) colours, got {colours.shape}")
    low = int(labels.min(initial=0))
    if low < 0 or top >= len(colours):
        bad = low if low < 0 else top
        raise ValueError(f"mask holds class {bad} but the palette has {len(colours)} colours")
    out = colours[labels]
    out[ignored] = ignore_colour
    return out


def _rgb(image: np.ndarray, what: str) -> np.ndarray:
    im = np.asarray(image)
    if im.dtype != np.uint8 or not (im.ndim == 2 or (im.ndim == 3 and im.shape[-1] in (1, 3))):
        raise ValueError(f"{what} must be uint8 (H, W, 3) or (H, W), got {im.dtype} {im.shape}")
    if im.ndim == 3 and im.shape[-1] == 3:
        return im
    return np.repeat(im.reshape(*im.shape[:2], 1), 3, axis=2)


def background_index(class_names: Sequence[str]) -> int | None:
    """The index of the class named ``background`` (``_background_``, any case), else None."""
    names = [str(name).strip("_ ").lower() for name in class_names]
    return names.index("background") if "background" in names else None


def overlay_mask(
    image: np.ndarray,
    mask: np.ndarray,
    palette: np.ndarray | None = None,
    *,
    alpha: float = 0.5,
    ignore_index: int | None = 255,
    untinted: int | None = None,
) -> np.ndarray:
    """The image with its mask's colours blended in: ``(H, W, 3)`` uint8, the image's size.

    Pixels of class ``untinted`` (the background, see :func:`background_index`) keep the image's
    own colours: blending the background's black over them would only darken the photo.
    """
    rgb = _rgb(image, "image")
    m = _mask(mask, "mask")
    if m.shape != rgb.shape[:2]:
        raise ValueError(f"mask {m.shape} must have the image's size {rgb.shape[:2]}")
    colours = colourise(m, palette, ignore_index=ignore_index).astype(np.float64)
    blended = np.round((1.0 - alpha) * rgb + alpha * colours).astype(np.uint8)
    if untinted is not None:
        kept = m == untinted
        blended[kept] = rgb[kept]
    return blended


def plot_mask_overlays(
    samples: Sequence[SegmentationSample],
    path: str | Path,
    *,
    class_names: Sequence[str],
    palette: np.ndarray | None = None,
    max_images: int = 16,
    alpha: float = 0.5,
    ignore_index: int | None = 255,
) -> Path:
    """A grid of ``image | truth | prediction`` triples, in the order given (e.g. worst first).

    Each triple is titled with the sample's title and its IoU; a legend names the colours of the
    classes shown. Images keep their aspect ratio; cells are shaped after the first image.

    Raises:
        ValueError: on an image that is not uint8, a mask that is not an integer mask of the
            image's size, or a class index outside ``class_names``.
    """
    colours = default_palette(len(class_names)) if palette is None else np.asarray(palette)
    if colours.shape != (len(class_names), 3):
        raise ValueError(f"palette must be ({len(class_names)}, 3), got {colours.shape}")
    shown = list(samples[: max(max_images, 0)])
    kept = background_index(class_names)  # the photo shows through its background
    panels = []
    for i, s in enumerate(shown):
        rgb = _rgb(s.image, f"sample {i}: image")
        for what, m in (("target", s.target), ("prediction", s.prediction)):
            checked = _mask(m, f"sample {i}: {what}")
            if checked.shape != rgb.shape[:2]:
                raise ValueError(
                    f"sample {i}: {what} {checked.shape} must have the image's size {rgb.shape[:2]}"
                )
            labels = checked[checked != ignore_index] if ignore_index is not None else checked
            if labels.size and (labels.min() < 0 or labels.max() >= len(class_names)):
                raise ValueError(
                    f"sample {i}: {what} holds classes {int(labels.min())} to {int(labels.max())}"
                    f", outside the {len(class_names)} class names (ignore_index {ignore_index})"
                )
        overlays = [
            overlay_mask(rgb, m, colours, alpha=alpha, ignore_index=ignore_index, untinted=kept)
            for m in (s.target, s.prediction)
        ]
        panels.append((rgb, *overlays))
    height, width = panels[0][0].shape[:2] if panels else (1, 1)
    side = 2.2  # inches of the longer side of a panel
    w, h = (side, side * height / width) if width >= height else (side * width / height, side)
    grid = image_grid(len(panels), path, cell=(3 * w + 0.2, h + 0.5), empty="no images to show")
    if isinstance(grid, Path):
        return grid
    fig, rows, cols = grid
    fig.set_layout_engine("constrained")
    cells = fig.subfigures(rows, cols, squeeze=False).reshape(-1)
    for s, triple, cell in zip(shown, panels, cells, strict=False):
        for ax, picture, label in zip(cell.subplots(1, 3), triple, _PANELS, strict=True):
            ax.imshow(picture, interpolation="nearest")
            ax.set_title(label, fontsize=7)
            ax.set_axis_off()
        iou = "n/a" if s.iou is None or math.isnan(s.iou) else f"{s.iou:.3f}"
        cell.suptitle(f"{_shorten(str(s.title), 36)}  IoU {iou}".strip(), fontsize=8)
    _legend(fig, shown, class_names, colours, ignore_index, width=3 * w * cols)
    return _save(fig, path)


def _unit(colour: np.ndarray | Sequence[int]) -> tuple[float, float, float]:
    r, g, b = (float(v) / 255.0 for v in colour)
    return r, g, b


def _legend(
    fig: Figure,
    shown: Sequence[SegmentationSample],
    class_names: Sequence[str],
    colours: np.ndarray,
    ignore_index: int | None,
    *,
    width: float,
) -> None:
    """A figure legend of the classes in the shown masks (and of ignored pixels, if any)."""
    present: set[int] = set()
    ignored = False
    for s in shown:
        for m in (np.asarray(s.target), np.asarray(s.prediction)):
            values = np.unique(m)
            ignored = ignored or bool(ignore_index is not None and (values == ignore_index).any())
            present.update(int(v) for v in values if v != ignore_index)
    classes = sorted(present)
    handles = [
        Patch(facecolor=_unit(colours[c]), edgecolor="black", label=_shorten(class_names[c], 20))
        for c in classes[:_MAX_LEGEND_CLASSES]
    ]
    if len(classes) > _MAX_LEGEND_CLASSES:
        handles.append(Patch(color="none", label=f"... {len(classes) - _MAX_LEGEND_CLASSES} more"))
    if ignored:
        handles.append(Patch(facecolor=_unit(IGNORE_COLOUR), edgecolor="black", label="ignored"))
    if handles:
        ncol = max(1, min(len(handles), int(width / 1.4)))
        fig.legend(handles=handles, loc="outside lower center", ncol=ncol, fontsize=7)


def plot_class_iou(report: SegmentationReport, path: str | Path) -> Path:
    """Horizontal bars of per-class IoU, the mIoU as a dashed line; n/a classes are marked."""
    names = [_shorten(r.name, 28) for r in report.per_class]
    iou = np.array([r.iou for r in report.per_class], dtype=np.float64)
    k = len(names)
    fig = _new_figure(7.0, min(max(2.5, 0.26 * k + 1.3), 40.0))
    ax = fig.add_subplot()
    undefined = np.isnan(iou)
    y = np.arange(k)
    ax.barh(y, np.where(undefined, 0.0, iou), color="tab:blue", height=0.7)
    fontsize = max(5.0, min(9.0, 300.0 / max(k, 1)))
    for i in range(k):
        if undefined[i]:
            ax.text(0.01, i, "n/a (absent)", va="center", fontsize=fontsize, color="tab:gray")
        elif k <= _MAX_ANNOTATED_BARS:
            ax.text(iou[i] + 0.01, i, f"{iou[i]:.3f}", va="center", fontsize=fontsize)
    if not math.isnan(report.miou):
        label = f"mIoU {report.miou:.3f}"
        ax.axvline(report.miou, color="tab:red", linestyle="--", linewidth=1.0, label=label)
        ax.legend(loc="lower right", fontsize=8)
    ax.set_yticks(y, names, fontsize=fontsize)
    for tick, na in zip(ax.get_yticklabels(), undefined, strict=True):
        tick.set_color("tab:gray" if na else "black")
    ax.set_ylim(k - 0.5, -0.5)  # first class on top
    ax.set_xlim(0.0, 1.1)
    ax.set_xlabel("IoU")
    miou = "n/a" if math.isnan(report.miou) else f"{report.miou:.3f}"
    ax.set_title(f"Per-class IoU (mIoU {miou}; n/a classes left out)")
    ax.grid(axis="x", alpha=0.3)
    return _save(fig, path)


def plot_segmentation_confusion(report: SegmentationReport, path: str | Path) -> Path:
    """The pixel confusion matrix, each row divided by the class's true pixel count."""
    return plot_confusion_matrix(
        report.confusion_matrix_normalized, report.class_names, path, normalized=True
    )


def write_segmentation_plots(
    report: SegmentationReport,
    out_dir: str | Path,
    *,
    samples: Sequence[SegmentationSample] | None = None,
    palette: np.ndarray | None = None,
) -> dict[str, Path]:
    """``class_iou.png``, ``confusion_matrix_normalized.png`` and, given samples,
    ``mask_overlays.png`` in ``out_dir``; the paths keyed by file name."""
    out = Path(out_dir)
    paths = {
        "class_iou.png": plot_class_iou(report, out / "class_iou.png"),
        "confusion_matrix_normalized.png": plot_segmentation_confusion(
            report, out / "confusion_matrix_normalized.png"
        ),
    }
    if samples is not None:
        paths["mask_overlays.png"] = plot_mask_overlays(
            samples,
            out / "mask_overlays.png",
            class_names=report.class_names,
            palette=palette,
            ignore_index=report.ignore_index,
        )
    return paths
