#!/usr/bin/env bash
# Creates a virtual environment with the real clients used by the `keel serve` end-to-end tests.
# Usage: setup_venv.sh VENV_DIR
# Idempotent: does nothing when VENV_DIR/.complete exists and records the same requirements.txt.
set -euo pipefail

if [[ $# -ne 1 ]]; then
  echo "usage: $0 VENV_DIR" >&2
  exit 2
fi
venv_dir=$1
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
requirements="$here/requirements.txt"
python=${PYTHON:-python3}

want=$(sha256sum "$requirements" | cut -d' ' -f1)
if [[ -f "$venv_dir/.complete" && "$(cat "$venv_dir/.complete")" == "$want" && -x "$venv_dir/bin/python" ]]; then
  echo "serve venv up to date: $venv_dir"
  exit 0
fi

rm -f "$venv_dir/.complete"
if [[ ! -x "$venv_dir/bin/python" ]]; then
  "$python" -m venv "$venv_dir"
fi
"$venv_dir/bin/python" -m pip install --disable-pip-version-check --quiet --upgrade pip
"$venv_dir/bin/python" -m pip install --disable-pip-version-check --quiet -r "$requirements"

"$venv_dir/bin/python" - <<'PY'
import importlib.metadata as md
import sys
print("python", sys.version.split()[0])
for pkg in ("tritonclient", "kserve", "grpcio", "pytest", "numpy", "requests", "onnx"):
    try:
        print(pkg, md.version(pkg))
    except md.PackageNotFoundError:
        print(pkg, "MISSING")
        sys.exit(1)
PY
echo "$want" > "$venv_dir/.complete"
echo "serve venv ready: $venv_dir"
