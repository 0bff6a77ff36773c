#!/usr/bin/env bash
# ONNX node tests of operators the committed conformance subset lacks (QuantizeLinear,
# DequantizeLinear, DynamicQuantizeLinear, MatMulInteger, QLinearConv, QLinearMatMul), made
# here from the test case definitions of the current PyPI `onnx`
# (tests/conformance/make_node_tests.py, into BUILD/generated-node-tests) and run by
# conformance_test with the same exclusions. Usage: run_generated_node_tests.sh BUILD_DIR
set -euo pipefail
build="$(cd "$1" && pwd)"
here="$(cd "$(dirname "$0")" && pwd)"
source "$here/../exporters/common.sh"
venv="$build/exporters-venv"  # shared with tests/exporters (ctest RESOURCE_LOCK python_venv)
make_venv "$venv" onnx onnxscript numpy
out="$build/generated-node-tests"
rm -rf "$out"
"$venv/bin/python" "$here/make_node_tests.py" "$out" QuantizeLinear DequantizeLinear DynamicQuantizeLinear \
  MatMulInteger QLinearConv QLinearMatMul
KEEL_ONNX_NODE_TESTS="$out" "$build/bin/conformance_test" --gtest_brief=1
