#!/usr/bin/env bash
# Usage: cli_test.sh KEEL_BINARY SOURCE_DIR
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

# run: model folder with references -> PASS, exit 0; fold report printed.
"$keel" run "$src/models/resnet_tiny" -o "$tmp/out" > "$tmp/run.txt" 2>&1
check "run exits 0" test $? -eq 0
check "run checks the reference" grep -q "PASS" "$tmp/run.txt"
check "run prints folds" grep -q "^fold " "$tmp/run.txt"
check "run writes outputs" test -s "$tmp/out/output.npy"
"$keel" run "$src/models/resnet_tiny" --no-fold > "$tmp/nofold.txt" 2>&1
check "run --no-fold exits 0" test $? -eq 0
check "run --no-fold folds nothing" grep -q "folding: off (--no-fold), 0 folded" "$tmp/nofold.txt"

# Errors: one line, non-zero exit, the file named.
printf 'not an onnx model' > "$tmp/bad.onnx"
"$keel" run "$tmp/bad.onnx" > "$tmp/bad.txt" 2>&1
rc=$?
check "bad model exits non-zero" test $rc -ne 0
check "bad model error is one line naming the file" test "$(wc -l < "$tmp/bad.txt")" -eq 1
check "bad model error names the file" grep -q "bad.onnx" "$tmp/bad.txt"
"$keel" run "$src/models/resnet_tiny/model.onnx" -i "input=$src/models/densenet_tiny/inputs/input.npy" > "$tmp/shape.txt" 2>&1
check "wrong input shape exits non-zero" test $? -ne 0
check "wrong input shape names the input" grep -q "input 'input' has shape" "$tmp/shape.txt"

# --max-memory: below the weights the load is refused by name; with room the run passes.
"$keel" run "$src/models/resnet_tiny" --max-memory 4K > "$tmp/limit.txt" 2>&1
check "--max-memory below the weights exits non-zero" test $? -ne 0
check "--max-memory names the limit" grep -q "max_memory_bytes (4096 bytes)" "$tmp/limit.txt"
"$keel" run "$src/models/resnet_tiny" --max-memory 64M > "$tmp/limit_ok.txt" 2>&1
check "--max-memory 64M runs" grep -q "PASS" "$tmp/limit_ok.txt"
"$keel" run "$src/models/resnet_tiny" --max-memory 12Q > "$tmp/limit_bad.txt" 2>&1
check "--max-memory with a bad unit exits non-zero" test $? -ne 0

# inspect
"$keel" inspect "$src/models/shufflenet_tiny" > "$tmp/inspect.txt" 2>&1
check "inspect exits 0" test $? -eq 0
check "inspect lists BatchNormalization" grep -q "BatchNormalization" "$tmp/inspect.txt"
check "inspect reports nothing unsupported" grep -q "unsupported: none" "$tmp/inspect.txt"

# fold: report, JSON, check, and the folded file runs with the same result.
"$keel" fold "$src/models/mobilenet_tiny/model.onnx" "$tmp/folded.onnx" --check --report "$tmp/report.json" > "$tmp/fold.txt" 2>&1
check "fold exits 0" test $? -eq 0
check "fold prints fold lines" grep -q "^fold " "$tmp/fold.txt"
check "fold prints the op table" grep -qE "^BatchNormalization +17 -> 0" "$tmp/fold.txt"
check "fold passes the checker" grep -q "onnx checker: passed" "$tmp/fold.txt"
check "fold --check passes" grep -q "PASS" "$tmp/fold.txt"
check "fold writes the JSON report" grep -q '"folds"' "$tmp/report.json"
"$keel" run "$tmp/folded.onnx" --reference "$src/models/mobilenet_tiny/outputs_f64" -i "input=$src/models/mobilenet_tiny/inputs/input.npy" > "$tmp/run_folded.txt" 2>&1
check "the folded model matches the float64 reference" grep -q "PASS" "$tmp/run_folded.txt"
"$keel" fold "$src/models/densenet_tiny/model.onnx" "$tmp/dense.onnx" > "$tmp/dense.txt" 2>&1
check "densenet keeps BNs after Concat, with a reason" grep -q "^skip .*follows Concat" "$tmp/dense.txt"

# A failed fold leaves no output file behind.
"$keel" fold "$tmp/bad.onnx" "$tmp/never.onnx" > "$tmp/foldbad.txt" 2>&1
check "fold of a bad model exits non-zero" test $? -ne 0
check "fold of a bad model writes nothing" test ! -e "$tmp/never.onnx"
check "nothing temporary is left" test -z "$(ls "$tmp" | grep -F .tmp)"

echo "cli: $passed passed, $failed failed"
test $failed -eq 0
