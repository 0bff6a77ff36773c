#!/usr/bin/env bash
# Installs what keel needs to build and test, from Debian 12 packages only (idempotent:
# packages already present are skipped; apt is not touched when nothing is missing).
#   tools/install_deps.sh          build + test dependencies
#   tools/install_deps.sh --zoo    also python3-torch/torchvision for models/generate_zoo.py
#   tools/install_deps.sh --asan   also clang-14 and its sanitizer/libFuzzer runtimes (asan preset)
set -euo pipefail

packages=(
  build-essential cmake ninja-build pkg-config
  libonnx-dev libprotobuf-dev protobuf-compiler
  libxsimd-dev xtl-dev libtbb-dev
  libgtest-dev libgmock-dev libbenchmark-dev
  libcli11-dev nlohmann-json3-dev
  libboost-dev libgrpc++-dev protobuf-compiler-grpc  # keel serve (Beast HTTP, gRPC)
  pybind11-dev python3-dev python3-numpy python3-venv valgrind clang-format
  dpkg-dev xz-utils  # tools/build_tsan_tbb.sh unpacks Debian's oneTBB source package
)
if [[ "${1:-}" == "--zoo" ]]; then
  packages+=(python3-torch python3-torchvision python3-numpy)
fi
if [[ "${1:-}" == "--asan" ]]; then
  packages+=(clang-14 libclang-rt-14-dev)
fi

missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [[ ${#missing[@]} -eq 0 ]]; then
  echo "install_deps: all ${#packages[@]} packages present"
  exit 0
fi

sudo_cmd=()
if [[ $(id -u) -ne 0 ]]; then sudo_cmd=(sudo); fi
echo "install_deps: installing ${missing[*]}"
"${sudo_cmd[@]}" apt-get update -qq
DEBIAN_FRONTEND=noninteractive "${sudo_cmd[@]}" apt-get install -y -qq --no-install-recommends "${missing[@]}"
