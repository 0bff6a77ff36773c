// Which SIMD tier the CPU (and the OS) supports, and which one keel uses.
//
// Detection runs once: CPUID for the instruction sets, XGETBV for the register state the OS
// saves on context switch (a CPU may support AVX-512 while the OS leaves ZMM state disabled).
// KEEL_MAX_ISA=sse2|avx2|avx512 caps the active tier so every kernel tier can be tested on one
// machine; it is read once, an unknown value is ignored with a warning on stderr.
#pragma once

#include <optional>

namespace keel {

enum class Isa {
  kSse2 = 0,    // x86-64 baseline
  kAvx2 = 1,    // AVX2 + FMA3
  kAvx512 = 2,  // AVX-512 F + BW + DQ + VL
};

// One ukernel family's table for a tier, among the tables each tier's isa/*.cpp exports (every
// tier keel knows is compiled in, so never null): the switch every *_dispatch shares.
template <class Table>
const Table* table_for_isa(Isa isa, const Table& sse2, const Table& avx2, const Table& avx512) {
  switch (isa) {
    case Isa::kAvx512: return &avx512;
    case Isa::kAvx2: return &avx2;
    case Isa::kSse2: break;
  }
  return &sse2;
}

// The best tier the hardware and OS support.
Isa detected_isa();
// The tier kernels use: detected_isa() capped by KEEL_MAX_ISA and the testing cap.
Isa active_isa();
// "sse2", "avx2", "avx512".
const char* isa_name(Isa isa);
// Tests only: caps active_isa() further (nullopt removes the cap). Not thread-safe against
// concurrent kernel planning; tests set it between runs.
void set_isa_cap_for_testing(std::optional<Isa> cap);

}  // namespace keel
