#!/usr/bin/env bash
# Runs every libFuzzer target of an asan-preset build for SECONDS each (default 60), from its
# committed seed corpus and dictionary; new inputs go to BUILD/fuzz/corpus/<target>, crashes to
# BUILD/fuzz/artifacts/. Exits non-zero when a target crashes, leaks or times out. With SEED the
# mutations follow that seed, so a run explores the same inputs in the same order as any other
# run of the same build with that seed for as long as it lasts (CI uses seed 1, and a
# submission is fuzzed locally with seed 1 for longer than CI's minute first); without it each
# run explores anew.
#   tests/fuzz/run_fuzzers.sh build/asan 60 1      # CI
#   tests/fuzz/run_fuzzers.sh build/asan 14400     # hours, before a release
set -euo pipefail
build="${1:-build/asan}"
seconds="${2:-60}"
seed_flag=()
[ -n "${3:-}" ] && seed_flag=(-seed="$3")
here="$(cd "$(dirname "$0")" && pwd)"
declare -A dict=([load_model]=onnx.dict [npy]=npy.dict [serve_request]=serve.dict)
status=0
for target in load_model npy serve_request; do
  exe="$build/bin/fuzz_$target"
  if [ ! -x "$exe" ]; then
    echo "fuzz_$target: not built (configure with the asan preset)"
    [ "$target" = serve_request ] && continue  # a build without the server has no such target
    exit 1
  fi
  work="$build/fuzz/corpus/$target"
  artifacts="$build/fuzz/artifacts/$target/"
  mkdir -p "$work" "$artifacts"
  echo "== fuzz_$target for ${seconds}s"
  # -timeout: one input taking longer is a finding; -rss_limit_mb bounds the process.
  if ! ASAN_OPTIONS="detect_leaks=1:allocator_may_return_null=1" \
       UBSAN_OPTIONS="halt_on_error=1:print_stacktrace=1" \
       "$exe" "${seed_flag[@]}" -max_total_time="$seconds" -timeout=30 -rss_limit_mb=3072 -print_final_stats=1 \
       -dict="$here/${dict[$target]}" -artifact_prefix="$artifacts" "$work" "$here/corpus/$target" \
       > "$build/fuzz/$target.log" 2>&1; then
    status=1
    tail -n 60 "$build/fuzz/$target.log"
    echo "fuzz_$target FAILED: the input is in $artifacts; replay it with $exe <file>, then" \
         "add it to tests/fuzz/regressions/$target/ with the fix"
  fi
  grep -E "^stat::number_of_executed_units|^stat::peak_rss_mb|^#[0-9]+.*DONE" "$build/fuzz/$target.log" || true
done
exit $status
