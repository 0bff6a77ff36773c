#!/usr/bin/env python3
"""Writes models the way onnxscript (the library PyTorch's newest exporter builds on) writes
them, at the newest opset it knows, each as a keel model folder (model.onnx, inputs/*.npy,
outputs_f64/*.npy) for `keel run`: a CNN block (Conv, BatchNormalization left for keel to fold,
Relu, pooling, Gemm) and a transformer block (MatMul attention, Softmax, LayerNormalization,
Gelu, Reshape/Transpose). The float64 references come from ONNX's reference evaluator on a
float64 copy of each model.

    python tests/exporters/make_onnxscript_models.py OUT_DIR
"""
import pathlib
import sys

import numpy as np
import onnx
import onnxscript
from onnx import numpy_helper
from onnx.reference import ReferenceEvaluator
from onnxscript import FLOAT, INT64, script

OPSET_NUMBER = max(int(n[5:]) for n in dir(onnxscript.onnx_opset)
                   if n.startswith("opset") and n[5:].isdigit())
op = getattr(onnxscript.onnx_opset, f"opset{OPSET_NUMBER}")
rng = np.random.default_rng(11)


def rand(*shape, scale=0.5):
    return (rng.standard_normal(shape) * scale).astype(np.float32)


@script(default_opset=op)
def cnn_block(x: FLOAT[1, 3, 16, 16], w1: FLOAT[8, 3, 3, 3], b1: FLOAT[8], gamma: FLOAT[8],
              beta: FLOAT[8], mean: FLOAT[8], var: FLOAT[8], w2: FLOAT[8, 8, 1, 1],
              fc_w: FLOAT[5, 8], fc_b: FLOAT[5]) -> FLOAT[1, 5]:
    c = op.Conv(x, w1, b1, pads=[1, 1, 1, 1], strides=[2, 2])
    n = op.BatchNormalization(c, gamma, beta, mean, var, epsilon=1e-5)
    r = op.Relu(n)
    p = op.MaxPool(r, kernel_shape=[2, 2], strides=[2, 2])
    c2 = op.Conv(p, w2)
    s = op.Add(c2, p)
    g = op.GlobalAveragePool(s)
    f = op.Flatten(g, axis=1)
    return op.Gemm(f, fc_w, fc_b, transB=1)


@script(default_opset=op)
def transformer_block(x: FLOAT[2, 6, 16], wq: FLOAT[16, 16], wk: FLOAT[16, 16],
                      wv: FLOAT[16, 16], ln_s: FLOAT[16], ln_b: FLOAT[16], w1: FLOAT[16, 32],
                      w2: FLOAT[32, 16], heads_shape: INT64[4]) -> FLOAT[2, 6, 16]:
    q = op.Transpose(op.Reshape(op.MatMul(x, wq), heads_shape), perm=[0, 2, 1, 3])
    k = op.Transpose(op.Reshape(op.MatMul(x, wk), heads_shape), perm=[0, 2, 3, 1])
    v = op.Transpose(op.Reshape(op.MatMul(x, wv), heads_shape), perm=[0, 2, 1, 3])
    scores = op.Div(op.MatMul(q, k), op.Constant(value_float=2.8284271247461903))
    attn = op.MatMul(op.Softmax(scores, axis=-1), v)
    merged = op.Reshape(op.Transpose(attn, perm=[0, 2, 1, 3]), op.Shape(x))
    h = op.LayerNormalization(op.Add(x, merged), ln_s, ln_b, axis=-1, epsilon=1e-5)
    ff = op.MatMul(op.Gelu(op.MatMul(h, w1)), w2)
    return op.Add(h, ff)


CASES = {
    "onnxscript_cnn_block": (cnn_block, {
        "w1": rand(8, 3, 3, 3), "b1": rand(8), "gamma": 1 + rand(8, scale=0.1),
        "beta": rand(8), "mean": rand(8, scale=0.1),
        "var": (0.5 + rng.random(8)).astype(np.float32), "w2": rand(8, 8, 1, 1),
        "fc_w": rand(5, 8), "fc_b": rand(5)}, {"x": rand(1, 3, 16, 16, scale=1.0)}),
    "onnxscript_transformer_block": (transformer_block, {
        "wq": rand(16, 16), "wk": rand(16, 16), "wv": rand(16, 16),
        "ln_s": 1 + rand(16, scale=0.1), "ln_b": rand(16), "w1": rand(16, 32),
        "w2": rand(32, 16), "heads_shape": np.array([2, 6, 2, 8], np.int64)},
        {"x": rand(2, 6, 16, scale=1.0)}),
}


def with_initializers(model, weights):
    """The function's weight parameters become initializers, as an exporter writes them."""
    graph = model.graph
    keep = [i for i in graph.input if i.name not in weights]
    del graph.input[:]
    graph.input.extend(keep)
    graph.initializer.extend(numpy_helper.from_array(v, k) for k, v in weights.items())
    return model


def as_float64(model):
    m = onnx.ModelProto()
    m.CopyFrom(model)
    f, d = onnx.TensorProto.FLOAT, onnx.TensorProto.DOUBLE
    for vi in list(m.graph.input) + list(m.graph.output) + list(m.graph.value_info):
        if vi.type.tensor_type.elem_type == f:
            vi.type.tensor_type.elem_type = d
    for i, t in enumerate(m.graph.initializer):
        if t.data_type == f:
            m.graph.initializer[i].CopyFrom(
                numpy_helper.from_array(numpy_helper.to_array(t).astype(np.float64), t.name))
    for node in m.graph.node:
        for a in node.attribute:
            if a.name == "value_float":  # Constant(value_float=...) is float32: make a tensor
                a.CopyFrom(onnx.helper.make_attribute(
                    "value", numpy_helper.from_array(np.array(a.f, np.float64))))
    return m


def main(out):
    out = pathlib.Path(out)
    for name, (fn, weights, inputs) in CASES.items():
        model = with_initializers(fn.to_model_proto(), weights)
        onnx.checker.check_model(model, full_check=True)
        d = out / name
        (d / "inputs").mkdir(parents=True, exist_ok=True)
        (d / "outputs_f64").mkdir(exist_ok=True)
        onnx.save(model, d / "model.onnx")
        for k, v in inputs.items():
            np.save(d / "inputs" / f"{k}.npy", v)
        ref = ReferenceEvaluator(as_float64(model))
        outputs = ref.run(None, {k: v.astype(np.float64) for k, v in inputs.items()})
        for info, value in zip(model.graph.output, outputs):
            np.save(d / "outputs_f64" / f"{info.name}.npy", np.asarray(value, np.float64))
        print(f"{d}: IR {model.ir_version}, opset {model.opset_import[0].version}, "
              f"onnxscript {onnxscript.__version__}, onnx {onnx.__version__}")


if __name__ == "__main__":
    main(sys.argv[1])
