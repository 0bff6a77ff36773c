#!/usr/bin/env bash
# Installs a built keel tree into a temporary prefix, then builds the README's C and C++
# examples (example.c, example.cpp) against the installed package twice, with
# find_package(keel) and with pkg-config, runs all four on the model, and checks that they
# print the same output, as does example.py with the build tree's Python module (when built).
# Also checks the installed layout, libkeel's SONAME and exported symbols, and that README.md (and include/README.md)
# shows the three examples verbatim.
#   tests/consumer/run_consumer_test.sh BUILD_DIR MODEL_DIR
set -euo pipefail
build=$(cd "$1" && pwd)
model=$2/model.onnx
here=$(cd "$(dirname "$0")" && pwd)
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
prefix=$work/prefix

cmake --install "$build" --prefix "$prefix" > "$work/install.log"
libdir=$(dirname "$(ls "$prefix"/lib*/pkgconfig/keel.pc)")/..
for f in include/keel/keel.h include/keel/keel.hpp bin/keel; do
  [[ -e $prefix/$f ]] || { echo "missing $f in the installed tree"; exit 1; }
done
[[ -e $libdir/cmake/keel/keelConfig.cmake && -e $libdir/cmake/keel/keelConfigVersion.cmake ]]

pc_static=()
if [[ -e $libdir/libkeel.so ]]; then
  soname=$(readelf -d "$libdir/libkeel.so" | sed -n 's/.*SONAME.*\[\(.*\)\]/\1/p')
  [[ $soname == libkeel.so.0 ]] || { echo "SONAME is '$soname'"; exit 1; }
  # Only the C API and the C++ API are exported (cmake/keel.map).
  leaked=$(nm -D --defined-only -C "$libdir/libkeel.so" | awk '{ $1 = ""; $2 = ""; print }' |
           grep -v -E '^ *(keel_|keel::(version|Model::|Session::|Tensor::|Status::|status_code_name|dtype_|checked_numel|numel|shape_to_string|contiguous_strides|normalize_axis|allocate_aligned|AlignedDeleter::)|KEEL_0)' || true)
  if [[ -n $leaked ]]; then echo "libkeel.so exports internal symbols:"; echo "$leaked" | head; exit 1; fi
else
  pc_static=(--static)
fi

cmake -S "$here" -B "$work/cmake" -G Ninja -DCMAKE_BUILD_TYPE=Release \
  -DCMAKE_PREFIX_PATH="$prefix" > "$work/cmake.log" || { cat "$work/cmake.log"; exit 1; }
cmake --build "$work/cmake" > "$work/build.log" || { cat "$work/build.log"; exit 1; }

export PKG_CONFIG_PATH=$libdir/pkgconfig
cflags=$(pkg-config --cflags keel)
libs=$(pkg-config "${pc_static[@]}" --libs keel)
cc -std=c11 -Wall -Wextra -Werror $cflags "$here/example.c" -o "$work/example_c_pc" $libs \
  -Wl,-rpath,"$libdir"
c++ -std=c++17 -Wall -Wextra -Werror $cflags "$here/example.cpp" -o "$work/example_cpp_pc" $libs \
  -Wl,-rpath,"$libdir"

reference=""
for exe in "$work/cmake/example_cpp" "$work/cmake/example_c" "$work/example_cpp_pc" "$work/example_c_pc"; do
  out=$("$exe" "$model")
  [[ $(echo "$out" | wc -l) -eq 10 ]] || { echo "$exe printed: $out"; exit 1; }
  if [[ -z $reference ]]; then reference=$out; fi
  [[ $out == "$reference" ]] || { echo "$exe differs:"; echo "$out"; echo "vs"; echo "$reference"; exit 1; }
done
python_module=$(ls "$build"/python/keel*.so 2>/dev/null || true)
if [[ -n $python_module ]]; then
  out=$(PYTHONPATH=$build/python /usr/bin/python3 "$here/example.py" "$model" 2>/dev/null)
  [[ $out == "$reference" ]] || { echo "example.py differs:"; echo "$out"; exit 1; }
  echo "consumer: example.py (Python module) agrees"
fi

# The READMEs show these files verbatim: a change to one must be made to the other. README.md
# has the C++ one, include/README.md all three.
/usr/bin/python3 - "$here" <<'PY'
import pathlib, sys
here = pathlib.Path(sys.argv[1])
top = here.parents[1]
for readme, names in [("README.md", ["example.cpp"]),
                      ("include/README.md", ["example.cpp", "example.c", "example.py"])]:
    text = (top / readme).read_text()
    for name in names:
        if (here / name).read_text() not in text:
            sys.exit(f"{readme} does not contain tests/consumer/{name} verbatim")
PY

echo "consumer: find_package and pkg-config builds of the C and C++ examples agree:"
echo "$reference" | tr '\n' ' '
echo
