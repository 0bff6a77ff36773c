#!/usr/bin/env bash
# Usage: test_bench.sh KEEL_BINARY SOURCE_DIR
# keel bench end to end on a committed model (a few runs), its JSON figures and its Chrome trace
# profile; the comparison script's dry run and argument checks. python3 stdlib only.
set -u
keel=$1
src=$2
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
passed=0
failed=0
check() {  # check NAME CONDITION...
  local name=$1
  shift
  if "$@"; then passed=$((passed + 1)); else failed=$((failed + 1)); echo "FAILED: $name"; fi
}

"$keel" bench "$src/models/resnet_tiny" --threads 2 --iterations 4 --warmup 1 \
  --json "$tmp/bench.json" --profile "$tmp/trace.json" > "$tmp/bench.txt" 2> "$tmp/bench.err"
check "bench exits 0" test $? -eq 0
for key in "Model" "ISA" "Threads" "Layout" "Load parse ms" "Load passes ms" "Plan ms" "First inference ms" \
  "Latency min ms" "Latency mean ms" "Latency p50 ms" "Latency p90 ms" "Latency p95 ms" "Latency p99 ms" \
  "Latency p99.9 ms" "Latency max ms" "Throughput" "CPU utilisation" "Peak RSS" "Parallel op overhead"; do
  check "bench prints '$key:'" grep -q "^$key: " "$tmp/bench.txt"
done
check "bench prints the top operators" grep -q "^Top operator types by total time:" "$tmp/bench.txt"

python3 - "$tmp/bench.json" "$tmp/trace.json" <<'PY'
import json, sys
bench = json.load(open(sys.argv[1]))
fields = ["model", "keel_version", "isa", "threads", "concurrency", "layout", "fold", "batch", "inputs",
          "load_parse_ms", "load_passes_ms", "load_file_ms", "plan_ms", "load_total_ms", "first_inference_ms",
          "plan_steps", "warmup_runs", "runs", "duration_s", "latency_min_ms", "latency_mean_ms", "latency_p50_ms",
          "latency_p90_ms", "latency_p95_ms", "latency_p99_ms", "latency_p99_9_ms", "latency_max_ms",
          "throughput_ips", "cpu_utilisation", "peak_rss_mb", "parallel_overhead_us", "profile"]
missing = [f for f in fields if f not in bench]
assert not missing, f"missing JSON fields: {missing}"
assert bench["runs"] == 4, bench["runs"]
assert bench["threads"] == 2 and bench["layout"] == "auto"
assert bench["latency_min_ms"] <= bench["latency_p50_ms"] <= bench["latency_max_ms"]
assert bench["plan_steps"] > 0
trace = json.load(open(sys.argv[2]))
events = trace["traceEvents"]
assert len(events) == bench["plan_steps"] * bench["runs"], (len(events), bench["plan_steps"], bench["runs"])
for e in events:
    assert e["ph"] == "X" and e["dur"] >= 0 and e["ts"] >= 0, e
    for k in ("op_type", "kernel", "input_shapes", "output_shapes", "layout"):
        assert k in e["args"], (k, e)
assert bench["profile"]["events"] == len(events)
assert any(e["args"]["op_type"] == "Conv" for e in events)
# Each operator's rate as a share of the machine's limit, measured in the same run.
prof = bench["profile"]
assert prof["fma_peak_gflops"] > 0 and prof["stream_gbps"] > 0, prof
for o in prof["operators"]:
    assert ("gflops" in o) == ("pct_of_fma_peak" in o) and ("gbps" in o) == ("pct_of_stream" in o), o
conv = [o for o in prof["operators"] if o["op_type"] == "Conv"][0]
assert conv["pct_of_fma_peak"] > 0, conv
PY
check "bench JSON fields and one trace event per step per run" test $? -eq 0
check "bench --profile prints rates as shares of the machine's limits" \
  grep -q "GFLOP/s ([0-9]*% of FMA peak)" "$tmp/bench.txt"

# --batch repeats the stored batch-1 input; --time; concurrency on one session.
"$keel" bench "$src/models/resnet_tiny" --batch 3 --time 0.2 --concurrency 2 --threads 1 --json "$tmp/b3.json" \
  > "$tmp/b3.txt" 2>&1
check "bench --batch --time --concurrency exits 0" test $? -eq 0
check "bench --batch sets the batch dim" grep -q "^Input input: float32\[3,3,64,64\]" "$tmp/b3.txt"
check "bench --concurrency is reported" grep -q "^Concurrency: 2" "$tmp/b3.txt"

# NHWC execution, with the folder's NCHW input handed over as NHWC.
"$keel" bench "$src/models/resnet_tiny" --layout nhwc --input-layout nhwc --iterations 3 \
  --profile "$tmp/nhwc.json" > "$tmp/nhwc.txt" 2>&1
check "bench --layout nhwc exits 0" test $? -eq 0
check "bench --layout nhwc is reported" grep -q "^Layout: nhwc" "$tmp/nhwc.txt"
check "bench --input-layout nhwc feeds NHWC" grep -q "^Input input: float32\[1,64,64,3\]" "$tmp/nhwc.txt"
check "bench --layout nhwc runs NHWC kernels" grep -q "conv_nhwc" "$tmp/nhwc.json"
check "bench --profile says why each Conv runs its implementation" \
  grep -q "^  /layers/.*/Conv: conv_nhwc_[a-z]*; declined: conv_nhwc_bf16: the node runs float32; conv_nhwc_expand_depthwise: " "$tmp/nhwc.txt"

# bfloat16: the policy's one-line report, and the bf16 kernels in the trace.
"$keel" bench "$src/models/resnet_tiny" --layout nhwc --precision bf16 --iterations 3 \
  --profile "$tmp/bf16.json" > "$tmp/bf16.txt" 2>&1
check "bench --precision bf16 exits 0" test $? -eq 0
check "bench --precision bf16 reports the policy" grep -q "^precision: bf16 (.*) on [1-9][0-9]* nodes" "$tmp/bf16.txt"
check "bench --precision bf16 runs conv_nhwc_bf16" grep -q "conv_nhwc_bf16" "$tmp/bf16.json"
check "the trace carries the dispatch of each Conv" grep -q '"dispatch":"conv_nhwc_' "$tmp/nhwc.json"

# KEEL_VERBOSE=dispatch: one stderr line per Conv at plan time, with the declines.
KEEL_VERBOSE=dispatch "$keel" run "$src/models/resnet_tiny" --layout nchw --iterations 0 \
  > "$tmp/verbose.out" 2> "$tmp/verbose.err"
check "KEEL_VERBOSE=dispatch exits 0" test $? -eq 0
check "KEEL_VERBOSE=dispatch names the choice and the declines" \
  grep -q "^keel: dispatch: node '.*' (FusedConv): conv_nchw_[a-z0-9]*; declined: .*conv_nhwc_gemm: layout is NCHW" \
  "$tmp/verbose.err"
check "no dispatch lines without KEEL_VERBOSE" bash -c "! grep -q 'keel: dispatch' '$tmp/nhwc.txt'"

# Bad arguments: exit code 2 and a clear message.
"$keel" bench "$src/models/resnet_tiny" --layout sideways > "$tmp/bad.txt" 2>&1
check "bench --layout sideways is rejected" test $? -ne 0
check "bench --layout sideways explains" grep -q "nchw" "$tmp/bad.txt"
"$keel" bench "$src/models/resnet_tiny" --iterations 2 --time 1 > /dev/null 2>&1
check "bench --iterations with --time is rejected" test $? -ne 0
"$keel" bench "$src/models/resnet_tiny" --iterations 0 > /dev/null 2>&1
check "bench --iterations 0 is rejected" test $? -ne 0

# The comparison script: dry run exits 0 and installs nothing; bad arguments exit non-zero.
compare="$src/bench/compare/compare.py"
python3 "$compare" --dry-run > "$tmp/dry.txt" 2>&1
check "compare.py --dry-run exits 0" test $? -eq 0
check "compare.py --dry-run prints the plan" grep -q "configurations:" "$tmp/dry.txt"
python3 "$compare" --dry-run --quick --models resnet18,densenet121 --threads 1,2 --batches 1 > /dev/null 2>&1
check "compare.py --dry-run with options exits 0" test $? -eq 0
python3 "$compare" --dry-run --models no_such_model > /dev/null 2>&1
check "compare.py rejects an unknown model" test $? -ne 0
python3 "$compare" --dry-run --threads 0 > /dev/null 2>&1
check "compare.py rejects --threads 0" test $? -ne 0
python3 "$compare" --dry-run --runtimes keel_bf16,ov_default > "$tmp/dry_rt.txt" 2>&1
check "compare.py --runtimes picks the runtimes" grep -q "round(s) of keel_bf16, ov_default" "$tmp/dry_rt.txt"
python3 "$compare" --dry-run --runtimes keel,tvm > /dev/null 2>&1
check "compare.py rejects an unknown runtime" test $? -ne 0
python3 "$compare" --dry-run --no-such-option > /dev/null 2>&1
check "compare.py rejects an unknown option" test $? -ne 0

echo "bench cli: $passed passed, $failed failed"
test "$failed" -eq 0
