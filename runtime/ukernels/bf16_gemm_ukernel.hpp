// The interface between the bfloat16 GEMM driver (bf16_gemm.cpp) and its per-ISA microkernels
// (isa/*.cpp). Plain data only, like sgemm_ukernel.hpp: included by units compiled with AVX
// flags, so no inline functions.
//
// Operands hold bfloat16 values as uint16_t bits. A is row-major (rows of K values, `lda`
// values apart, K padded with zeros to a multiple of kBf16KAlign); B is packed in panels of NR
// columns, each K/2 rows of NR pairs (the two values of K-rows 2p and 2p+1 of one column side
// by side, the layout of vdpbf16ps and of AMX's B tiles); rows past M and columns past N are
// zeros. Products of two bfloat16 values are exact in float32; every tier accumulates them in
// float32, pair by pair (odd K-row first, as vdpbf16ps does), so the tiers differ only where
// AMX orders its sums differently or flushes subnormals.
#pragma once

#include <cstdint>

#include "ukernels/activation.hpp"

namespace keel {

// K is padded to whole AMX tiles (16 pairs = 32 values) for every tier, so one packed B serves
// the AVX512_BF16 and the AMX kernels alike.
constexpr int64_t kBf16KAlign = 32;

// One block product: C[mc, nc] = epilogue(A[mc, kp*2] x B[kp*2, nc]), the whole K at once.
struct Bf16GemmBlock {
  int64_t mc = 0, nc = 0;
  int64_t kp = 0;               // pairs of K (a multiple of kBf16KAlign / 2)
  const uint16_t* a = nullptr;  // mc rows (rounded up to the ukernel's mr, zeros past mc)
  int64_t lda = 0;              // in values
  const uint16_t* b = nullptr;  // ceil(nc/NR) panels of kp * NR pairs
  float* c = nullptr;
  int64_t ldc = 0;
  float alpha = 1.0f;
  bool apply_alpha = false;
  bool load_c = false;              // add the current C (Gemm's beta * C, written first)
  const float* bias_col = nullptr;  // nc values, or nullptr
  const float* bias_row = nullptr;  // mc values, or nullptr
  const float* residual = nullptr;  // mc x nc, ld_residual apart
  int64_t ld_residual = 0;
  ActParams act;
};

struct Bf16GemmUkernels {
  const char* name;  // "bf16_gemm_6x32/avx512_bf16"
  int64_t mr;        // rows per register (or tile) block; A buffers are padded to it
  int64_t nr;        // columns per B panel
  void (*block)(const Bf16GemmBlock& blk);
  // dst[i] = bfloat16(src[i]) rounded to nearest even, i < n (NaN stays NaN).
  void (*round)(const float* src, int64_t n, uint16_t* dst);
  // The peak probe: `iters` rounds of the tier's multiply instruction on independent
  // accumulators (tdpbf16ps tiles, vdpbf16ps or FMA chains); returns the floating-point
  // operations done (2 per multiply-add). keel bench divides bf16 nodes' rates by it.
  double (*probe)(int64_t iters);
};

namespace ukernels_sse2 {
extern const Bf16GemmUkernels kBf16Gemm;  // float32 FMA on the rounded values
}
namespace ukernels_avx2 {
extern const Bf16GemmUkernels kBf16Gemm;
}
namespace ukernels_avx512 {
extern const Bf16GemmUkernels kBf16Gemm;
}
namespace ukernels_avx512_bf16 {
extern const Bf16GemmUkernels kBf16GemmDot;  // vdpbf16ps
extern const Bf16GemmUkernels kBf16GemmAmx;  // AMX tdpbf16ps tiles
}  // namespace ukernels_avx512_bf16

}  // namespace keel
