// Which SIMD tier the CPU (and the OS) supports, and which one keel uses.
//
// Detection runs once: CPUID for the instruction sets, XGETBV for the register state the OS
// saves on context switch (a CPU may support AVX-512 while the OS leaves ZMM state disabled).
// KEEL_MAX_ISA=sse2|avx2|avx512|avx512_bf16|amx caps the active tier so every kernel tier can be
// tested on one machine; it is read once, an unknown value is ignored with a warning on stderr.
// The bfloat16 GEMM has tiers of its own above AVX-512 (Bf16Tier): any cap below avx512_bf16
// leaves it on float32 instructions.
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
// The bfloat16 dot-product instructions keel can use, best last.
enum class Bf16Tier {
  kEmulated = 0,    // bfloat16 values multiplied with float32 FMA (any tier)
  kAvx512Bf16 = 1,  // AVX512_BF16: vdpbf16ps
  kAmx = 2,         // AMX-BF16 tiles (tdpbf16ps), with the OS's permission for tile data
};
// The best bfloat16 tier the CPU and OS support (AMX asks Linux for the tile-data permission
// once, arch_prctl ARCH_REQ_XCOMP_PERM; refused means no AMX).
Bf16Tier detected_bf16_tier();
// detected_bf16_tier() capped by KEEL_MAX_ISA and by active_isa() (below AVX-512: emulated).
Bf16Tier active_bf16_tier();
// "emulated", "avx512_bf16", "amx".
const char* bf16_tier_name(Bf16Tier tier);

// Tests only: caps active_isa() further (nullopt removes the cap). Not thread-safe against
// concurrent kernel planning; tests set it between runs.
void set_isa_cap_for_testing(std::optional<Isa> cap);

}  // namespace keel
