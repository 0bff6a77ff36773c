"""Writes the ONNX backend node tests of the given operators in the layout of
onnx/backend/test/data/node (model.onnx, test_data_set_N/input_K.pb, output_K.pb), from the
test case definitions of the installed `onnx` package. The committed subset in
../shared/onnx-node-tests predates some operators keel implements; this makes their cases
from the current ONNX release instead.

Usage: make_node_tests.py OUT_DIR OP_TYPE...
"""

import os
import sys
import warnings

import numpy as np
import onnx
from onnx import numpy_helper
from onnx.backend.test.case import node as node_cases


def tensor_for(value, value_info):
    if isinstance(value, onnx.TensorProto):  # types numpy lacks (float8, int4) come ready-made
        t = onnx.TensorProto()
        t.CopyFrom(value)
        t.name = value_info.name
        return t
    return numpy_helper.from_array(np.asarray(value), value_info.name)


def main():
    out_dir, ops = sys.argv[1], sys.argv[2:]
    written = 0
    # The collector imports every case module once, so all operators are collected in one call
    # and filtered here.
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        cases = [c for c in node_cases.collect_testcases(None) if c.kind == "node"
                 and any(n.op_type in ops for n in c.model.graph.node)]
    for case in cases:
        folder = os.path.join(out_dir, case.name)
        os.makedirs(folder, exist_ok=True)
        onnx.save(case.model, os.path.join(folder, "model.onnx"))
        graph = case.model.graph
        for k, (inputs, outputs) in enumerate(case.data_sets):
            data = os.path.join(folder, f"test_data_set_{k}")
            os.makedirs(data, exist_ok=True)
            for i, value in enumerate(inputs):
                t = tensor_for(value, graph.input[i])
                with open(os.path.join(data, f"input_{i}.pb"), "wb") as f:
                    f.write(t.SerializeToString())
            for i, value in enumerate(outputs):
                t = tensor_for(value, graph.output[i])
                with open(os.path.join(data, f"output_{i}.pb"), "wb") as f:
                    f.write(t.SerializeToString())
        written += 1
    print(f"wrote {written} node tests of {' '.join(ops)} (onnx {onnx.__version__}) to {out_dir}")


if __name__ == "__main__":
    main()
