// Single-precision GEMM: C[M,N] = alpha * op(A)[M,K] * op(B)[K,N] (+ C) (+ bias), clamped.
//
// Row-major matrices with an optional transpose per operand. B is packed into panels of NR
// columns, K in blocks of kSgemmKc; A is read in place when its rows are contiguous (not
// transposed), else packed into panels of MR rows. An MR x NR register-tile microkernel of the
// active ISA multiplies them (same bits either way). Work is split over M and N tiles only, never
// over K, so the result bits do not depend on the thread count. Constant operands (weights)
// can be packed once at plan time (SgemmPackedA / SgemmPackedB).
#pragma once

#include <cstdint>

#include "core/aligned_buffer.hpp"
#include "core/cpu_features.hpp"
#include "ukernels/activation.hpp"

namespace keel {

struct SgemmUkernels;  // one table per ISA (runtime/ukernels/isa/*.cpp)

enum class GemmBias { kNone, kPerRow, kPerCol };

// What happens to each output after the product:
// y = act(alpha*acc (+ C if accumulate) + bias (+ residual)).
struct GemmEpilogue {
  float alpha = 1.0f;
  bool accumulate = false;
  GemmBias bias_kind = GemmBias::kNone;
  const float* bias = nullptr;  // M values (per row) or N values (per column)
  // An [M, N] matrix added last before the activation (a residual connection's skip tensor);
  // element (i, j) at residual[i * ld_residual + j]. Must not overlap C.
  const float* residual = nullptr;
  int64_t ld_residual = 0;
  ActParams act;
};

// The ukernel table for an ISA tier (never null: every tier keel knows is compiled in).
const SgemmUkernels* sgemm_ukernels(Isa isa);
// The table for active_isa().
const SgemmUkernels* sgemm_ukernels_active();
// "f32_gemm_6x32/avx512"
const char* sgemm_ukernel_name(const SgemmUkernels* uk);

// A (trans_a ? [K,M] : [M,K]) with leading dimension lda; B likewise.
void sgemm(int64_t m, int64_t n, int64_t k, const float* a, int64_t lda, bool trans_a,
           const float* b, int64_t ldb, bool trans_b, float* c, int64_t ldc, const GemmEpilogue& ep,
           const SgemmUkernels* uk = nullptr);

// A packed once (e.g. convolution weights [Cout, Cin*k*k]) for a fixed ukernel table.
class SgemmPackedA {
 public:
  SgemmPackedA() = default;
  // Returns false when the allocation fails.
  bool pack(int64_t m, int64_t k, const float* a, int64_t lda, bool trans_a,
            const SgemmUkernels* uk = nullptr);
  int64_t m() const { return m_; }
  int64_t k() const { return k_; }
  const float* data() const { return reinterpret_cast<const float*>(data_.get()); }
  const SgemmUkernels* ukernels() const { return uk_; }

 private:
  int64_t m_ = 0, k_ = 0;
  AlignedBytes data_;
  const SgemmUkernels* uk_ = nullptr;
};

// B packed once (e.g. Gemm / MatMul weights) for a fixed ukernel table.
class SgemmPackedB {
 public:
  SgemmPackedB() = default;
  bool pack(int64_t k, int64_t n, const float* b, int64_t ldb, bool trans_b,
            const SgemmUkernels* uk = nullptr);
  int64_t k() const { return k_; }
  int64_t n() const { return n_; }
  const float* data() const { return reinterpret_cast<const float*>(data_.get()); }
  const SgemmUkernels* ukernels() const { return uk_; }
  // Floats of the packed matrix (N rounded up to the ukernel's NR, times K).
  int64_t packed_floats() const;
  // dst (packed_floats() floats) = diag(s) x B in this packed layout: row k scaled by s[k], each
  // product rounded once. A per-run scaling of the K inputs (a squeeze-excitation gate on the
  // input channels of a 1x1 convolution) without a pass over A.
  void scale_rows(const float* s, float* dst) const;

 private:
  int64_t k_ = 0, n_ = 0;
  AlignedBytes data_;
  const SgemmUkernels* uk_ = nullptr;
};

// C = packed A x B: m and k come from `a`.
void sgemm_packed_a(const SgemmPackedA& a, int64_t n, const float* b, int64_t ldb, bool trans_b,
                    float* c, int64_t ldc, const GemmEpilogue& ep);
// C = A x packed B: k and n come from `b`; `b_data`, when given, replaces b's own packed
// values (same layout: SgemmPackedB::scale_rows output).
void sgemm_packed_b(int64_t m, const float* a, int64_t lda, bool trans_a, const SgemmPackedB& b,
                    float* c, int64_t ldc, const GemmEpilogue& ep, const float* b_data = nullptr);

// C = A x packed B accumulated in float64: products are exact in double, sums rounded in
// double, alpha, the bias, the residual and (accumulate) C are added in double, and each output
// is rounded to float once before the activation. For few rows only (m <= kSgemmF64MaxRows: a
// classifier at batch 1-8 reads B once per 4 rows and costs about what float32 does; its float32
// sum over 1024-2048 terms was most of a CNN's error against float64). A not transposed.
constexpr int64_t kSgemmF64MaxRows = 8;
void sgemm_packed_b_f64(int64_t m, const float* a, int64_t lda, const SgemmPackedB& b, float* c,
                        int64_t ldc, const GemmEpilogue& ep);

// An A operand that is never materialised: the driver asks `pack` for each block it needs
// (implicit-GEMM convolution gathers its rows from the image). pack writes rows [i0, i0+mc)
// x cols [k0, k0+kc) of A into dst as ceil(mc/mr) panels of kc*mr floats, element (i, k) at
// dst[((i-i0)/mr)*mr*kc + (k-k0)*mr + (i-i0)%mr], rows past mc zero. Called concurrently from
// several threads with different dst.
struct SgemmAGather {
  void (*pack)(const void* ctx, int64_t i0, int64_t mc, int64_t k0, int64_t kc, int64_t mr,
               float* dst) = nullptr;
  const void* ctx = nullptr;
};

// dst[j * mr + r] = src[r][j] for j < len, r < mr: `len` columns of an A panel from mr row
// pointers, written sequentially (pack functions of gathers use it).
void sgemm_interleave_rows(const float* const* src, int64_t mr, int64_t len, float* dst);

// C = gathered A [m, b.k()] x packed B: same blocking and bits as sgemm_packed_b.
void sgemm_gather_a(int64_t m, const SgemmAGather& a, const SgemmPackedB& b, float* c, int64_t ldc,
                    const GemmEpilogue& ep);

}  // namespace keel
