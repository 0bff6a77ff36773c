#!/usr/bin/env bash
# Quick start, step 1: install what is missing, build Release, run the bundled model and
# check it against its float64 reference.
set -euo pipefail
cd "$(dirname "$0")/.."
tools/install_deps.sh
cmake --preset release
cmake --build --preset release
build/release/bin/keel run models/resnet_tiny
