// Scalar references for GEMM and MatMul (double accumulation): ground truth for tests.
#pragma once

#include <cstdint>

namespace keel::ref {

// C[M,N] = alpha * op(A) * op(B) + beta * C (beta == 0 ignores C's old values), where
// op(A) is A[M,K] (lda) or A^T with A stored [K,M]; likewise B.
void gemm(int64_t m, int64_t n, int64_t k, float alpha, const float* a, int64_t lda, bool trans_a,
          const float* b, int64_t ldb, bool trans_b, float beta, float* c, int64_t ldc);

}  // namespace keel::ref
