#!/usr/bin/env bash
# The server benchmark (bench/serve/serve_bench.py) in its own virtual environment
# (build/serve-bench-venv: tritonclient, kserve, onnxruntime from PyPI). Arguments pass through.
set -euo pipefail
cd "$(dirname "$0")/../.."
venv=build/serve-bench-venv
if [[ ! -x $venv/bin/python ]] || ! cmp -s bench/serve/requirements.txt $venv/requirements.txt; then
  python3 -m venv "$venv"
  "$venv/bin/python" -m pip install -q --upgrade pip
  "$venv/bin/python" -m pip install -q -r bench/serve/requirements.txt
  cp bench/serve/requirements.txt "$venv/requirements.txt"
fi
exec "$venv/bin/python" bench/serve/serve_bench.py "$@"
