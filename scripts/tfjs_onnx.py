"""TensorFlow.js graph model -> ONNX, for ``convert_human_models.py`` (run in its throwaway venv).

``tfjs_to_onnx`` rebuilds a frozen TF GraphDef from the graph-model JSON and its weights
(tfjs_graph_converter), strips the private ``_*`` node attributes it leaves behind (tf2onnx
cannot turn ``_input_shapes`` into ONNX attributes), converts with tf2onnx and stores every
float32 initializer that is exact in float16 as float16 plus a Cast back to float32, which halves
the file without changing a single weight. ``max_abs_diff`` runs TensorFlow and onnxruntime on
the same inputs.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any


def strip_private_attrs(graph_def: Any) -> int:
    """Delete node attributes whose name starts with ``_``; return how many were deleted."""
    stripped = 0
    for node in graph_def.node:
        for key in list(node.attr):
            if key.startswith("_"):
                del node.attr[key]
                stripped += 1
    return stripped


def weights_to_float16(model: Any) -> int:
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


def tfjs_to_onnx(
    model_json: Path, outputs: list[str], *, opset: int, onnx_path: Path, label: str
) -> tuple[Any, str]:
    """Convert ``model_json`` and write ``onnx_path``; return the TF graph and the input name."""
    import onnx
    import tf2onnx
    from tfjs_graph_converter import api

    graph = api.load_graph_model(str(model_json))
    graph_def = graph.as_graph_def()
    print(f"{label}: stripped {strip_private_attrs(graph_def)} private node attributes")
    (in_name,) = [f"{n.name}:0" for n in graph_def.node if n.op == "Placeholder"]
    model, _ = tf2onnx.convert.from_graph_def(
        graph_def, input_names=[in_name], output_names=outputs, opset=opset
    )
    saved = weights_to_float16(model)
    onnx.checker.check_model(model)
    onnx_path.parent.mkdir(parents=True, exist_ok=True)
    onnx.save(model, str(onnx_path))
    size = onnx_path.stat().st_size
    print(f"{label}: wrote {onnx_path} ({size} bytes, {saved} saved by fp16)")
    return graph, in_name


def max_abs_diff(
    graph: Any, onnx_path: Path, in_name: str, outputs: list[str], inputs: list[Any]
) -> float:
    """The largest ``|onnxruntime - tensorflow|`` over all outputs and inputs."""
    import numpy as np
    import onnxruntime as ort
    import tensorflow as tf

    session = ort.InferenceSession(str(onnx_path), providers=["CPUExecutionProvider"])
    worst = 0.0
    with tf.compat.v1.Session(graph=graph) as sess:
        for x in inputs:
            expected = sess.run(outputs, {in_name: x})
            got = session.run(outputs, {in_name: x})
            for a, b in zip(expected, got, strict=True):
                worst = max(worst, float(np.abs(a - b).max()))
    return worst
