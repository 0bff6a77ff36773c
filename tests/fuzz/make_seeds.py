#!/usr/bin/env python3
"""Writes the fuzz targets' seed corpora (tests/fuzz/corpus/<target>/) and the model the
serve_request target serves (tests/fuzz/serve_model/model.onnx): small hand-made inputs that
reach each parser's branches, each well under a few kB so libFuzzer mutates them quickly.
Needs `onnx` and `numpy` (bench/compare/.venv has both). Rerun after changing it; commit the
output.

    bench/compare/.venv/bin/python tests/fuzz/make_seeds.py
"""
import json
import pathlib
import struct

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper

HERE = pathlib.Path(__file__).resolve().parent
F = TensorProto.FLOAT
I64 = TensorProto.INT64


def write(target, name, data):
    d = HERE / "corpus" / target
    d.mkdir(parents=True, exist_ok=True)
    (d / name).write_bytes(data)


def init(name, array):
    return numpy_helper.from_array(np.asarray(array), name)


def model(nodes, inputs, outputs, inits=(), opset=17):
    g = helper.make_graph(nodes, "g", inputs, outputs, list(inits))
    m = helper.make_model(g, opset_imports=[helper.make_opsetid("", opset)])
    m.ir_version = 8
    return m.SerializeToString()


def vi(name, t, shape):
    return helper.make_tensor_value_info(name, t, shape)


rng = np.random.default_rng(7)
r = lambda *s: rng.standard_normal(s).astype(np.float32)

# ---- load_model: one small model per family of passes and kernels ----------------------
x4 = vi("x", F, [1, 3, 6, 6])
write("load_model", "conv_bn_relu.onnx", model(
    [helper.make_node("Conv", ["x", "w", "b"], ["c"], kernel_shape=[3, 3], pads=[1, 1, 1, 1]),
     helper.make_node("BatchNormalization", ["c", "s", "o", "m", "v"], ["n"], epsilon=1e-5),
     helper.make_node("Relu", ["n"], ["y"])],
    [x4], [vi("y", F, [1, 4, 6, 6])],
    [init("w", r(4, 3, 3, 3)), init("b", r(4)), init("s", r(4)), init("o", r(4)),
     init("m", r(4)), init("v", np.abs(r(4)) + 0.5)]))
write("load_model", "depthwise_pool.onnx", model(
    [helper.make_node("Conv", ["x", "w"], ["c"], kernel_shape=[3, 3], group=3, strides=[2, 2]),
     helper.make_node("MaxPool", ["c"], ["p"], kernel_shape=[2, 2]),
     helper.make_node("GlobalAveragePool", ["p"], ["y"])],
    [x4], [vi("y", F, [1, 3, 1, 1])], [init("w", r(3, 1, 3, 3))]))
write("load_model", "gemm_softmax.onnx", model(
    [helper.make_node("Gemm", ["x", "w", "b"], ["g"], transB=1),
     helper.make_node("Softmax", ["g"], ["y"], axis=-1)],
    [vi("x", F, ["n", 8])], [vi("y", F, ["n", 5])], [init("w", r(5, 8)), init("b", r(5))]))
write("load_model", "matmul_layernorm.onnx", model(
    [helper.make_node("MatMul", ["x", "w"], ["m"]),
     helper.make_node("LayerNormalization", ["m", "s", "o"], ["y"], axis=-1)],
    [vi("x", F, [2, 3, 8])], [vi("y", F, [2, 3, 6])],
    [init("w", r(8, 6)), init("s", r(6)), init("o", r(6))]))
write("load_model", "attention_matmul.onnx", model(
    [helper.make_node("Transpose", ["x"], ["t"], perm=[0, 2, 1]),
     helper.make_node("MatMul", ["x", "t"], ["a"]),
     helper.make_node("Softmax", ["a"], ["y"], axis=-1)],
    [vi("x", F, [1, 4, 8])], [vi("y", F, [1, 4, 4])]))
write("load_model", "gather_indices.onnx", model(
    [helper.make_node("Gather", ["table", "ids"], ["y"], axis=0)],
    [vi("ids", I64, [2, 3])], [vi("y", F, [2, 3, 4])], [init("table", r(5, 4))]))
write("load_model", "reshape_from_input.onnx", model(
    [helper.make_node("Reshape", ["x", "shape"], ["y"])],
    [vi("x", F, [2, 6]), vi("shape", I64, [2])], [vi("y", F, None)]))
write("load_model", "shape_arith.onnx", model(
    [helper.make_node("Shape", ["x"], ["s"]),
     helper.make_node("Gather", ["s", "zero"], ["n"], axis=0),
     helper.make_node("Range", ["start", "n", "step"], ["r"]),
     helper.make_node("ConstantOfShape", ["s"], ["c"], value=init("v", np.array([1.5], np.float32))),
     helper.make_node("Add", ["x", "c"], ["y"])],
    [vi("x", F, [3, 2])], [vi("y", F, [3, 2]), vi("r", I64, None)],
    [init("zero", np.array(0, np.int64)), init("start", np.array(0, np.int64)),
     init("step", np.array(1, np.int64))]))
write("load_model", "concat_split_slice.onnx", model(
    [helper.make_node("Concat", ["x", "x"], ["c"], axis=1),
     helper.make_node("Split", ["c", "sizes"], ["a", "b"], axis=1),
     helper.make_node("Slice", ["a", "st", "en", "ax"], ["s"]),
     helper.make_node("Mul", ["s", "b"], ["y"])],
    [vi("x", F, [2, 4])], [vi("y", F, [2, 2])],
    [init("sizes", np.array([4, 4], np.int64)), init("st", np.array([1], np.int64)),
     init("en", np.array([3], np.int64)), init("ax", np.array([1], np.int64))]))
write("load_model", "resize_convtranspose.onnx", model(
    [helper.make_node("ConvTranspose", ["x", "w"], ["t"], kernel_shape=[2, 2], strides=[2, 2]),
     helper.make_node("Resize", ["t", "", "scales"], ["y"], mode="linear")],
    [vi("x", F, [1, 2, 3, 3])], [vi("y", F, [1, 2, 12, 12])],
    [init("w", r(2, 2, 2, 2)), init("scales", np.array([1, 1, 2, 2], np.float32))]))
write("load_model", "where_cast_expand.onnx", model(
    [helper.make_node("Greater", ["x", "zero"], ["g"]),
     helper.make_node("Cast", ["g"], ["gi"], to=I64),
     helper.make_node("Cast", ["gi"], ["gf"], to=F),
     helper.make_node("Expand", ["gf", "shape"], ["e"]),
     helper.make_node("Where", ["g", "x", "e"], ["y"])],
    [vi("x", F, [2, 3])], [vi("y", F, [2, 3])],
    [init("zero", np.array(0, np.float32)), init("shape", np.array([2, 3], np.int64))]))
write("load_model", "reduce_clip_sigmoid.onnx", model(
    [helper.make_node("ReduceMean", ["x", "axes"], ["m"], keepdims=1),
     helper.make_node("Sub", ["x", "m"], ["d"]),
     helper.make_node("Clip", ["d", "lo", "hi"], ["c"]),
     helper.make_node("Sigmoid", ["c"], ["y"])],
    [vi("x", F, [2, 5])], [vi("y", F, [2, 5])],
    [init("axes", np.array([1], np.int64)), init("lo", np.array(-1, np.float32)),
     init("hi", np.array(1, np.float32))], opset=18))
write("load_model", "instance_norm_nhwc_in.onnx", model(
    [helper.make_node("InstanceNormalization", ["x", "s", "o"], ["n"]),
     helper.make_node("Transpose", ["n"], ["y"], perm=[0, 2, 3, 1])],
    [x4], [vi("y", F, [1, 6, 6, 3])], [init("s", r(3)), init("o", r(3))]))
# Quantized: QDQ around a per-channel Conv, dynamic quantization into MatMulInteger, and the
# QOperator form with one of ONNX Runtime's com.microsoft ops (lowered at load).
qrng = np.random.default_rng(8)  # its own stream: the seeds above and below stay as they were
U8, I8, I32 = onnx.TensorProto.UINT8, onnx.TensorProto.INT8, onnx.TensorProto.INT32
write("load_model", "qdq_conv_dynamic.onnx", model(
    [helper.make_node("QuantizeLinear", ["x", "sx", "zx"], ["xq"]),
     helper.make_node("DequantizeLinear", ["xq", "sx", "zx"], ["xd"]),
     helper.make_node("DequantizeLinear", ["wq", "sw"], ["wd"], axis=0),
     helper.make_node("Conv", ["xd", "wd"], ["c"], kernel_shape=[3, 3], pads=[1, 1, 1, 1]),
     helper.make_node("Flatten", ["c"], ["f"]),
     helper.make_node("DynamicQuantizeLinear", ["f"], ["fq", "fs", "fz"]),
     helper.make_node("MatMulInteger", ["fq", "mq", "fz"], ["y"])],
    [x4], [vi("y", I32, [1, 5])],
    [init("sx", np.float32(0.05)), init("zx", np.uint8(128)),
     init("wq", qrng.integers(-127, 127, (4, 3, 3, 3)).astype(np.int8)),
     init("sw", np.abs(qrng.standard_normal(4).astype(np.float32)) * 0.01 + 0.001),
     init("mq", qrng.integers(0, 255, (144, 5)).astype(np.uint8))], opset=13))
qop = helper.make_graph(
    [helper.make_node("QLinearConv", ["xq", "sx", "zx", "wq", "sw", "zw", "sy", "zy"], ["c"],
                      kernel_shape=[1, 1]),
     helper.make_node("QLinearAdd", ["c", "sy", "zy", "c", "sy", "zy", "sy", "zy"], ["y"],
                      domain="com.microsoft")],
    "g", [vi("xq", U8, [1, 3, 4, 4])], [vi("y", U8, [1, 2, 4, 4])],
    [init("sx", np.float32(0.1)), init("zx", np.uint8(120)),
     init("wq", qrng.integers(-127, 127, (2, 3, 1, 1)).astype(np.int8)),
     init("sw", np.float32(0.02)), init("zw", np.int8(0)), init("sy", np.float32(0.2)),
     init("zy", np.uint8(100))])
qop_model = helper.make_model(qop, opset_imports=[helper.make_opsetid("", 13),
                                                  helper.make_opsetid("com.microsoft", 1)])
qop_model.ir_version = 8
write("load_model", "qoperator.onnx", qop_model.SerializeToString())
full = onnx.load_from_string(model(
    [helper.make_node("Relu", ["x"], ["y"])], [vi("x", F, [4])], [vi("y", F, [4])]))
write("load_model", "newest_ir_opset.onnx", helper.make_model(
    full.graph, opset_imports=[helper.make_opsetid("", onnx.defs.onnx_opset_version())])
    .SerializeToString())
bad = model([helper.make_node("Conv", ["x", "w"], ["y"], kernel_shape=[3, 3])],
            [x4], [vi("y", F, None)], [init("w", r(4, 3, 3, 3))])
write("load_model", "truncated.onnx", bad[: len(bad) // 2])
write("load_model", "empty.onnx", b"")

# ---- npy ---------------------------------------------------------------------------------
def npy(header_dict, body, version=(1, 0)):
    h = repr(header_dict).encode("latin1")
    pad = (64 - (10 + len(h) + 1) % 64) % 64
    h = h + b" " * pad + b"\n"
    size = struct.pack("<H", len(h)) if version[0] == 1 else struct.pack("<I", len(h))
    return b"\x93NUMPY" + bytes(version) + size + h + body


write("npy", "f32.npy", npy({"descr": "<f4", "fortran_order": False, "shape": (2, 3)},
                            np.arange(6, dtype="<f4").tobytes()))
write("npy", "i64_v2.npy", npy({"descr": "<i8", "fortran_order": False, "shape": (3,)},
                               np.arange(3, dtype="<i8").tobytes(), (2, 0)))
write("npy", "bool_scalar.npy", npy({"descr": "|b1", "fortran_order": False, "shape": ()}, b"\x01"))
write("npy", "f16_empty.npy", npy({"descr": "<f2", "fortran_order": False, "shape": (0, 4)}, b""))
write("npy", "fortran.npy", npy({"descr": "<f8", "fortran_order": True, "shape": (2, 2)},
                                b"\0" * 32))
write("npy", "big_endian.npy", npy({"descr": ">f4", "fortran_order": False, "shape": (1,)},
                                   b"\0" * 4))
write("npy", "short_body.npy", npy({"descr": "<f4", "fortran_order": False, "shape": (100,)},
                                   b"\0" * 8))

# ---- serve_request: the model and requests to it ------------------------------------------
serve_dir = HERE / "serve_model"
serve_dir.mkdir(exist_ok=True)
(serve_dir / "model.onnx").write_bytes(model(
    [helper.make_node("Gemm", ["x", "w", "b"], ["g"]),
     helper.make_node("Relu", ["g"], ["y"]),
     helper.make_node("Gather", ["table", "ids"], ["z"], axis=0)],
    [vi("x", F, ["n", 4]), vi("ids", I64, ["n", 3])],
    [vi("y", F, ["n", 2]), vi("z", F, ["n", 3, 2])],
    [init("w", r(4, 2)), init("b", r(2)), init("table", r(10, 2))]))


def http(name, method, target, body=b"", header_length=None):
    line = f"{method} {target}\n{'' if header_length is None else header_length}\n".encode()
    write("serve_request", name, b"\0" + line + body)


infer = {"inputs": [
    {"name": "x", "shape": [1, 4], "datatype": "FP32", "data": [1, 2, 3, 4]},
    {"name": "ids", "shape": [1, 3], "datatype": "INT64", "data": [0, 9, 3]}],
    "outputs": [{"name": "y"}, {"name": "z", "parameters": {"binary_data": True}}]}
http("infer_json", "POST", "/v2/models/m/infer", json.dumps(infer).encode())
binary_header = json.dumps({"inputs": [
    {"name": "x", "shape": [2, 4], "datatype": "FP32", "parameters": {"binary_data_size": 32}},
    {"name": "ids", "shape": [2, 3], "datatype": "INT64", "parameters": {"binary_data_size": 48}}],
    "parameters": {"binary_data_output": True}}).encode()
http("infer_binary", "POST", "/v2/models/m/versions/1/infer",
     binary_header + np.ones(8, "<f4").tobytes() + np.arange(6, dtype="<i8").tobytes(),
     len(binary_header))
http("server_metadata", "GET", "/v2")
http("ready", "GET", "/v2/health/ready")
http("model_metadata", "GET", "/v2/models/m")
http("model_config", "GET", "/v2/models/m/config")
http("model_ready", "GET", "/v2/models/m/versions/1/ready")
http("metrics", "GET", "/metrics")
http("escaped", "GET", "/v2/models/%6D/config")


def varint(n):
    out = b""
    while True:
        b = n & 0x7F
        n >>= 7
        out += bytes([b | (0x80 if n else 0)])
        if not n:
            return out


def field(number, payload):  # length-delimited
    return varint(number << 3 | 2) + varint(len(payload)) + payload


def packed_int64(number, values):
    return field(number, b"".join(varint(v & (2**64 - 1)) for v in values))


def grpc_tensor(name, datatype, shape, contents=b""):
    t = field(1, name.encode()) + field(2, datatype.encode()) + packed_int64(3, shape)
    return t + (field(5, contents) if contents else b"")


# ModelInferRequest: model_name 1, model_version 2, id 3, inputs 5, outputs 6,
# raw_input_contents 7; InferTensorContents: fp32_contents 6 (packed float), int64_contents 3.
raw = (field(1, b"m") + field(3, b"req-1")
       + field(5, grpc_tensor("x", "FP32", [1, 4])) + field(5, grpc_tensor("ids", "INT64", [1, 3]))
       + field(6, field(1, b"z"))
       + field(7, np.arange(4, dtype="<f4").tobytes()) + field(7, np.arange(3, dtype="<i8").tobytes()))
write("serve_request", "grpc_raw", b"\x01" + raw)
typed = (field(1, b"m") + field(2, b"1")
         + field(5, grpc_tensor("x", "FP32", [1, 4], field(6, np.ones(4, "<f4").tobytes())))
         + field(5, grpc_tensor("ids", "INT64", [1, 3], packed_int64(3, [1, 2, 11]))))
write("serve_request", "grpc_typed", b"\x01" + typed)
print("seeds written under", HERE / "corpus")
