#!/usr/bin/env bash
# Quick start, step 2: (re)build Release and run the whole test suite: unit, conformance
# (ONNX node tests from ../shared/onnx-node-tests or $KEEL_ONNX_NODE_TESTS; skipped with a
# message when absent), models, and the zoo (skipped with a message until generated).
set -euo pipefail
cd "$(dirname "$0")/.."
if [[ ! -f build/release/CMakeCache.txt ]]; then
  cmake --preset release
fi
cmake --build --preset release
ctest --preset release -j2 "$@"
