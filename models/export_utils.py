"""Shared helpers for generate_zoo.py and generate_small.py.

Run under a Python that has torch (the Debian /usr/bin/python3 with
python3-torch).  The `onnx` package is NOT required here: the exported file is
inspected with a tiny protobuf reader (count_ops) so the generators work with
nothing but torch + numpy.

Folder format written by export_model():

    <dir>/model.onnx
    <dir>/inputs/input.npy          float32, the exact values fed to the model
    <dir>/outputs_f64/output.npy    float64, torch reference computed with the
                                    model converted to float64 (model.double())
                                    on the same float32 input values
"""

from __future__ import annotations

import os
import zlib

import numpy as np
import torch

INPUT_NAME = "input"
OUTPUT_NAME = "output"
OPSET = 17


def name_seed(name: str, base: int = 1234) -> int:
    """Deterministic per-model seed (stable across runs and machines)."""
    return (base + zlib.crc32(name.encode("utf-8"))) % (2**31)


@torch.no_grad()
def randomize_norm_params(model: torch.nn.Module, seed: int) -> None:
    """Give every normalisation layer non-trivial statistics / affine params.

    Freshly initialised BatchNorm has mean=0, var=1, weight=1, bias=0, which
    makes BN a no-op and hides bugs in BN folding/evaluation.  We draw:
      running_mean ~ N(0,1)*0.5, running_var ~ U(0.5,2.0),
      weight ~ U(0.5,1.5),       bias ~ N(0,1)*0.2
    For LayerNorm/GroupNorm affine params the same weight/bias law is used, and
    ConvNeXt's layer_scale (init 1e-6, which would make every block an
    identity) is drawn from U(0.1,0.5).
    """
    g = torch.Generator().manual_seed(seed)

    def normal(t, scale):
        t.copy_(torch.randn(t.shape, generator=g, dtype=torch.float64).to(t.dtype) * scale)

    def uniform(t, lo, hi):
        t.copy_((torch.rand(t.shape, generator=g, dtype=torch.float64) * (hi - lo) + lo).to(t.dtype))

    for name, m in model.named_modules():
        if isinstance(m, torch.nn.modules.batchnorm._BatchNorm):
            if m.running_mean is not None:
                normal(m.running_mean, 0.5)
                uniform(m.running_var, 0.5, 2.0)
            if m.weight is not None:
                uniform(m.weight, 0.5, 1.5)
                normal(m.bias, 0.2)
        elif isinstance(m, (torch.nn.LayerNorm, torch.nn.GroupNorm)):
            if m.weight is not None:
                uniform(m.weight, 0.5, 1.5)
            if m.bias is not None:
                normal(m.bias, 0.2)
        # ConvNeXt layer scale (torchvision CNBlock and our own blocks).
        ls = getattr(m, "layer_scale", None)
        if isinstance(ls, torch.nn.Parameter):
            uniform(ls.data, 0.1, 0.5)


def make_input(shape, seed: int) -> np.ndarray:
    rs = np.random.RandomState(seed)
    return rs.standard_normal(shape).astype(np.float32)


def export_onnx(model: torch.nn.Module, example: torch.Tensor, path: str) -> None:
    """Export with BatchNormalization kept as nodes (inference mode)."""
    model.eval()
    # TrainingMode.PRESERVE with a model in eval() keeps BN as
    # BatchNormalization(training_mode=0); TrainingMode.EVAL would fold BN into
    # the preceding Conv (even with do_constant_folding=False in torch 1.13).
    torch.onnx.export(
        model,
        example,
        path,
        export_params=True,
        opset_version=OPSET,
        training=torch.onnx.TrainingMode.PRESERVE,
        do_constant_folding=False,
        input_names=[INPUT_NAME],
        output_names=[OUTPUT_NAME],
        dynamic_axes={INPUT_NAME: {0: "batch"}, OUTPUT_NAME: {0: "batch"}},
    )


@torch.no_grad()
def reference_f64(model: torch.nn.Module, x32: np.ndarray) -> np.ndarray:
    m64 = model.double().eval()
    out = m64(torch.from_numpy(x32.astype(np.float64)))
    model.float()
    return out.numpy().astype(np.float64)


def export_model(model: torch.nn.Module, out_dir: str, input_shape, seed: int) -> dict:
    """Randomise norms, export ONNX, save input + float64 reference.

    Returns a summary dict (op counts etc.)."""
    os.makedirs(os.path.join(out_dir, "inputs"), exist_ok=True)
    os.makedirs(os.path.join(out_dir, "outputs_f64"), exist_ok=True)
    model.eval()
    randomize_norm_params(model, seed + 1)
    x32 = make_input(input_shape, seed + 2)
    onnx_path = os.path.join(out_dir, "model.onnx")
    tmp = onnx_path + ".tmp"
    export_onnx(model, torch.from_numpy(x32), tmp)
    with torch.no_grad():
        out32 = model(torch.from_numpy(x32)).numpy()
    ref = reference_f64(model, x32)
    np.save(os.path.join(out_dir, "inputs", INPUT_NAME + ".npy"), x32)
    np.save(os.path.join(out_dir, "outputs_f64", OUTPUT_NAME + ".npy"), ref)
    os.replace(tmp, onnx_path)  # model.onnx last: its presence marks completion

    ops, bn_training = count_ops(onnx_path)
    if bn_training:
        raise RuntimeError(f"{onnx_path}: {bn_training} BatchNormalization nodes with training_mode=1")
    torch_f32_err = float(np.max(np.abs(out32 - ref)) / max(np.max(np.abs(ref)), 1e-30))
    return {
        "ops": ops,
        "bn": ops.get("BatchNormalization", 0),
        "size": os.path.getsize(onnx_path),
        "out_shape": tuple(ref.shape),
        "out_absmax": float(np.max(np.abs(ref))),
        "torch_f32_rel_err": torch_f32_err,
    }


def is_complete(out_dir: str) -> bool:
    return all(
        os.path.isfile(os.path.join(out_dir, p))
        for p in ("model.onnx", "inputs/input.npy", "outputs_f64/output.npy")
    )


# ---------------------------------------------------------------------------
# Minimal protobuf reader: count node op_types of an ONNX ModelProto without
# the `onnx` package.  ModelProto.graph = 7; GraphProto.node = 1;
# NodeProto.op_type = 4, NodeProto.attribute = 5;
# AttributeProto.name = 1, AttributeProto.i = 3.
# Sub-graphs (If/Loop bodies) are not descended into.


def _varint(buf, pos):
    result = 0
    shift = 0
    while True:
        b = buf[pos]
        pos += 1
        result |= (b & 0x7F) << shift
        if not b & 0x80:
            return result, pos
        shift += 7


def _fields(buf, start, end):
    pos = start
    while pos < end:
        key, pos = _varint(buf, pos)
        field, wt = key >> 3, key & 7
        if wt == 0:
            val, pos = _varint(buf, pos)
            yield field, wt, val, None
        elif wt == 1:
            yield field, wt, buf[pos:pos + 8], None
            pos += 8
        elif wt == 2:
            ln, pos = _varint(buf, pos)
            yield field, wt, pos, pos + ln
            pos += ln
        elif wt == 5:
            yield field, wt, buf[pos:pos + 4], None
            pos += 4
        else:
            raise ValueError(f"unsupported wire type {wt}")


def count_ops(path: str):
    """Return ({op_type: count}, number of BN nodes with training_mode=1)."""
    with open(path, "rb") as f:
        buf = memoryview(f.read())
    ops: dict = {}
    bn_training = 0
    for field, wt, s, e in _fields(buf, 0, len(buf)):
        if field != 7 or wt != 2:
            continue
        for gf, gwt, gs, ge in _fields(buf, s, e):
            if gf != 1 or gwt != 2:
                continue
            op_type = ""
            training = 0
            for nf, nwt, ns, ne in _fields(buf, gs, ge):
                if nf == 4 and nwt == 2:
                    op_type = bytes(buf[ns:ne]).decode()
                elif nf == 5 and nwt == 2:
                    aname, ival = "", 0
                    for af, awt, a_s, a_e in _fields(buf, ns, ne):
                        if af == 1 and awt == 2:
                            aname = bytes(buf[a_s:a_e]).decode()
                        elif af == 3 and awt == 0:
                            ival = a_s
                    if aname == "training_mode":
                        training = ival
            ops[op_type] = ops.get(op_type, 0) + 1
            if op_type == "BatchNormalization" and training:
                bn_training += 1
    return ops, bn_training


def format_ops(ops: dict) -> str:
    return " ".join(f"{k}:{v}" for k, v in sorted(ops.items(), key=lambda kv: (-kv[1], kv[0])))
