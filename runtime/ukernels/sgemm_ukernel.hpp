// The interface between the baseline SGEMM driver (sgemm.cpp) and the per-ISA microkernels
// (isa/*.cpp). Plain data only: this header is included by translation units compiled with
// AVX flags, so it must not define any inline function.
#pragma once

#include <cstdint>

#include "ukernels/activation.hpp"

namespace keel {

// Every tier uses 6-row tiles and the same K block, so packed A panels are tier-independent
// in layout; NR (columns per tile) is the vector width times two.
constexpr int64_t kSgemmMr = 6;
constexpr int64_t kSgemmKc = 256;

// One block product: C[mc, nc] (+)= packed A panels x packed B panels over kc.
struct SgemmBlock {
  int64_t mc = 0, nc = 0, kc = 0;
  // ceil(mc/MR) panels of kc*MR floats, or (lda > 0) mc rows of the caller's row-major A,
  // lda floats apart, at this block's first column.
  const float* a = nullptr;
  int64_t lda = 0;
  const float* b = nullptr;  // ceil(nc/NR) panels of kc*NR floats
  float* c = nullptr;
  int64_t ldc = 0;
  bool load_c = false;  // add the current C (accumulate over K blocks)
  float alpha = 1.0f;   // applied to this block's product
  bool apply_alpha = false;
  const float* bias_row = nullptr;  // mc values, or nullptr
  const float* bias_col = nullptr;  // nc values, or nullptr
  const float* residual = nullptr;  // mc x nc values, ld_residual apart, added after the bias
  int64_t ld_residual = 0;
  ActParams act;  // applied last
};

// Rows of A per call of SgemmUkernels::panel_f64.
constexpr int64_t kSgemmF64Rows = 4;

// acc[r * NR + j] += sum over k < kc of a[r * lda + k] * b[k * NR + j], r < rows (at most
// kSgemmF64Rows), j < NR, k in order, products and sums in double: one packed B panel of one K
// block (kc rows of NR floats).
struct SgemmF64Panel {
  const float* a = nullptr;
  int64_t lda = 0, rows = 0;
  const float* b = nullptr;
  int64_t kc = 0;
  double* acc = nullptr;
};

struct SgemmUkernels {
  const char* name;  // "f32_gemm_6x32/avx512"
  int64_t mr;
  int64_t nr;
  void (*block)(const SgemmBlock& blk);
  void (*panel_f64)(const SgemmF64Panel& p);
};

namespace ukernels_sse2 {
extern const SgemmUkernels kSgemm;
}
namespace ukernels_avx2 {
extern const SgemmUkernels kSgemm;
}
namespace ukernels_avx512 {
extern const SgemmUkernels kSgemm;
}

}  // namespace keel
