#!/usr/bin/env python3
"""Runs bench_norm and prints one table: op, layout, shape, threads, keel GB/s, oneDNN GB/s,
probe GB/s (stream read+write with normal stores, same thread count), keel % of probe.

usage: bench/norm_report.py [--bench build/release/bin/bench_norm] [--min-time 0.3]
                            [--json out.json] [extra bench_norm arguments...]
Standard library only. oneDNN columns are '-' when bench_norm was built without oneDNN.
"""
import argparse
import datetime
import json
import os
import platform
import subprocess
import sys


def gbs(b):
    return b["bytes_per_second"] / 1e9 if "bytes_per_second" in b else None


def parse_name(name):
    parts = [p for p in name.split("/") if p != "real_time" and not p.startswith("min_time:")]
    return parts


def cpu_model():
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown CPU"


def main():
    here = os.path.dirname(os.path.abspath(__file__))
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--bench", default=os.path.join(here, "..", "build", "release", "bin", "bench_norm"))
    ap.add_argument("--min-time", default="0.3")
    ap.add_argument("--json", help="also write bench_norm's JSON output here")
    args, extra = ap.parse_known_args()
    cmd = [args.bench, "--benchmark_format=json", "--benchmark_min_time=" + args.min_time] + extra
    out = subprocess.run(cmd, check=True, capture_output=True, text=True).stdout
    if args.json:
        with open(args.json, "w") as f:
            f.write(out)
    data = json.loads(out)
    ctx = data.get("context", {})

    probe, fma, keel, dnnl = {}, {}, {}, {}
    order = []
    for b in data["benchmarks"]:
        p = parse_name(b["name"])
        if p[0] == "probe" and p[1] in ("stream", "stream_nt"):
            probe[(p[1], p[2])] = gbs(b)
        elif p[0] == "probe" and p[1] == "fma":
            fma[p[2]] = b.get("items_per_second", 0) / 1e9
        elif p[0] in ("keel", "dnnl"):
            key = tuple(p[1:5])  # op, layout, shape, tN
            (keel if p[0] == "keel" else dnnl)[key] = (gbs(b), b.get("label", ""))
            if p[0] == "keel":
                order.append(key)

    print("bench_norm on %s, %s CPUs, %s, keel ISA %s" % (
        cpu_model(), ctx.get("num_cpus", "?"), datetime.date.today().isoformat(),
        ctx.get("keel_isa", "?")))
    print("load average at start: %s" % ", ".join("%.2f" % v for v in ctx.get("load_avg", [])))
    for t in ("t1", "t2"):
        s, nt = probe.get(("stream", t)), probe.get(("stream_nt", t))
        if s:
            print("probe %s: stream y=a*x+b %.1f GB/s (normal stores), %.1f GB/s (non-temporal)"
                  % (t, s, nt or 0))
    if fma:
        print("probe FMA peak, one core: " + ", ".join("%s %.1f GFLOP/s" % kv for kv in fma.items()))
    print()
    hdr = ("op", "layout", "shape", "threads", "keel GB/s", "oneDNN GB/s", "probe GB/s",
           "keel % of probe")
    rows = []
    for key in order:
        op, layout, shape, t = key
        k = keel[key][0]
        d = dnnl.get(key)
        pr = probe.get(("stream", t))
        rows.append((op, layout, shape, t[1:], "%.1f" % k, "%.1f" % d[0] if d else "-",
                     "%.1f" % pr if pr else "-", "%.0f%%" % (100 * k / pr) if pr else "-"))
    print("| " + " | ".join(hdr) + " |")
    print("|" + "|".join("---" for _ in hdr) + "|")
    for r in rows:
        print("| " + " | ".join(r) + " |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
