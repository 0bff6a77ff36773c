// bfloat16 GEMM: C[M,N] = epilogue(bf16(A)[M,K] x B[K,N]) with B's values rounded once to
// bfloat16 (nearest even) and packed at plan time, A's rounded per run, products exact and
// sums in float32, the epilogue (alpha, C, bias, residual, activation) in float32.
//
// The tiers (bf16_gemm_ukernel.hpp): AMX tiles, vdpbf16ps, or float32 FMA on the rounded
// values (same rounding, not faster) where the CPU has neither. The whole K is summed in one
// pass per output, in an order that depends only on the tier, so the result bits do not depend
// on the thread count.
#pragma once

#include <cstdint>

#include "core/aligned_buffer.hpp"
#include "core/cpu_features.hpp"
#include "ukernels/sgemm.hpp"  // GemmEpilogue

namespace keel {

struct Bf16GemmUkernels;

// The table of a bfloat16 tier on the active AVX tier (the emulated kernel of active_isa()).
const Bf16GemmUkernels* bf16_gemm_ukernels(Bf16Tier tier);
const Bf16GemmUkernels* bf16_gemm_ukernels_active();
const char* bf16_gemm_ukernel_name(const Bf16GemmUkernels* uk);

// B [K, N] rounded to bfloat16 and packed once for a fixed ukernel table.
class Bf16PackedB {
 public:
  Bf16PackedB() = default;
  // Returns false when the allocation fails.
  bool pack(int64_t k, int64_t n, const float* b, int64_t ldb, bool trans_b,
            const Bf16GemmUkernels* uk = nullptr);
  int64_t k() const { return k_; }
  int64_t n() const { return n_; }
  int64_t k_padded() const { return k_pad_; }  // K rounded up to kBf16KAlign
  const uint16_t* data() const { return reinterpret_cast<const uint16_t*>(data_.get()); }
  size_t bytes() const { return bytes_; }
  const Bf16GemmUkernels* ukernels() const { return uk_; }

 private:
  int64_t k_ = 0, n_ = 0, k_pad_ = 0;
  size_t bytes_ = 0;
  AlignedBytes data_;
  const Bf16GemmUkernels* uk_ = nullptr;
};

// An A operand written row by row by the caller (an implicit-GEMM convolution gathers its rows
// from the image): rows writes rows [i0, i0+mc) of A, K values each, as bfloat16 into dst
// (row r at dst + r * ld), rounding float runs with `round`. Called concurrently.
struct Bf16AGather {
  void (*rows)(const void* ctx, int64_t i0, int64_t mc, uint16_t* dst, int64_t ld,
               void (*round)(const float* src, int64_t n, uint16_t* dst)) = nullptr;
  const void* ctx = nullptr;
};

// C = A x packed B, A row-major float (lda apart, not transposed).
void bf16_gemm_packed_b(int64_t m, const float* a, int64_t lda, const Bf16PackedB& b, float* c,
                        int64_t ldc, const GemmEpilogue& ep);
// C = gathered A x packed B.
void bf16_gemm_gather_a(int64_t m, const Bf16AGather& a, const Bf16PackedB& b, float* c,
                        int64_t ldc, const GemmEpilogue& ep);

// Bytes of B [K, N] rounded and packed for the active table (bf16_gemm's b_buffer).
size_t bf16_packed_b_bytes(int64_t k, int64_t n);
// C = A x B with both operands activations (attention's products): B (row-major [K, N], ldb
// apart) is rounded and packed into b_buffer (bf16_packed_b_bytes(k, n) bytes, 64-byte
// aligned) first. `parallel` false runs on the calling thread alone (a caller that is itself
// one task of a parallel loop).
void bf16_gemm(int64_t m, int64_t n, int64_t k, const float* a, int64_t lda, const float* b,
               int64_t ldb, float* c, int64_t ldc, const GemmEpilogue& ep, void* b_buffer,
               bool parallel);

}  // namespace keel
