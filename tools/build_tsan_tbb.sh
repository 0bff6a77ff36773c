#!/usr/bin/env bash
# Builds a ThreadSanitizer-instrumented oneTBB for the `tsan` preset, from Debian 12's own
# onetbb source package (the same 2021.8 sources, with Debian's patches, that libtbb-dev is built
# from), fetched by apt from deb.debian.org. Debian ships no TSan build of TBB, and with the
# uninstrumented one every task hand-off inside TBB is reported as a data race.
#   tools/build_tsan_tbb.sh        -> build/tsan-tbb/install (skipped when already there)
# Then: cmake --preset tsan -DTBB_DIR=$PWD/build/tsan-tbb/install/lib/cmake/TBB
# apt runs with private lists and cache under build/tsan-tbb/apt: the system's apt state is
# not touched and no root is needed.
set -euo pipefail
cd "$(dirname "$0")/.."
out="$PWD/build/tsan-tbb"
if [[ -f "$out/install/lib/cmake/TBB/TBBConfig.cmake" ]]; then
  echo "build_tsan_tbb: $out/install already built"
  exit 0
fi
rm -rf "$out/src" "$out/build"
mkdir -p "$out/apt/lists/partial" "$out/apt/cache/archives/partial" "$out/src"
echo "deb-src http://deb.debian.org/debian bookworm main" > "$out/apt/sources.list"
apt_opts=(-o "Dir::Etc::sourcelist=$out/apt/sources.list" -o "Dir::Etc::sourceparts=-"
          -o "Dir::State::Lists=$out/apt/lists" -o "Dir::Cache=$out/apt/cache"
          -o "Debug::NoLocking=1" -o "APT::Sandbox::User=root")
apt-get -qq "${apt_opts[@]}" update
(cd "$out/src" && apt-get -qq "${apt_opts[@]}" source --download-only onetbb 2>&1 |
   grep -v "unsandboxed" || true)
(cd "$out/src" && dpkg-source --no-check -x onetbb_*.dsc tbb > /dev/null)
cmake -S "$out/src/tbb" -B "$out/build" -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo \
  -DTBB_SANITIZE=thread -DTBB_TEST=OFF -DTBB_EXAMPLES=OFF -DTBB_STRICT=OFF \
  -DCMAKE_INSTALL_PREFIX="$out/install" -DCMAKE_INSTALL_LIBDIR=lib > /dev/null
cmake --build "$out/build" -j2
cmake --install "$out/build" > /dev/null
echo "build_tsan_tbb: installed into $out/install"
