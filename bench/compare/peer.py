"""Times one model on ONNX Runtime or OpenVINO, in its own process (run by compare.py).

    peer.py measure --runtime ort|ov|ov_default --model M.onnx --input NAME=FILE.npy --threads T
                    --time S --warmup W --out-json F [--out-dir D]
    peer.py foldcheck --original M.onnx --folded F.onnx --input NAME=FILE.npy --threads T --out-json F

`measure` writes {"runtime", "version", "load_ms", "first_inference_ms", "runs", "latency_p50_ms",
"latency_min_ms", "latency_mean_ms", "settings"} and, with --out-dir, each output as D/<name>.npy.
`foldcheck` runs both files on ONNX Runtime and writes the largest difference between their
outputs relative to the original's scale, and whether the onnx checker accepts the folded file.
"""

import argparse
import json
import os
import statistics
import sys
import time

import numpy as np


def parse_inputs(items):
    feeds = {}
    for item in items:
        name, sep, path = item.partition("=")
        if not sep or not name or not path:
            raise SystemExit(f"peer.py: --input '{item}' must look like NAME=FILE.npy")
        feeds[name] = np.load(path)
    return feeds


def ort_session(path, threads):
    import onnxruntime as ort

    so = ort.SessionOptions()
    so.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    so.intra_op_num_threads = threads
    so.inter_op_num_threads = 1
    so.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
    return ort.InferenceSession(path, so, providers=["CPUExecutionProvider"])


class OrtRunner:
    name = "onnxruntime"

    def __init__(self, path, feeds, threads):
        import onnxruntime as ort

        self.version = ort.__version__
        self.session = ort_session(path, threads)
        self.names = [o.name for o in self.session.get_outputs()]
        self.feeds = feeds
        self.settings = {
            "graph_optimization_level": "ORT_ENABLE_ALL",
            "intra_op_num_threads": threads,
            "inter_op_num_threads": 1,
            "providers": self.session.get_providers(),
        }

    def run(self):
        return dict(zip(self.names, self.session.run(None, self.feeds)))


class OvRunner:
    name = "openvino"

    def __init__(self, path, feeds, threads, precision="f32"):
        import openvino as ov

        self.version = ov.get_version()
        core = ov.Core()
        model = core.read_model(path)
        # A latency user compiles for the shape they serve: make the inputs static.
        model.reshape({name: list(array.shape) for name, array in feeds.items()})
        # precision None: OpenVINO's own default for this CPU (bf16 where it has AVX512_BF16 or
        # AMX), what a user who sets nothing gets; the setting read back says which it was.
        config = {"PERFORMANCE_HINT": "LATENCY", "INFERENCE_NUM_THREADS": str(threads)}
        if precision:
            config["INFERENCE_PRECISION_HINT"] = precision
        self.compiled = core.compile_model(model, "CPU", config)
        self.request = self.compiled.create_infer_request()
        self.names = [o.get_any_name() for o in self.compiled.outputs]
        self.feeds = feeds
        self.settings = {key: str(self.compiled.get_property(key))
                         for key in list(config) + ["INFERENCE_PRECISION_HINT"]}
        self.settings["NUM_STREAMS"] = str(self.compiled.get_property("NUM_STREAMS"))

    def run(self):
        self.request.infer(self.feeds)
        return {name: self.request.get_output_tensor(i).data.copy() for i, name in enumerate(self.names)}


def measure(args):
    feeds = parse_inputs(args.input)
    t0 = time.perf_counter()
    if args.runtime == "ort":
        runner = OrtRunner(args.model, feeds, args.threads)
    else:
        runner = OvRunner(args.model, feeds, args.threads, precision=None if args.runtime == "ov_default" else "f32")
    load_ms = (time.perf_counter() - t0) * 1e3
    t0 = time.perf_counter()
    outputs = runner.run()
    first_ms = (time.perf_counter() - t0) * 1e3
    for _ in range(args.warmup):
        runner.run()
    latencies = []
    start = time.perf_counter()
    while not latencies or time.perf_counter() - start < args.time:
        t0 = time.perf_counter()
        runner.run()
        latencies.append((time.perf_counter() - t0) * 1e3)
    if args.out_dir:
        os.makedirs(args.out_dir, exist_ok=True)
        for name, value in outputs.items():
            np.save(os.path.join(args.out_dir, name + ".npy"), value)
    result = {
        "runtime": runner.name,
        "version": runner.version,
        "load_ms": load_ms,
        "first_inference_ms": first_ms,
        "runs": len(latencies),
        "latency_p50_ms": statistics.median(latencies),
        "latency_min_ms": min(latencies),
        "latency_mean_ms": statistics.fmean(latencies),
        "settings": runner.settings,
    }
    with open(args.out_json, "w") as f:
        json.dump(result, f, indent=2)


def foldcheck(args):
    import onnx

    feeds = parse_inputs(args.input)
    checker = "passed"
    try:
        onnx.checker.check_model(onnx.load(args.folded), full_check=True)
    except Exception as e:  # the checker's own exception types vary between versions
        checker = f"failed: {e}"
    original = ort_session(args.original, args.threads)
    folded = ort_session(args.folded, args.threads)
    a = original.run(None, feeds)
    b = folded.run(None, feeds)
    worst = 0.0
    for x, y in zip(a, b):
        x64 = np.asarray(x, dtype=np.float64)
        y64 = np.asarray(y, dtype=np.float64)
        scale = float(np.max(np.abs(x64))) or 1.0
        worst = max(worst, float(np.max(np.abs(x64 - y64))) / scale)
    result = {
        "checker": checker,
        "outputs": len(a),
        "max_rel_diff": worst,
        "original_nodes": len(onnx.load(args.original, load_external_data=False).graph.node),
        "folded_nodes": len(onnx.load(args.folded, load_external_data=False).graph.node),
    }
    with open(args.out_json, "w") as f:
        json.dump(result, f, indent=2)


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = ap.add_subparsers(dest="command", required=True)
    m = sub.add_parser("measure")
    m.add_argument("--runtime", choices=["ort", "ov", "ov_default"], required=True)
    m.add_argument("--model", required=True)
    m.add_argument("--input", action="append", default=[], required=True)
    m.add_argument("--threads", type=int, required=True)
    m.add_argument("--time", type=float, default=3.0)
    m.add_argument("--warmup", type=int, default=2)
    m.add_argument("--out-json", required=True)
    m.add_argument("--out-dir", default="")
    c = sub.add_parser("foldcheck")
    c.add_argument("--original", required=True)
    c.add_argument("--folded", required=True)
    c.add_argument("--input", action="append", default=[], required=True)
    c.add_argument("--threads", type=int, default=1)
    c.add_argument("--out-json", required=True)
    args = ap.parse_args()
    if args.command == "measure":
        measure(args)
    else:
        foldcheck(args)
    return 0


if __name__ == "__main__":
    sys.exit(main())
