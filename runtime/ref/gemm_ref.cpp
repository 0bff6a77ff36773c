#include "ref/gemm_ref.hpp"

namespace keel::ref {

void gemm(int64_t m, int64_t n, int64_t k, float alpha, const float* a, int64_t lda, bool trans_a,
          const float* b, int64_t ldb, bool trans_b, float beta, float* c, int64_t ldc) {
  for (int64_t i = 0; i < m; ++i) {
    for (int64_t j = 0; j < n; ++j) {
      double acc = 0.0;
      for (int64_t p = 0; p < k; ++p) {
        const double av = trans_a ? a[p * lda + i] : a[i * lda + p];
        const double bv = trans_b ? b[j * ldb + p] : b[p * ldb + j];
        acc += av * bv;
      }
      double v = static_cast<double>(alpha) * acc;
      if (beta != 0.0f) v += static_cast<double>(beta) * c[i * ldc + j];
      c[i * ldc + j] = static_cast<float>(v);
    }
  }
}

}  // namespace keel::ref
