#!/usr/bin/env python3
"""Validate exported models against their float64 torch references with onnxruntime.

Run with the default python3 (needs: onnx onnxruntime numpy):

    python3 models/check_references.py models models/zoo
    python3 models/check_references.py models/resnet_tiny

Each argument is either a model folder (containing model.onnx) or a folder
whose immediate sub-folders are model folders.  For each model:
  * onnx.checker.check_model (full_check, i.e. with shape inference),
  * run onnxruntime (CPU) on inputs/<name>.npy,
  * print max|ort - f64| / max|f64| for every outputs_f64/<name>.npy,
  * if the batch dim is symbolic, run batch 2 and check row 0 matches batch 1.
Exits non-zero if a check fails or an error exceeds --tol.
"""

import argparse
import collections
import glob
import os
import sys
import time

import numpy as np
import onnx
import onnxruntime as ort


def model_dirs(paths):
    for p in paths:
        if os.path.isfile(os.path.join(p, "model.onnx")):
            yield p
            continue
        subs = sorted(d for d in glob.glob(os.path.join(p, "*")) if os.path.isfile(os.path.join(d, "model.onnx")))
        if not subs:
            print(f"warning: no model.onnx in {p} or its sub-folders", file=sys.stderr)
        yield from subs


def check(d, opt_level, tol):
    name = os.path.basename(os.path.normpath(d))
    path = os.path.join(d, "model.onnx")
    t0 = time.time()
    ok = True
    # check_model on a path also works for models > 2 GB; full_check runs shape inference.
    try:
        onnx.checker.check_model(path, full_check=True)
        checker = "ok"
    except Exception as e:  # noqa: BLE001
        checker = f"FAIL ({type(e).__name__}: {str(e).splitlines()[0][:200]})"
        ok = False
    m = onnx.load(path, load_external_data=False)
    ops = collections.Counter(n.op_type for n in m.graph.node)
    bn_train = sum(
        1
        for n in m.graph.node
        if n.op_type == "BatchNormalization"
        and any(a.name == "training_mode" and a.i for a in n.attribute)
    )
    if bn_train:
        ok = False

    so = ort.SessionOptions()
    so.graph_optimization_level = opt_level
    so.intra_op_num_threads = 1
    sess = ort.InferenceSession(path, so, providers=["CPUExecutionProvider"])
    feeds = {}
    for i in sess.get_inputs():
        feeds[i.name] = np.load(os.path.join(d, "inputs", i.name + ".npy"))
    outs = dict(zip([o.name for o in sess.get_outputs()], sess.run(None, feeds)))
    errs = []
    for ref_path in sorted(glob.glob(os.path.join(d, "outputs_f64", "*.npy"))):
        oname = os.path.splitext(os.path.basename(ref_path))[0]
        ref = np.load(ref_path)
        got = outs[oname].astype(np.float64)
        if got.shape != ref.shape:
            errs.append(f"{oname}: shape {got.shape} != ref {ref.shape}")
            ok = False
            continue
        rel = float(np.max(np.abs(got - ref)) / max(float(np.max(np.abs(ref))), 1e-30))
        argmax_same = ref.ndim == 2 and bool(np.all(got.argmax(1) == ref.argmax(1)))
        errs.append(f"{oname}: rel={rel:.3e} argmax_same={argmax_same}")
        if not rel <= tol:
            ok = False
    # Dynamic batch: run batch 2 (input, -input) and compare row 0 with batch 1.
    dyn = all(isinstance(i.shape[0], str) for i in sess.get_inputs())
    if dyn:
        feeds2 = {k: np.concatenate([v, -v], axis=0) for k, v in feeds.items()}
        outs2 = sess.run(None, feeds2)
        bdiff = max(
            float(np.max(np.abs(o2[:1].astype(np.float64) - o1.astype(np.float64))))
            / max(float(np.max(np.abs(o1))), 1e-30)
            for o1, o2 in zip(outs.values(), outs2)
        )
        errs.append(f"batch2_row0_rel={bdiff:.1e}")
        if not bdiff <= tol or any(o2.shape[0] != 2 for o2 in outs2):
            ok = False
    else:
        errs.append("static-batch")
    print(
        f"{'OK  ' if ok else 'FAIL'} {name:22s} checker={checker} BN={ops.get('BatchNormalization', 0)}"
        f" BN(training)={bn_train} nodes={len(m.graph.node)} {' '.join(errs)} ({time.time() - t0:.1f}s)",
        flush=True,
    )
    return ok


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("folders", nargs="*", default=[os.path.dirname(os.path.abspath(__file__))])
    ap.add_argument("--tol", type=float, default=1e-4, help="max allowed relative error (default 1e-4)")
    ap.add_argument(
        "--opt",
        choices=["disable", "basic", "extended", "all"],
        default="disable",
        help="onnxruntime graph optimisation level (default: disable, i.e. run the graph as exported)",
    )
    args = ap.parse_args()
    level = {
        "disable": ort.GraphOptimizationLevel.ORT_DISABLE_ALL,
        "basic": ort.GraphOptimizationLevel.ORT_ENABLE_BASIC,
        "extended": ort.GraphOptimizationLevel.ORT_ENABLE_EXTENDED,
        "all": ort.GraphOptimizationLevel.ORT_ENABLE_ALL,
    }[args.opt]
    print(f"onnx {onnx.__version__}, onnxruntime {ort.__version__}, graph optimisation: {args.opt}")
    results = [check(d, level, args.tol) for d in model_dirs(args.folders)]
    failed = results.count(False)
    print(f"{len(results) - failed} passed, {failed} failed")
    return 1 if failed or not results else 0


if __name__ == "__main__":
    sys.exit(main())
