#!/usr/bin/env bash
# `python3 -m pip install ./python` the way a user installs keel into their own Python: a fresh
# virtual environment (build/pip-venv), the build backend and numpy from PyPI, keel compiled
# against the system's TBB/ONNX/protobuf packages; then the installed module runs a committed
# model and must match its float64 reference. Used by CI.
set -euo pipefail
cd "$(dirname "$0")/../.."
venv="$PWD/build/pip-venv"
rm -rf "$venv"
python3 -m venv "$venv"
"$venv/bin/python" -m pip install -q --upgrade pip
"$venv/bin/python" -m pip install -q ./python
cd /tmp  # import the installed module, not anything in the source tree
"$venv/bin/python" - "$OLDPWD/models/resnet_tiny" <<'PY'
import pathlib, sys
import numpy as np
import keel
folder = pathlib.Path(sys.argv[1])
x = np.load(folder / "inputs" / "input.npy")
ref = np.load(folder / "outputs_f64" / "output.npy")
s = keel.InferenceSession(str(folder / "model.onnx"), threads=2)
y = s.run(None, {"input": x})[0]
err = float(np.max(np.abs(y - ref)) / np.max(np.abs(ref)))
print(f"pip-installed keel from {keel.__file__}: resnet_tiny error vs float64 {err:.3g}")
assert y.shape == ref.shape and err <= 1e-5, err
PY
