#!/usr/bin/env bash
# Models written by PyTorch's newest exporter (torch.onnx.export(dynamo=True), its default
# opset) load, fold and run in keel against float64 references. torch comes from PyPI into
# BUILD/torch-venv: its Linux wheels bring the CUDA libraries (about 5.5 GB installed, 2 minutes
# here), so this is a CI step of its own (.ci/run) and not part of tools/run_tests.sh.
# Usage: run_torch_dynamo_test.sh BUILD_DIR
set -euo pipefail
build="$(cd "$1" && pwd)"
here="$(cd "$(dirname "$0")" && pwd)"
keel="$build/bin/keel"
source "$here/common.sh"
venv="$build/torch-venv"
make_venv "$venv" torch onnx onnxscript numpy
out="$build/torch-dynamo-models"
rm -rf "$out"
"$venv/bin/python" "$here/make_torch_dynamo_models.py" "$out" 2>&1 |
  grep -v -e '^\[torch.onnx\]' -e 'torchvision is not installed'

status=0
run_model_folders "$keel" "$out" || status=1
# The unoptimized export keeps its three BatchNormalizations (make_torch_dynamo_models.py checks
# that), and each folds into its Conv.
"$keel" run "$out/torch_dynamo_cnn_unoptimized" | grep -q 'folding: on, [1-9][0-9]* folded, 0 kept' ||
  { echo "FAIL: a BatchNormalization of the unoptimized dynamo CNN did not fold"; status=1; }
exit $status
