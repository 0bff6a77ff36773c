// Baseline-compiled SGEMM driver: blocking, packing, threading and dispatch. The arithmetic
// happens in the per-ISA block kernels (isa/*.cpp, sgemm_body.inc).
#include "ukernels/sgemm.hpp"

#include <algorithm>
#include <cstring>
#include <vector>
#include <xsimd/xsimd.hpp>

#include "exec/parallel.hpp"
#include "ukernels/gemm_blocking.hpp"
#include "ukernels/sgemm_ukernel.hpp"

namespace keel {
namespace {

// Row and column blocks handed to one task. Multiples of every tier's MR / NR.
constexpr int64_t kMc = 144;
constexpr int64_t kNc = 512;

// A strided view: element (i, j) at data[i * rs + j * cs].
struct StridedMatrix {
  const float* data;
  int64_t rs, cs;
};

int64_t ceil_div(int64_t a, int64_t b) { return (a + b - 1) / b; }

// Columns of a packed B: N rounded up to whole NR panels (at least one).
int64_t padded_n(int64_t n, int64_t nr) { return ceil_div(std::max<int64_t>(n, 1), nr) * nr; }

// Rows past M read zeros from here, kZeroRowLen columns at a time.
constexpr int64_t kZeroRowLen = 256;
alignas(64) const float kZeroRow[kZeroRowLen] = {};
constexpr int64_t kMaxPanelRows = 16;

// Packs rows [i0, i0+mc) x cols [k0, k0+kc) of A into MR-row panels: panel p holds
// kc groups of MR values (rows past mc are zero).
void pack_a(const StridedMatrix& a, int64_t i0, int64_t mc, int64_t k0, int64_t kc, int64_t mr,
            float* dst) {
  for (int64_t p = 0; p * mr < mc; ++p) {
    float* panel = dst + p * mr * kc;
    const int64_t rows = std::min(mr, mc - p * mr);
    if (a.cs == 1 && mr <= kMaxPanelRows) {
      // Contiguous rows: interleave them column by column (sequential, vectorized stores).
      const float* src[kMaxPanelRows];
      for (int64_t r = 0; r < mr; ++r) {
        src[r] = r < rows ? a.data + (i0 + p * mr + r) * a.rs + k0 : kZeroRow;
      }
      for (int64_t j0 = 0; j0 < kc; j0 += kZeroRowLen) {
        const float* run[kMaxPanelRows];
        for (int64_t r = 0; r < mr; ++r) run[r] = src[r] == kZeroRow ? kZeroRow : src[r] + j0;
        sgemm_interleave_rows(run, mr, std::min(kZeroRowLen, kc - j0), panel + j0 * mr);
      }
      continue;
    }
    for (int64_t r = 0; r < mr; ++r) {
      if (r >= rows) {
        for (int64_t k = 0; k < kc; ++k) panel[k * mr + r] = 0.0f;
        continue;
      }
      const float* src = a.data + (i0 + p * mr + r) * a.rs + k0 * a.cs;
      for (int64_t k = 0; k < kc; ++k) panel[k * mr + r] = src[k * a.cs];
    }
  }
}

// Packs rows [k0, k0+kc) x cols [j0, j0+nc) of B into NR-column panels: panel q holds kc
// rows of NR values (columns past nc are zero).
void pack_b(const StridedMatrix& b, int64_t k0, int64_t kc, int64_t j0, int64_t nc, int64_t nr,
            float* dst) {
  for (int64_t q = 0; q * nr < nc; ++q) {
    float* panel = dst + q * nr * kc;
    const int64_t cols = std::min(nr, nc - q * nr);
    for (int64_t k = 0; k < kc; ++k) {
      const float* src = b.data + (k0 + k) * b.rs + (j0 + q * nr) * b.cs;
      float* d = panel + k * nr;
      if (b.cs == 1) {
        std::memcpy(d, src, static_cast<size_t>(cols) * sizeof(float));
      } else {
        for (int64_t j = 0; j < cols; ++j) d[j] = src[j * b.cs];
      }
      for (int64_t j = cols; j < nr; ++j) d[j] = 0.0f;
    }
  }
}

float* thread_buffer(int slot, size_t floats) {
  return static_cast<float*>(thread_scratch(slot, floats * sizeof(float)));
}

// Either operand may be prepacked (whole matrix, layout: K blocks, then panels); A may
// instead be gathered block by block by a caller's function.
struct Operands {
  StridedMatrix a{nullptr, 0, 0};
  const float* a_packed = nullptr;
  const SgemmAGather* a_gather = nullptr;
  StridedMatrix b{nullptr, 0, 0};
  const float* b_packed = nullptr;
};

void epilogue_only(int64_t m, int64_t n, float* c, int64_t ldc, const GemmEpilogue& ep) {
  for (int64_t i = 0; i < m; ++i) {
    for (int64_t j = 0; j < n; ++j) {
      float v = ep.accumulate ? c[i * ldc + j] : 0.0f;
      if (ep.bias_kind == GemmBias::kPerRow) v += ep.bias[i];
      if (ep.bias_kind == GemmBias::kPerCol) v += ep.bias[j];
      if (ep.residual != nullptr) v += ep.residual[i * ep.ld_residual + j];
      v = activate_scalar(v, ep.act);
      c[i * ldc + j] = v;
    }
  }
}

// Whether the microkernel reads A's rows where they are instead of packed panels: whenever
// the rows are contiguous. Packing moves every element of A once per block of N, which with
// few columns (a 1x1 convolution to 16-64 channels) costs as much as the products; six row
// streams read as fast as one panel. Measured on AVX2 (bench_conv, 2026-11-25): 6-21% faster
// for N <= 64, level or faster for wide N (1024^3, ResNet-50's 512->2048).
bool read_a_in_place(const Operands& op) {
  return !op.a_packed && !op.a_gather && op.a.cs == 1 && op.a.rs > 0;
}

void run(const SgemmUkernels* uk, int64_t m, int64_t n, int64_t k, const Operands& op, float* c,
         int64_t ldc, const GemmEpilogue& ep) {
  if (m <= 0 || n <= 0) return;
  if (k <= 0) {
    epilogue_only(m, n, c, ldc, ep);
    return;
  }
  const int64_t mr = uk->mr, nr = uk->nr;
  const int64_t m_pad = ceil_div(m, mr) * mr;
  const int64_t n_pad = ceil_div(n, nr) * nr;
  // Block sizes never change an output bit (K blocking is fixed): gemm_blocking.hpp.
  int64_t mc = kMc, nc = kNc;
  split_gemm_blocks(m, n, mr, nr, mc, nc);
  const int64_t m_blocks = ceil_div(m, mc), n_blocks = ceil_div(n, nc);
  const int64_t nkb = ceil_div(k, kSgemmKc);
  const bool direct_a = read_a_in_place(op);
  const int64_t per_task = std::min(mc, m) * std::min(nc, n) * k;
  parallel_for(m_blocks * n_blocks, per_task, [&](int64_t t0, int64_t t1) {
    for (int64_t t = t0; t < t1; ++t) {
      const int64_t i0 = (t / n_blocks) * mc, j0 = (t % n_blocks) * nc;
      const int64_t mlen = std::min(mc, m - i0), nlen = std::min(nc, n - j0);
      float* a_buf =
          op.a_packed || direct_a ? nullptr : thread_buffer(0, ceil_div(mlen, mr) * mr * kSgemmKc);
      float* b_buf = op.b_packed ? nullptr : thread_buffer(1, ceil_div(nlen, nr) * nr * kSgemmKc);
      if ((!op.a_packed && !direct_a && !a_buf) || (!op.b_packed && !b_buf)) {
        // The run fails with OUT_OF_MEMORY (core/run_failure.hpp); this block is not computed.
        report_run_failure(
            Status(StatusCode::kOutOfMemory, "cannot allocate the GEMM's packing buffers"));
        continue;
      }
      for (int64_t kb = 0; kb < nkb; ++kb) {
        const int64_t k0 = kb * kSgemmKc;
        const int64_t kc = std::min(kSgemmKc, k - k0);
        const float* bp;
        if (op.b_packed) {
          bp = op.b_packed + k0 * n_pad + (j0 / nr) * nr * kc;
        } else {
          pack_b(op.b, k0, kc, j0, nlen, nr, b_buf);
          bp = b_buf;
        }
        const float* ap;
        if (direct_a) {
          ap = op.a.data + i0 * op.a.rs + k0;
        } else if (op.a_packed) {
          ap = op.a_packed + k0 * m_pad + (i0 / mr) * mr * kc;
        } else if (op.a_gather) {
          op.a_gather->pack(op.a_gather->ctx, i0, mlen, k0, kc, mr, a_buf);
          ap = a_buf;
        } else {
          pack_a(op.a, i0, mlen, k0, kc, mr, a_buf);
          ap = a_buf;
        }
        SgemmBlock blk;
        blk.mc = mlen;
        blk.nc = nlen;
        blk.kc = kc;
        blk.a = ap;
        blk.lda = direct_a ? op.a.rs : 0;
        blk.b = bp;
        blk.c = c + i0 * ldc + j0;
        blk.ldc = ldc;
        blk.load_c = kb > 0 || ep.accumulate;
        blk.alpha = ep.alpha;
        blk.apply_alpha = ep.alpha != 1.0f;
        const bool last = kb == nkb - 1;
        if (last && ep.bias_kind == GemmBias::kPerRow) blk.bias_row = ep.bias + i0;
        if (last && ep.bias_kind == GemmBias::kPerCol) blk.bias_col = ep.bias + j0;
        if (last && ep.residual != nullptr) {
          blk.residual = ep.residual + i0 * ep.ld_residual + j0;
          blk.ld_residual = ep.ld_residual;
        }
        if (last) blk.act = ep.act;
        uk->block(blk);
      }
    }
  });
}

StridedMatrix strided(const float* p, int64_t ld, bool trans) {
  return trans ? StridedMatrix{p, 1, ld} : StridedMatrix{p, ld, 1};
}

}  // namespace

// Every tier's MR is 6: that case transposes 4 columns of rows 0-3 at a time on baseline (SSE2)
// vectors, which halves the stores of the scalar loop.
void sgemm_interleave_rows(const float* const* src, int64_t mr, int64_t len, float* d) {
  int64_t j = 0;
  if (mr == 6) {
    using V = xsimd::batch<float, xsimd::sse2>;
    const float *s0 = src[0], *s1 = src[1], *s2 = src[2], *s3 = src[3], *s4 = src[4], *s5 = src[5];
    for (; j + 4 <= len; j += 4) {
      const V a = V::load_unaligned(s0 + j), b = V::load_unaligned(s1 + j);
      const V c = V::load_unaligned(s2 + j), e = V::load_unaligned(s3 + j);
      const V ac_lo = xsimd::zip_lo(a, c), ac_hi = xsimd::zip_hi(a, c);
      const V be_lo = xsimd::zip_lo(b, e), be_hi = xsimd::zip_hi(b, e);
      float* o = d + j * 6;
      xsimd::zip_lo(ac_lo, be_lo).store_unaligned(o);
      xsimd::zip_hi(ac_lo, be_lo).store_unaligned(o + 6);
      xsimd::zip_lo(ac_hi, be_hi).store_unaligned(o + 12);
      xsimd::zip_hi(ac_hi, be_hi).store_unaligned(o + 18);
      for (int64_t u = 0; u < 4; ++u) {
        o[u * 6 + 4] = s4[j + u];
        o[u * 6 + 5] = s5[j + u];
      }
    }
  }
  for (; j < len; ++j) {
    for (int64_t r = 0; r < mr; ++r) d[j * mr + r] = src[r][j];
  }
}

const SgemmUkernels* sgemm_ukernels(Isa isa) {
  return table_for_isa(isa, ukernels_sse2::kSgemm, ukernels_avx2::kSgemm, ukernels_avx512::kSgemm);
}

const SgemmUkernels* sgemm_ukernels_active() { return sgemm_ukernels(active_isa()); }

const char* sgemm_ukernel_name(const SgemmUkernels* uk) { return uk->name; }

void sgemm(int64_t m, int64_t n, int64_t k, const float* a, int64_t lda, bool trans_a,
           const float* b, int64_t ldb, bool trans_b, float* c, int64_t ldc, const GemmEpilogue& ep,
           const SgemmUkernels* uk) {
  Operands op;
  op.a = strided(a, lda, trans_a);
  op.b = strided(b, ldb, trans_b);
  run(uk ? uk : sgemm_ukernels_active(), m, n, k, op, c, ldc, ep);
}

bool SgemmPackedA::pack(int64_t m, int64_t k, const float* a, int64_t lda, bool trans_a,
                        const SgemmUkernels* uk) {
  uk_ = uk ? uk : sgemm_ukernels_active();
  m_ = m;
  k_ = k;
  const int64_t m_pad = ceil_div(std::max<int64_t>(m, 1), uk_->mr) * uk_->mr;
  // pack_a writes every element (zeros past M) when K > 0.
  const size_t bytes = static_cast<size_t>(m_pad * std::max<int64_t>(k, 1)) * sizeof(float);
  data_ = k > 0 ? allocate_aligned_for_overwrite(bytes) : allocate_aligned(bytes);
  if (!data_) return false;
  float* dst = reinterpret_cast<float*>(data_.get());
  const StridedMatrix src = strided(a, lda, trans_a);
  for (int64_t k0 = 0; k0 < k; k0 += kSgemmKc) {
    const int64_t kc = std::min(kSgemmKc, k - k0);
    pack_a(src, 0, m, k0, kc, uk_->mr, dst + k0 * m_pad);
  }
  return true;
}

bool SgemmPackedB::pack(int64_t k, int64_t n, const float* b, int64_t ldb, bool trans_b,
                        const SgemmUkernels* uk) {
  uk_ = uk ? uk : sgemm_ukernels_active();
  k_ = k;
  n_ = n;
  const int64_t n_pad = padded_n(n, uk_->nr);
  // pack_b writes every element (zeros past N) when K > 0.
  const size_t bytes = static_cast<size_t>(n_pad * std::max<int64_t>(k, 1)) * sizeof(float);
  data_ = k > 0 ? allocate_aligned_for_overwrite(bytes) : allocate_aligned(bytes);
  if (!data_) return false;
  float* dst = reinterpret_cast<float*>(data_.get());
  const StridedMatrix src = strided(b, ldb, trans_b);
  for (int64_t k0 = 0; k0 < k; k0 += kSgemmKc) {
    const int64_t kc = std::min(kSgemmKc, k - k0);
    pack_b(src, k0, kc, 0, n, uk_->nr, dst + k0 * n_pad);
  }
  return true;
}

int64_t SgemmPackedB::packed_floats() const {
  return padded_n(n_, uk_->nr) * std::max<int64_t>(k_, 1);
}

void SgemmPackedB::scale_rows(const float* s, float* dst) const {
  // Layout (pack): K blocks of kSgemmKc rows; in each, NR-column panels of kc rows of NR.
  const int64_t nr = uk_->nr, n_pad = padded_n(n_, nr);
  const float* src = data();
  parallel_for(k_, n_pad, [&](int64_t k_begin, int64_t k_end) {
    for (int64_t k = k_begin; k < k_end; ++k) {
      const int64_t k0 = k / kSgemmKc * kSgemmKc, kc = std::min(kSgemmKc, k_ - k0);
      const float sk = s[k];
      for (int64_t q = 0; q < n_pad / nr; ++q) {
        const int64_t off = k0 * n_pad + q * nr * kc + (k - k0) * nr;
        for (int64_t j = 0; j < nr; ++j) dst[off + j] = src[off + j] * sk;
      }
    }
  });
}

void sgemm_packed_a(const SgemmPackedA& a, int64_t n, const float* b, int64_t ldb, bool trans_b,
                    float* c, int64_t ldc, const GemmEpilogue& ep) {
  Operands op;
  op.a_packed = a.data();
  op.b = strided(b, ldb, trans_b);
  run(a.ukernels(), a.m(), n, a.k(), op, c, ldc, ep);
}

void sgemm_packed_b(int64_t m, const float* a, int64_t lda, bool trans_a, const SgemmPackedB& b,
                    float* c, int64_t ldc, const GemmEpilogue& ep, const float* b_data) {
  Operands op;
  op.a = strided(a, lda, trans_a);
  op.b_packed = b_data != nullptr ? b_data : b.data();
  run(b.ukernels(), m, b.n(), b.k(), op, c, ldc, ep);
}

void sgemm_packed_b_f64(int64_t m, const float* a, int64_t lda, const SgemmPackedB& b, float* c,
                        int64_t ldc, const GemmEpilogue& ep) {
  const SgemmUkernels* uk = b.ukernels();
  const int64_t n = b.n(), k = b.k(), nr = uk->nr;
  if (m <= 0 || n <= 0) return;
  if (m > kSgemmF64MaxRows) {
    sgemm_packed_b(m, a, lda, false, b, c, ldc, ep);
    return;
  }
  const int64_t n_pad = padded_n(n, nr);
  // Each task takes a range of panels and walks K block by K block, so its part of B is read
  // in the packed order (one sequential stream per K block); the sums wait in `acc`.
  parallel_for(n_pad / nr, m * k * nr, [&](int64_t q0, int64_t q1) {
    thread_local std::vector<double> acc_buffer;
    const int64_t panel_acc = kSgemmF64Rows * nr;
    acc_buffer.assign(static_cast<size_t>((q1 - q0) * panel_acc), 0.0);
    double* acc = acc_buffer.data();
    for (int64_t i0 = 0; i0 < m; i0 += kSgemmF64Rows) {
      const int64_t rows = std::min(kSgemmF64Rows, m - i0);
      if (i0 > 0) std::fill(acc, acc + (q1 - q0) * panel_acc, 0.0);
      for (int64_t k0 = 0; k0 < k; k0 += kSgemmKc) {
        const int64_t kc = std::min(kSgemmKc, k - k0);
        for (int64_t q = q0; q < q1; ++q) {
          SgemmF64Panel p;
          p.a = a + i0 * lda + k0;
          p.lda = lda;
          p.rows = rows;
          p.b = b.data() + k0 * n_pad + q * nr * kc;
          p.kc = kc;
          p.acc = acc + (q - q0) * panel_acc;
          uk->panel_f64(p);
        }
      }
      for (int64_t q = q0; q < q1; ++q) {
        const int64_t col0 = q * nr, cols = std::min(nr, n - col0);
        const double* pacc = acc + (q - q0) * panel_acc;
        for (int64_t r = 0; r < rows; ++r) {
          const int64_t i = i0 + r;
          for (int64_t j = 0; j < cols; ++j) {
            double v = static_cast<double>(ep.alpha) * pacc[r * nr + j];
            if (ep.accumulate) v += c[i * ldc + col0 + j];
            if (ep.bias_kind == GemmBias::kPerRow) v += ep.bias[i];
            if (ep.bias_kind == GemmBias::kPerCol) v += ep.bias[col0 + j];
            if (ep.residual != nullptr) v += ep.residual[i * ep.ld_residual + col0 + j];
            c[i * ldc + col0 + j] = activate_scalar(static_cast<float>(v), ep.act);
          }
        }
      }
    }
  });
}

void sgemm_gather_a(int64_t m, const SgemmAGather& a, const SgemmPackedB& b, float* c, int64_t ldc,
                    const GemmEpilogue& ep) {
  Operands op;
  op.a_gather = &a;
  op.b_packed = b.data();
  run(b.ukernels(), m, b.n(), b.k(), op, c, ldc, ep);
}

}  // namespace keel
