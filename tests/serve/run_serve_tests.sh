#!/usr/bin/env bash
# Runs the `keel serve` end-to-end tests with the real clients (tritonclient, kserve SDK).
# Usage: run_serve_tests.sh BUILD_DIR [extra pytest arguments]
# Sets up BUILD_DIR/serve-venv (setup_venv.sh; skipped when it is up to date) and runs
# `pytest -q tests/serve` with KEEL_BIN=BUILD_DIR/bin/keel. Exits with pytest's code (non-zero fails).
set -euo pipefail

if [[ $# -lt 1 ]]; then
  echo "usage: $0 BUILD_DIR [pytest args...]" >&2
  exit 2
fi
build_dir=$(cd "$1" && pwd)
shift
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
src_dir=$(cd "$here/../.." && pwd)
venv="$build_dir/serve-venv"

bash "$here/setup_venv.sh" "$venv"

export KEEL_BIN="$build_dir/bin/keel"
if [[ ! -x "$KEEL_BIN" ]]; then
  echo "run_serve_tests: $KEEL_BIN is missing" >&2
  exit 1
fi
# The clients must not pick up proxies for loopback traffic.
export NO_PROXY="127.0.0.1,localhost${NO_PROXY:+,$NO_PROXY}"
export no_proxy="$NO_PROXY"
export PYTHONDONTWRITEBYTECODE=1

cd "$src_dir"
set +e
"$venv/bin/python" -m pytest -q -p no:cacheprovider "$here" "$@"
rc=$?
set -e
if [[ $rc -eq 5 ]]; then
  echo "run_serve_tests: pytest collected no tests" >&2
  exit 1
fi
exit $rc
