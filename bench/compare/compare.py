#!/usr/bin/env python3
"""keel beside ONNX Runtime and OpenVINO on the model zoo, in one command.

    python3 bench/compare/compare.py [--models resnet18,resnet50] [--threads 1,2] [--batches 1,8]
                                     [--runtimes keel,keel_bf16,ort,ov,ov_default]
                                     [--repeat N] [--time S] [--warmup W] [--quick] [--dry-run]
                                     [--keel build/release/bin/keel]

What it does, in order:
  1. creates bench/compare/.venv (git-ignored) and installs the pinned packages of
     requirements.txt into it (onnxruntime, openvino, numpy, matplotlib, onnx), then re-runs
     itself with that environment's python;
  2. generates the zoo models that are missing (/usr/bin/python3 models/generate_zoo.py);
  3. for every model, batch and thread count, runs each of --runtimes in turn (keel, keel_bf16,
     ORT, OV, OV default, keel, ... for --repeat rounds), each measurement in a fresh process, all
     on the same input (the model's stored input, repeated along the batch dimension). The
     runtimes: keel float32 (`keel bench --json`), keel with --precision bf16, ONNX Runtime,
     OpenVINO with INFERENCE_PRECISION_HINT f32, and OpenVINO as installed (no precision hint:
     what a user gets, bf16 on CPUs with AVX512_BF16 or AMX);
  4. measures each runtime's error against the float64 reference (max|y - ref| / max|ref|; the
     reference is the batch-1 output, repeated like the input);
  5. writes `keel fold` output for every model and checks ONNX Runtime runs it with the same
     outputs as the original;
  6. writes results/results.md, results/results.csv and results/ratios.png.

--dry-run checks the arguments and prints the plan, installing and running nothing.
"""

import argparse
import ast
import csv
import datetime
import json
import os
import platform
import shutil
import statistics
import subprocess
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))
VENV = os.path.join(HERE, ".venv")
VENV_PYTHON = os.path.join(VENV, "bin", "python")
REQUIREMENTS = os.path.join(HERE, "requirements.txt")
INSTALLED_MARK = os.path.join(VENV, "keel-compare-requirements.txt")
ZOO_DIR = os.path.join(ROOT, "models", "zoo")
GENERATOR = os.path.join(ROOT, "models", "generate_zoo.py")
QDQ_GENERATOR = os.path.join(ROOT, "models", "generate_qdq.py")
IN_VENV_ENV = "KEEL_COMPARE_IN_VENV"
RUNTIMES = ("keel", "keel_bf16", "ort", "ov", "ov_default")
LABELS = {"keel": "keel", "keel_bf16": "keel bf16", "ort": "ORT", "ov": "OV", "ov_default": "OV default"}
# The ratios reported, (numerator, denominator): keel float32 against the float32 peers, keel
# bf16 against OpenVINO's default precision.
RATIOS = (("keel", "ort"), ("keel", "ov"), ("keel_bf16", "ov_default"))


def zoo_models():
    """The model list of models/generate_zoo.py (read from its source: it imports torch)."""
    with open(GENERATOR) as f:
        tree = ast.parse(f.read())
    for node in tree.body:
        if isinstance(node, ast.Assign) and any(getattr(t, "id", "") == "ZOO" for t in node.targets):
            return list(ast.literal_eval(node.value))
    raise SystemExit(f"compare.py: no ZOO list in {GENERATOR}")


def int_list(text):
    try:
        values = [int(x) for x in text.split(",") if x.strip()]
    except ValueError:
        raise argparse.ArgumentTypeError(f"'{text}' is not a comma-separated list of integers")
    if not values or any(v <= 0 for v in values):
        raise argparse.ArgumentTypeError(f"'{text}' must list positive integers")
    return values


def positive_int(text):
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"'{text}' is not an integer")
    if value <= 0:
        raise argparse.ArgumentTypeError(f"'{text}' must be positive")
    return value


def non_negative_int(text):
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"'{text}' is not an integer")
    if value < 0:
        raise argparse.ArgumentTypeError(f"'{text}' must be >= 0")
    return value


def positive_float(text):
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"'{text}' is not a number")
    if not value > 0:
        raise argparse.ArgumentTypeError(f"'{text}' must be positive")
    return value


def parse_args(argv):
    # <model>_qdq: the zoo model quantized by ONNX Runtime's quantize_static (models/generate_qdq.py).
    zoo = zoo_models()
    zoo += [m + "_qdq" for m in zoo]
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--models", default=",".join(zoo_models()),
                    help="comma-separated zoo models, or <model>_qdq for its int8 QDQ form (default: all float)")
    ap.add_argument("--threads", type=int_list, default=[1, 2], help="thread counts (default 1,2)")
    ap.add_argument("--batches", type=int_list, default=[1, 8], help="batch sizes (default 1,8)")
    ap.add_argument("--runtimes", default=",".join(RUNTIMES),
                    help=f"comma-separated runtimes to measure (default: all of {', '.join(RUNTIMES)})")
    ap.add_argument("--repeat", type=positive_int, default=None,
                    help="rounds of the runtimes per configuration (default 2; 1 with --quick)")
    ap.add_argument("--time", type=positive_float, default=None,
                    help="seconds of timed runs per measurement (default 3; 1 with --quick)")
    ap.add_argument("--warmup", type=non_negative_int, default=None,
                    help="untimed runs before timing (default 2; 1 with --quick)")
    ap.add_argument("--quick", action="store_true", help="repeat 1, 1 s per measurement, 1 warmup run")
    ap.add_argument("--keel", default=os.path.join(ROOT, "build", "release", "bin", "keel"),
                    help="keel binary (default build/release/bin/keel)")
    ap.add_argument("--out", default=os.path.join(HERE, "results"), help="results folder")
    ap.add_argument("--no-fold-check", action="store_true", help="skip the keel fold + ONNX Runtime check")
    ap.add_argument("--dry-run", action="store_true", help="check the arguments and print the plan only")
    args = ap.parse_args(argv)
    models = [m for m in args.models.split(",") if m.strip()]
    unknown = [m for m in models if m not in zoo]
    if not models or unknown:
        ap.error(f"--models: unknown model(s) {', '.join(unknown) or '(none given)'}; choose from {', '.join(zoo)}")
    if len(set(models)) != len(models):
        ap.error("--models: a model is listed twice")
    args.models = models
    runtimes = [r for r in args.runtimes.split(",") if r.strip()]
    bad = [r for r in runtimes if r not in RUNTIMES]
    if not runtimes or bad or len(set(runtimes)) != len(runtimes):
        ap.error(f"--runtimes: choose distinct names from {', '.join(RUNTIMES)}")
    args.runtimes = [r for r in RUNTIMES if r in runtimes]
    args.repeat = args.repeat or (1 if args.quick else 2)
    args.time = args.time or (1.0 if args.quick else 3.0)
    args.warmup = args.warmup if args.warmup is not None else (1 if args.quick else 2)
    args.keel = os.path.abspath(args.keel)
    args.out = os.path.abspath(args.out)
    return args


def requirements():
    with open(REQUIREMENTS) as f:
        return [line.strip() for line in f if line.strip() and not line.startswith("#")]


def model_complete(name):
    d = os.path.join(ZOO_DIR, name)
    return all(os.path.isfile(os.path.join(d, p)) for p in ("model.onnx", "inputs/input.npy", "outputs_f64/output.npy"))


def configurations(args):
    return [(m, b, t) for m in args.models for b in args.batches for t in args.threads]


def print_plan(args):
    print("compare.py plan (dry run: nothing is installed or run)")
    print(f"  python for the environment: {sys.executable} ({platform.python_version()})")
    print(f"  virtual environment: {VENV} ({'present' if os.path.exists(VENV_PYTHON) else 'would be created'})")
    print(f"  pinned packages: {' '.join(requirements())}")
    missing = [m for m in args.models if not model_complete(m)]
    print(f"  zoo: {ZOO_DIR}; to generate: {', '.join(missing) if missing else 'none'}")
    print(f"  keel: {args.keel} ({'present' if os.path.isfile(args.keel) else 'missing: build it first'})")
    print(f"  per measurement: {args.warmup} warmup runs, {args.time:g} s timed; {args.repeat} round(s) of "
          f"{', '.join(args.runtimes)}")
    configs = configurations(args)
    print(f"  configurations: {len(configs)} (model x batch x threads), "
          f"{len(configs) * args.repeat * len(args.runtimes)} measurements")
    for m, b, t in configs:
        print(f"    {m} batch {b} threads {t}")
    if not args.no_fold_check:
        print(f"  fold check: keel fold each model, ONNX Runtime on original and folded ({len(args.models)} models)")
    print(f"  results: {os.path.join(args.out, 'results.md')}, results.csv, ratios.png")


def ensure_venv():
    wanted = "\n".join(requirements()) + "\n"
    if os.path.exists(INSTALLED_MARK) and open(INSTALLED_MARK).read() == wanted and os.path.exists(VENV_PYTHON):
        return
    if not os.path.exists(VENV_PYTHON):
        print(f"compare.py: creating {VENV}", flush=True)
        subprocess.run([sys.executable, "-m", "venv", VENV], check=True)
    print(f"compare.py: installing {' '.join(requirements())}", flush=True)
    subprocess.run([VENV_PYTHON, "-m", "pip", "install", "--disable-pip-version-check", "-q", "-r", REQUIREMENTS],
                   check=True)
    with open(INSTALLED_MARK, "w") as f:
        f.write(wanted)


def ensure_zoo(models):
    quantized = [m for m in models if m.endswith("_qdq")]
    models = sorted(set([m for m in models if not m.endswith("_qdq")] + [m[:-4] for m in quantized]))
    ensure_float_zoo(models)
    missing = [m[:-4] for m in quantized if not model_complete(m)]
    if missing:
        print(f"compare.py: quantizing {', '.join(missing)} with ONNX Runtime", flush=True)
        subprocess.run([VENV_PYTHON, QDQ_GENERATOR, "--zoo"] + missing, check=True)


def ensure_float_zoo(models):
    missing = [m for m in models if not model_complete(m)]
    if not missing:
        return
    print(f"compare.py: generating the zoo models {', '.join(missing)}", flush=True)
    subprocess.run(["/usr/bin/python3", GENERATOR, "--only", ",".join(missing)], check=True)
    still = [m for m in missing if not model_complete(m)]
    if still:
        raise SystemExit(f"compare.py: the generator did not produce {', '.join(still)}")


def run(cmd, log):
    with open(log, "w") as f:
        proc = subprocess.run(cmd, stdout=f, stderr=subprocess.STDOUT)
    if proc.returncode != 0:
        with open(log) as f:
            tail = f.read()[-2000:]
        raise RuntimeError(f"{' '.join(cmd)} failed ({proc.returncode}):\n{tail}")


# --- everything below runs inside the virtual environment -----------------------------------


def rel_error(out_dir, ref_dir, batch):
    import numpy as np

    worst = 0.0
    for name in sorted(os.listdir(ref_dir)):
        if not name.endswith(".npy"):
            continue
        ref = np.load(os.path.join(ref_dir, name)).astype(np.float64)
        path = os.path.join(out_dir, name)
        if not os.path.exists(path):
            return float("nan")
        y = np.load(path).astype(np.float64)
        if batch != ref.shape[0]:
            ref = np.concatenate([ref] * batch, axis=0)
        if y.shape != ref.shape:
            return float("nan")
        scale = float(np.max(np.abs(ref))) or 1.0
        worst = max(worst, float(np.max(np.abs(y - ref))) / scale)
    return worst


def make_input(work, model, batch):
    import numpy as np

    x = np.load(os.path.join(ZOO_DIR, model, "inputs", "input.npy"))
    if batch != x.shape[0]:
        x = np.ascontiguousarray(np.concatenate([x] * batch, axis=0))
    path = os.path.join(work, "inputs", f"{model}_b{batch}.npy")
    os.makedirs(os.path.dirname(path), exist_ok=True)
    np.save(path, x)
    return path


def measure(args, work, runtime, model, batch, threads, input_path, round_index, want_outputs):
    onnx_path = os.path.join(ZOO_DIR, model, "model.onnx")
    tag = f"{model}_b{batch}_t{threads}_{runtime}_r{round_index}"
    out_json = os.path.join(work, "json", tag + ".json")
    log = os.path.join(work, "logs", tag + ".log")
    out_dir = os.path.join(work, "outputs", f"{model}_b{batch}_t{threads}_{runtime}") if want_outputs else ""
    if runtime.startswith("keel"):
        precision = ["--precision", "bf16"] if runtime == "keel_bf16" else []
        run([args.keel, "bench", onnx_path, "-i", f"input={input_path}", "--batch", str(batch),
             "--threads", str(threads), "--time", str(args.time), "--warmup", str(args.warmup),
             "--json", out_json] + precision, log)
        with open(out_json) as f:
            j = json.load(f)
        result = {"p50": j["latency_p50_ms"], "load": j["load_total_ms"], "runs": j["runs"], "isa": j["isa"],
                  "version": j["keel_version"], "gflop": j.get("model_gflop"), "peak": j.get("fma_peak_gflops")}
        if out_dir:
            run([args.keel, "run", onnx_path, "-i", f"input={input_path}", "--threads", str(threads),
                 "--iterations", "0", "-o", out_dir] + precision, log + ".outputs")
    else:
        cmd = [sys.executable, os.path.join(HERE, "peer.py"), "measure", "--runtime", runtime, "--model", onnx_path,
               "--input", f"input={input_path}", "--threads", str(threads), "--time", str(args.time),
               "--warmup", str(args.warmup), "--out-json", out_json]
        if out_dir:
            cmd += ["--out-dir", out_dir]
        run(cmd, log)
        with open(out_json) as f:
            j = json.load(f)
        result = {"p50": j["latency_p50_ms"], "load": j["load_ms"], "runs": j["runs"], "version": j["version"],
                  "settings": j["settings"]}
    if out_dir:
        result["error"] = rel_error(out_dir, os.path.join(ZOO_DIR, model, "outputs_f64"), batch)
    return result


def fold_check(args, work, model, threads):
    onnx_path = os.path.join(ZOO_DIR, model, "model.onnx")
    folded = os.path.join(work, "folded", model + ".onnx")
    os.makedirs(os.path.dirname(folded), exist_ok=True)
    log = os.path.join(work, "logs", f"{model}_fold.log")
    run([args.keel, "fold", onnx_path, folded], log)
    out_json = os.path.join(work, "json", f"{model}_foldcheck.json")
    input_path = os.path.join(ZOO_DIR, model, "inputs", "input.npy")
    run([sys.executable, os.path.join(HERE, "peer.py"), "foldcheck", "--original", onnx_path, "--folded", folded,
         "--input", f"input={input_path}", "--threads", str(threads), "--out-json", out_json], log + ".check")
    with open(out_json) as f:
        return json.load(f)


def machine():
    model, cpus = platform.processor() or "unknown CPU", str(os.cpu_count())
    try:
        out = subprocess.run(["lscpu"], capture_output=True, text=True).stdout
        for line in out.splitlines():
            key, _, value = line.partition(":")
            if key.strip() == "Model name":
                model = value.strip()
            if key.strip() == "CPU(s)":
                cpus = value.strip()
    except OSError:
        pass
    return f"{model}, {cpus} CPUs, {platform.system()} {platform.release()}"


def fmt(x, digits=3):
    if x is None or x != x:
        return "n/a"
    return f"{x:.{digits}f}"


def fmt_err(x):
    if x is None or x != x:
        return "n/a"
    return f"{x:.1e}"


def plot_ratios(rows, batches, threads, path, started):
    """Bar chart of keel p50 / peer p50 per model, one bar per (peer, batch, threads)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import matplotlib.ticker

    models = list(dict.fromkeys(r["model"] for r in rows))
    ratios = [(a, b) for a, b in RATIOS if f"{a}_over_{b}" in rows[0]]
    series = [(ratio, b, t) for ratio in ratios for b in batches for t in threads]
    width = 0.8 / max(1, len(series))
    fig, ax = plt.subplots(figsize=(max(8, 1.3 * len(models) + 3), 5))
    for k, ((num, den), b, t) in enumerate(series):
        key = f"{num}_over_{den}"
        ys = []
        for m in models:
            match = [r for r in rows if r["model"] == m and r["batch"] == b and r["threads"] == t]
            ys.append(match[0][key] if match and match[0][key] else float("nan"))
        xs = [i + (k - (len(series) - 1) / 2) * width for i in range(len(models))]
        ax.bar(xs, ys, width, label=f"{LABELS[num]}/{LABELS[den]} b{b} t{t}")
    ax.axhline(1.0, color="black", linewidth=0.8)
    ax.set_yscale("log")
    ax.yaxis.set_major_formatter(matplotlib.ticker.FormatStrFormatter("%.2g"))
    ax.yaxis.set_minor_formatter(matplotlib.ticker.FormatStrFormatter("%.2g"))
    ax.set_xticks(range(len(models)))
    ax.set_xticklabels(models, rotation=30, ha="right")
    ax.set_ylabel("keel p50 / peer p50 (lower is better for keel)")
    ax.set_title(f"keel latency relative to ONNX Runtime and OpenVINO ({started:%Y-%m-%d})")
    ax.legend(fontsize=7, ncol=2)
    fig.tight_layout()
    fig.savefig(path, dpi=110)


def per_row(settings, threads_key):
    """Settings of the last measurement, with the thread count marked as the row's."""
    shown = dict(settings)
    if threads_key in shown:
        shown[threads_key] = "threads of the row"
    return shown


def write_results(args, rows, folds, versions, settings, started):
    os.makedirs(args.out, exist_ok=True)
    rts = args.runtimes
    ratios = [(a, b) for a, b in RATIOS if a in rts and b in rts]
    fields = (["model", "batch", "threads"] + [f"{rt}_p50_ms" for rt in rts] + [f"{a}_over_{b}" for a, b in ratios]
              + [f"{rt}_pct_peak" for rt in rts] + ["fma_peak_gflops"] + [f"{rt}_load_ms" for rt in rts]
              + [f"{rt}_err" for rt in rts])
    with open(os.path.join(args.out, "results.csv"), "w", newline="") as f:
        w = csv.DictWriter(f, fieldnames=fields)
        w.writeheader()
        for r in rows:
            w.writerow({k: r[k] for k in fields})

    peers = ", ".join(f"{LABELS[rt]} {versions.get(rt, '?')}" for rt in rts if not rt.startswith("keel"))
    lines = [
        "# keel vs ONNX Runtime vs OpenVINO",
        "",
        f"Date: {started:%Y-%m-%d %H:%M} UTC. Machine: {machine()}.",
        f"Versions: keel {versions['keel']} (ISA {versions['isa']}); {peers}; python {platform.python_version()}.",
        f"Settings: {args.warmup} warmup runs, {args.time:g} s timed per measurement, {args.repeat} round(s) of "
        f"{', '.join(LABELS[rt] for rt in rts)} per row (interleaved, each in a fresh process); p50 is the median of "
        "the rounds' medians; load is file to ready-to-run (keel: parse + passes + plan; ORT: InferenceSession; OV: "
        "read + reshape + compile).",
    ]
    for rt in rts:
        if rt in settings:
            key = "intra_op_num_threads" if rt == "ort" else "INFERENCE_NUM_THREADS"
            lines.append(f"{LABELS[rt]} (properties read back): {json.dumps(per_row(settings[rt], key))}.")
    lines += [
        "Error: max|y - ref| / max|ref| against the float64 reference (batch-1 output repeated for larger batches).",
        "% FMA peak: the model's multiply-adds x 2 (Conv, Gemm, MatMul, counted by keel; a direct convolution's "
        "count for Winograd layers) per p50 latency, against keel's float32 FMA probe on the row's threads "
        "(fma_peak_gflops in the CSV); bfloat16 runs may exceed 100%.",
        "",
        "| model | batch | threads | " + " | ".join(f"{LABELS[rt]} p50 ms" for rt in rts) + " | "
        + " | ".join(f"{LABELS[a]}/{LABELS[b]}" for a, b in ratios) + " | % FMA peak " + " / ".join(LABELS[rt] for rt in rts)
        + " | load ms " + " / ".join(LABELS[rt] for rt in rts) + " | error " + " / ".join(LABELS[rt] for rt in rts) + " |",
        "|" + "---|" * (3 + len(rts) + len(ratios) + 3),
    ]
    for r in rows:
        lines.append(
            f"| {r['model']} | {r['batch']} | {r['threads']} | "
            + " | ".join(fmt(r[f"{rt}_p50_ms"]) for rt in rts) + " | "
            + " | ".join(fmt(r[f"{a}_over_{b}"], 2) for a, b in ratios) + " | "
            + " / ".join(fmt(r.get(f"{rt}_pct_peak"), 0) for rt in rts) + " | "
            + " / ".join(fmt(r[f"{rt}_load_ms"], 1) for rt in rts) + " | "
            + " / ".join(fmt_err(r[f"{rt}_err"]) for rt in rts) + " |")
    if folds:
        lines += ["", "`keel fold` output run by ONNX Runtime (same input, largest difference from the original "
                  "relative to its scale):", "", "| model | nodes before | nodes after | onnx checker | max rel diff | "
                  "same outputs (<= 1e-4) |", "|---|---|---|---|---|---|"]
        for m, fc in folds.items():
            lines.append(f"| {m} | {fc['original_nodes']} | {fc['folded_nodes']} | {fc['checker']} | "
                         f"{fc['max_rel_diff']:.1e} | {'yes' if fc['max_rel_diff'] <= 1e-4 else 'NO'} |")
    lines += ["", "![keel / peer latency ratio](ratios.png)", ""]
    with open(os.path.join(args.out, "results.md"), "w") as f:
        f.write("\n".join(lines))

    if ratios:
        plot_ratios(rows, args.batches, args.threads, os.path.join(args.out, "ratios.png"), started)
    print(f"compare.py: wrote {os.path.join(args.out, 'results.md')}, results.csv, ratios.png")
    print("\n".join(lines))


def ratio(a, b):
    return a / b if a and b else float("nan")


def compare(args):
    started = datetime.datetime.now(datetime.timezone.utc)
    if not os.path.isfile(args.keel):
        raise SystemExit(f"compare.py: no keel binary at {args.keel} (build it: tools/quickstart.sh, or give --keel)")
    ensure_zoo(args.models)
    work = os.path.join(HERE, "work")
    for sub in ("json", "logs", "outputs", "inputs"):
        os.makedirs(os.path.join(work, sub), exist_ok=True)
    import numpy  # noqa: F401  (fails early if the environment is broken)

    print(f"compare.py: packages {' '.join(requirements())}", flush=True)
    rows, versions, settings = [], {}, {}
    configs = configurations(args)
    for n, (model, batch, threads) in enumerate(configs, 1):
        input_path = make_input(work, model, batch)
        rts = args.runtimes
        results = {rt: [] for rt in rts}
        for rnd in range(args.repeat):
            for rt in rts:
                results[rt].append(measure(args, work, rt, model, batch, threads, input_path, rnd, want_outputs=rnd == 0))
        for rt in rts:
            versions[rt] = results[rt][0]["version"]
            if rt.startswith("keel"):
                versions["keel"], versions["isa"] = results[rt][0]["version"], results[rt][0]["isa"]
            else:
                settings[rt] = results[rt][0]["settings"]
        p50 = {rt: statistics.median(r["p50"] for r in results[rt]) for rt in rts}
        load = {rt: statistics.median(r["load"] for r in results[rt]) for rt in rts}
        row = {"model": model, "batch": batch, "threads": threads}
        for a, b in RATIOS:
            if a in rts and b in rts:
                row[f"{a}_over_{b}"] = ratio(p50[a], p50[b])
        # Share of the FMA peak: the model's multiply-adds (x 2, counted by keel from the plan:
        # Conv, Gemm, MatMul) per p50 latency, against keel's FMA probe for the row's threads
        # (the median of the rounds' probes, each run right after keel's timed runs).
        keel_runs = [r for rt in rts if rt.startswith("keel") for r in results[rt]]
        gflop = keel_runs[0].get("gflop") if keel_runs else None
        peaks = [r["peak"] for r in keel_runs if r.get("peak")]
        peak = statistics.median(peaks) if peaks else None
        for rt in rts:
            row[f"{rt}_p50_ms"] = p50[rt]
            row[f"{rt}_load_ms"] = load[rt]
            row[f"{rt}_err"] = results[rt][0].get("error")
            row[f"{rt}_pct_peak"] = (100.0 * gflop / (p50[rt] * 1e-3) / peak
                                     if gflop and peak and p50[rt] else None)
        row["fma_peak_gflops"] = peak
        rows.append(row)
        times = ", ".join(f"{LABELS[rt]} {p50[rt]:.3f} ms" for rt in rts)
        ratios = ", ".join(f"{LABELS[a]}/{LABELS[b]} {row[f'{a}_over_{b}']:.2f}" for a, b in RATIOS
                           if f"{a}_over_{b}" in row)
        errors = " ".join(f"{LABELS[rt]} {fmt_err(row[f'{rt}_err'])}" for rt in rts)
        print(f"[{n}/{len(configs)}] {model} b{batch} t{threads}: {times} ({ratios}); err {errors}", flush=True)
    folds = {}
    if not args.no_fold_check:
        for model in args.models:
            folds[model] = fold_check(args, work, model, max(args.threads))
            fc = folds[model]
            print(f"fold check {model}: {fc['original_nodes']} -> {fc['folded_nodes']} nodes, checker {fc['checker']}, "
                  f"ORT max rel diff {fc['max_rel_diff']:.1e}", flush=True)
    write_results(args, rows, folds, versions, settings, started)
    bad = [m for m, fc in folds.items() if fc["max_rel_diff"] > 1e-4 or fc["checker"] != "passed"]
    if bad:
        print(f"compare.py: the folded models of {', '.join(bad)} differ from the originals under ONNX Runtime")
        return 1
    return 0


def main(argv=None):
    argv = sys.argv[1:] if argv is None else argv
    args = parse_args(argv)
    if args.dry_run:
        print_plan(args)
        return 0
    if os.environ.get(IN_VENV_ENV) != "1":
        ensure_venv()
        env = dict(os.environ, **{IN_VENV_ENV: "1"})
        os.execve(VENV_PYTHON, [VENV_PYTHON, os.path.abspath(__file__)] + argv, env)
    return compare(args)


if __name__ == "__main__":
    sys.exit(main())
