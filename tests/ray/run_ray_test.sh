#!/usr/bin/env bash
# Offline scale-out check: keel's Python module under Ray Data (python/keel_ray.py).
# Usage: tests/ray/run_ray_test.sh BUILD_DIR        (e.g. build/release)
#
# Creates (or reuses) BUILD_DIR/ray-venv with ray[data], numpy, pyarrow and pytest, checks that the venv's
# Python takes the compiled module's ABI (BUILD_DIR/python/keel.cpython-XY-*.so), then runs
# tests/ray/test_keel_ray.py with PYTHONPATH=BUILD_DIR/python:python. The only network use is pip.
# PYTHON=... picks the interpreter the venv is made from (default: python3 on PATH).
set -euo pipefail

if [[ $# -ne 1 ]]; then
  echo "usage: $0 BUILD_DIR" >&2
  exit 2
fi
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
build_dir=$(cd "$1" && pwd)
venv_dir="$build_dir/ray-venv"
python=${PYTHON:-python3}
requirements=("ray[data]" numpy pytest)

shopt -s nullglob
modules=("$build_dir"/python/keel.cpython-*.so)
shopt -u nullglob
if [[ ${#modules[@]} -ne 1 ]]; then
  echo "run_ray_test: expected one $build_dir/python/keel.cpython-*.so, found ${#modules[@]}" >&2
  exit 1
fi
module_suffix=${modules[0]##*/keel}  # e.g. .cpython-311-x86_64-linux-gnu.so

# Reuse the venv when it is complete and was made for the same requirements.
want=$(printf '%s\n' "${requirements[@]}" | sha256sum | cut -d' ' -f1)
if [[ -f "$venv_dir/.complete" && "$(cat "$venv_dir/.complete")" == "$want" && -x "$venv_dir/bin/python" ]]; then
  echo "ray venv up to date: $venv_dir"
else
  rm -f "$venv_dir/.complete"
  [[ -x "$venv_dir/bin/python" ]] || "$python" -m venv "$venv_dir"
  "$venv_dir/bin/python" -m pip install --disable-pip-version-check --quiet --upgrade pip
  "$venv_dir/bin/python" -m pip install --disable-pip-version-check --quiet "${requirements[@]}"
  echo "$want" > "$venv_dir/.complete"
  echo "ray venv ready: $venv_dir"
fi

venv_suffix=$("$venv_dir/bin/python" -c 'import sysconfig; print(sysconfig.get_config_var("EXT_SUFFIX"))')
if [[ "$venv_suffix" != "$module_suffix" ]]; then
  echo "run_ray_test: the venv's Python ($("$venv_dir/bin/python" -V 2>&1), extension suffix $venv_suffix)" \
       "cannot load ${modules[0]##*/} (built for $module_suffix); set PYTHON to a matching interpreter" \
       "and remove $venv_dir" >&2
  exit 1
fi
"$venv_dir/bin/python" - <<'PY'
import importlib.metadata as md, sys
print("python", sys.version.split()[0], "| ray", md.version("ray"), "| numpy", md.version("numpy"),
      "| pytest", md.version("pytest"))
PY

cd "$root"
export PYTHONPATH="$build_dir/python:$root/python${PYTHONPATH:+:$PYTHONPATH}"
export RAY_USAGE_STATS_ENABLED=0  # no usage reporting: no network beyond pip
# Bounded: the test itself needs well under 3 minutes on 2 cores.
exec timeout --signal=TERM --kill-after=20 300 \
  "$venv_dir/bin/python" -m pytest -q -s -p no:cacheprovider tests/ray/test_keel_ray.py
