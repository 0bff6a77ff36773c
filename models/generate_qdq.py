"""Quantized versions of committed small models, as ONNX Runtime's static quantizer writes them:
QuantizeLinear/DequantizeLinear pairs around float operators (QDQ) or its QOperator form
(QLinearConv and com.microsoft QLinear* operators), per-channel int8 weights, uint8
activations, MinMax calibration on seeded random inputs.

Writes models/quantized/<name>_qdq/ (and <name>_qop/ for the QOPERATOR models) with model.onnx,
inputs/ (the float model's input), outputs_f64/ (the float model's float64 reference: an int8
model's error is measured against it, as the peers' is), outputs_ort/ (ONNX Runtime's result of
the quantized model) and outputs_qdq/ (what the quantized graph says: the ONNX reference
evaluator's result in float32, or ONNX Runtime's for graphs with its com.microsoft operators,
which it defines). Also models/quantized/mlp_dynamic, a two-layer perceptron quantized by
quantize_dynamic (DynamicQuantizeLinear, MatMulInteger).

Run with an interpreter that has onnx and onnxruntime (bench/compare/requirements.txt):
  bench/compare/.venv/bin/python models/generate_qdq.py [name ...]
  bench/compare/.venv/bin/python models/generate_qdq.py --zoo resnet50 [name ...]
The second form quantizes zoo models into models/zoo/<name>_qdq (not in git) for bench/compare.
"""

import os
import shutil
import sys

import numpy as np
import onnx
import onnxruntime as ort
from onnx.reference import ReferenceEvaluator
from onnx import TensorProto, helper, numpy_helper
from onnxruntime.quantization import (CalibrationDataReader, QuantFormat, QuantType,
                                      quantize_dynamic, quantize_static)

HERE = os.path.dirname(os.path.abspath(__file__))
DEFAULT = ["resnet_tiny", "mobilenet_tiny"]
# In the QOperator form: QLinearConv, QLinearMatMul and ORT's com.microsoft QGemm, QLinearAdd,
# QLinearMul, QLinearGlobalAveragePool, QLinearAveragePool, QLinearConcat between them.
QOPERATOR = ["resnet_tiny", "densenet_tiny", "convnext_tiny_block"]


class SeededReader(CalibrationDataReader):
    """Eight seeded N(0,1) batches of the model's input shape, then the committed input."""

    def __init__(self, name, shape, committed):
        rng = np.random.default_rng(20261208)
        self.batches = [rng.standard_normal(shape).astype(np.float32) for _ in range(8)]
        self.batches.append(committed)
        self.name = name

    def get_next(self):
        return {self.name: self.batches.pop()} if self.batches else None


def write_outputs(dst, path, input_name, x):
    """ORT's and the reference evaluator's results of the quantized model; prints both errors."""
    options = ort.SessionOptions()
    options.intra_op_num_threads = 1
    session = ort.InferenceSession(path, options, providers=["CPUExecutionProvider"])
    out_name = session.get_outputs()[0].name
    y_ort = session.run(None, {input_name: x})[0]
    # The evaluator implements DequantizeLinear from opset 19 on; the definitions from 13 to 19
    # agree for int8/uint8 (19 added float8), as do those of the other operators here.
    qdq = onnx.load(path)
    for opset in qdq.opset_import:
        if opset.domain in ("", "ai.onnx"):
            opset.version = max(opset.version, 19)
    try:
        y_qdq = ReferenceEvaluator(qdq).run(None, {input_name: x})[0]
    except NotImplementedError:
        # ONNX Runtime's com.microsoft operators (QLinearAdd, QGemm, ...) are defined by ONNX
        # Runtime itself: its result is the graph's meaning.
        y_qdq = y_ort
    for sub, y in (("outputs_ort", y_ort), ("outputs_qdq", y_qdq)):
        os.makedirs(os.path.join(dst, sub), exist_ok=True)
        np.save(os.path.join(dst, sub, out_name + ".npy"), y)
    ref = np.load(os.path.join(dst, "outputs_f64", out_name + ".npy"))
    scale = np.abs(ref).max()
    print(f"{os.path.basename(dst)}: {os.path.getsize(path) // 1024} KB, error against float64: "
          f"ORT {np.abs(y_ort - ref).max() / scale:.2e}, "
          f"graph's meaning {np.abs(y_qdq - ref).max() / scale:.2e}")


def generate_dynamic_mlp():
    """A two-layer perceptron (MatMul, Add, Relu, MatMul, Add on [batch, 16, 64] tokens),
    quantized by quantize_dynamic: DynamicQuantizeLinear -> MatMulInteger -> Cast -> Mul."""
    dst = os.path.join(HERE, "quantized", "mlp_dynamic")
    os.makedirs(os.path.join(dst, "inputs"), exist_ok=True)
    os.makedirs(os.path.join(dst, "outputs_f64"), exist_ok=True)
    rng = np.random.default_rng(20261208)
    w1 = (rng.standard_normal((64, 128)) / 8).astype(np.float32)
    b1 = (rng.standard_normal(128) / 4).astype(np.float32)
    w2 = (rng.standard_normal((128, 32)) / 11).astype(np.float32)
    b2 = (rng.standard_normal(32) / 4).astype(np.float32)
    graph = helper.make_graph(
        [helper.make_node("MatMul", ["input", "w1"], ["h"]),
         helper.make_node("Add", ["h", "b1"], ["hb"]),
         helper.make_node("Relu", ["hb"], ["r"]),
         helper.make_node("MatMul", ["r", "w2"], ["o"]),
         helper.make_node("Add", ["o", "b2"], ["output"])],
        "mlp",
        [helper.make_tensor_value_info("input", TensorProto.FLOAT, ["batch", 16, 64])],
        [helper.make_tensor_value_info("output", TensorProto.FLOAT, ["batch", 16, 32])],
        [numpy_helper.from_array(w1, "w1"), numpy_helper.from_array(b1, "b1"),
         numpy_helper.from_array(w2, "w2"), numpy_helper.from_array(b2, "b2")])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 8
    float_path = os.path.join(dst, "float.onnx.tmp")
    onnx.save(model, float_path)
    x = rng.standard_normal((1, 16, 64)).astype(np.float32)
    np.save(os.path.join(dst, "inputs", "input.npy"), x)
    xd = x.astype(np.float64)
    ref = np.maximum(xd @ w1.astype(np.float64) + b1, 0) @ w2.astype(np.float64) + b2
    np.save(os.path.join(dst, "outputs_f64", "output.npy"), ref)
    path = os.path.join(dst, "model.onnx")
    quantize_dynamic(float_path, path, weight_type=QuantType.QInt8)
    os.remove(float_path)
    write_outputs(dst, path, "input", x)


def generate(name, zoo=False, qoperator=False):
    src = os.path.join(HERE, "zoo", name) if zoo else os.path.join(HERE, name)
    suffix = "_qop" if qoperator else "_qdq"
    dst = os.path.join(HERE, "zoo" if zoo else "quantized", name + suffix)
    x = np.load(os.path.join(src, "inputs", "input.npy"))
    float_model = onnx.load(os.path.join(src, "model.onnx"))
    input_name = float_model.graph.input[0].name
    os.makedirs(dst, exist_ok=True)
    quantize_static(os.path.join(src, "model.onnx"), os.path.join(dst, "model.onnx"),
                    SeededReader(input_name, x.shape, x),
                    quant_format=QuantFormat.QOperator if qoperator else QuantFormat.QDQ,
                    per_channel=True, activation_type=QuantType.QUInt8,
                    weight_type=QuantType.QInt8)
    for sub in ("inputs", "outputs_f64"):
        shutil.rmtree(os.path.join(dst, sub), ignore_errors=True)
        shutil.copytree(os.path.join(src, sub), os.path.join(dst, sub))
    write_outputs(dst, os.path.join(dst, "model.onnx"), input_name, x)


if __name__ == "__main__":
    args = sys.argv[1:]
    zoo = bool(args) and args[0] == "--zoo"
    for model in (args[1:] if zoo else args) or DEFAULT:
        generate(model, zoo)
    if not args:
        for model in QOPERATOR:
            generate(model, qoperator=True)
        generate_dynamic_mlp()
