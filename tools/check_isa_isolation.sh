#!/usr/bin/env bash
# Checks that no function outside the per-ISA ukernel units (namespaces ukernels_avx2,
# ukernels_avx512 and ukernels_avx512_bf16, compiled from runtime/ukernels/isa/*.cpp) uses ymm or
# zmm registers, so an
# SSE2-only or AVX2-only machine never meets an AVX or AVX-512 instruction it did not ask for
# (an inline helper compiled with -m flags and picked by the linker would be one).
#   tools/check_isa_isolation.sh BINARY_OR_LIBRARY ...
# Allowed besides: the FMA peak probe of `keel bench` (tools/keel/machine_limits.cpp), whose
# target-attributed functions run only after the CPU check.
set -euo pipefail
allowed='^keel::\(anonymous namespace\)::fma_avx(2|512)\(\)$'
bad=0
for file in "$@"; do
  offenders=$(objdump -d --no-show-raw-insn "$file" |
    awk '/^[0-9a-f]+ <.*>:$/ { fn = $2 } /%[yz]mm[0-9]/ { print fn }' | sort -u |
    sed 's/^<//; s/>:$//' | c++filt |
    grep -Ev 'keel::ukernels_avx(2|512|512_bf16)::' | grep -Ev "$allowed" || true)
  vector_fns=$(objdump -d --no-show-raw-insn "$file" |
    awk '/^[0-9a-f]+ <.*>:$/ { fn = $2 } /%[yz]mm[0-9]/ { print fn }' | sort -u | wc -l)
  if [[ -n $offenders ]]; then
    echo "check_isa_isolation: $file: functions outside the per-ISA units use ymm/zmm:"
    echo "$offenders" | sed 's/^/  /'
    bad=1
  else
    echo "check_isa_isolation: $file: $vector_fns functions use ymm/zmm, all in the per-ISA units (or the allowed probe)"
  fi
done
exit $bad
