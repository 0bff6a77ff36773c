#!/usr/bin/env python3
"""Writes a model exactly as the current `onnx` package's helpers write it by default
(onnx.helper.make_model: the newest IR version and opset of that release), as a keel model
folder with float64 references: Conv + BatchNormalization + Relu + Gemm.

    python tests/exporters/make_onnx_defaults_model.py OUT_DIR
"""
import pathlib
import sys

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper

rng = np.random.default_rng(5)
w = rng.standard_normal((4, 3, 3, 3))
b = rng.standard_normal(4)
gamma, beta = 1 + 0.1 * rng.standard_normal(4), rng.standard_normal(4)
mean, var = 0.1 * rng.standard_normal(4), 0.5 + rng.random(4)
fc = rng.standard_normal((2, 4 * 6 * 6))
x = rng.standard_normal((1, 3, 6, 6)).astype(np.float32)
f32 = lambda a, n: numpy_helper.from_array(np.asarray(a, np.float32), n)
graph = helper.make_graph(
    [helper.make_node("Conv", ["x", "w", "b"], ["c"], pads=[1, 1, 1, 1]),
     helper.make_node("BatchNormalization", ["c", "g", "be", "m", "v"], ["n"]),
     helper.make_node("Relu", ["n"], ["r"]),
     helper.make_node("Flatten", ["r"], ["f"]),
     helper.make_node("Gemm", ["f", "fc"], ["y"], transB=1)],
    "defaults", [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 3, 6, 6])],
    [helper.make_tensor_value_info("y", TensorProto.FLOAT, [1, 2])],
    [f32(w, "w"), f32(b, "b"), f32(gamma, "g"), f32(beta, "be"), f32(mean, "m"), f32(var, "v"),
     f32(fc, "fc")])
model = helper.make_model(graph)  # every default left as the package sets it
onnx.checker.check_model(model, full_check=True)

# float64 reference from the float32-rounded parameters, in numpy.
p = {t.name: numpy_helper.to_array(t).astype(np.float64) for t in graph.initializer}
xd = x.astype(np.float64)
xp = np.pad(xd, ((0, 0), (0, 0), (1, 1), (1, 1)))
c = np.zeros((1, 4, 6, 6))
for i in range(6):
    for j in range(6):
        c[0, :, i, j] = np.tensordot(p["w"], xp[0, :, i:i + 3, j:j + 3], axes=3) + p["b"]
s = p["g"] / np.sqrt(p["v"] + 1e-5)
n = c * s[None, :, None, None] + (p["be"] - p["m"] * s)[None, :, None, None]
y = np.maximum(n, 0).reshape(1, -1) @ p["fc"].T

d = pathlib.Path(sys.argv[1]) / "onnx_make_model_defaults"
(d / "inputs").mkdir(parents=True, exist_ok=True)
(d / "outputs_f64").mkdir(exist_ok=True)
onnx.save(model, d / "model.onnx")
np.save(d / "inputs" / "x.npy", x)
np.save(d / "outputs_f64" / "y.npy", y)
print(f"{d}: IR {model.ir_version}, opset {model.opset_import[0].version}, onnx {onnx.__version__}")
