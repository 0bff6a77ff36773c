#!/usr/bin/env bash
# Models written by current exporters load, fold and run in keel against float64 references:
# onnxscript at the newest opset it knows (PyPI, in a virtual environment made here:
# BUILD/exporters-venv), and the current `onnx` package's make_model defaults (IR version and
# opset of the newest ONNX release). Usage: run_exporter_tests.sh BUILD_DIR
set -euo pipefail
build="$(cd "$1" && pwd)"
here="$(cd "$(dirname "$0")" && pwd)"
keel="$build/bin/keel"
source "$here/common.sh"
venv="$build/exporters-venv"  # shared with conformance_generated (ctest RESOURCE_LOCK python_venv)
make_venv "$venv" onnx onnxscript numpy
out="$build/exporters"
rm -rf "$out"
"$venv/bin/python" "$here/make_onnxscript_models.py" "$out"
"$venv/bin/python" "$here/make_onnx_defaults_model.py" "$out"
status=0
run_model_folders "$keel" "$out" || status=1
# The CNN block's BatchNormalization folds into its convolution.
"$keel" run "$out/onnxscript_cnn_block" | grep -q 'folding: on, [1-9][0-9]* folded' ||
  { echo "FAIL: the onnxscript CNN block's BatchNormalization did not fold"; status=1; }
exit $status
