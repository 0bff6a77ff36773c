// Baseline-compiled bfloat16 GEMM driver: packing, blocking, threading, dispatch. The
// arithmetic happens in the per-ISA block kernels (bf16_gemm_body.inc, bf16_gemm_amx_body.inc).
#include "ukernels/bf16_gemm.hpp"

#include <algorithm>
#include <cstring>
#include <vector>

#include "core/float16.hpp"
#include "core/run_failure.hpp"
#include "exec/parallel.hpp"
#include "ukernels/bf16_gemm_ukernel.hpp"
#include "ukernels/gemm_blocking.hpp"

namespace keel {
namespace {

int64_t ceil_div(int64_t a, int64_t b) { return (a + b - 1) / b; }
int64_t round_up_to(int64_t a, int64_t b) { return ceil_div(a, b) * b; }

// Rows and columns of one task's block before splitting; the A block (rows x padded K
// bfloat16 values) is kept within kMaxABlockBytes so it stays in L2 while the block's
// column panels stream past it.
constexpr int64_t kMc = 192;
constexpr int64_t kNc = 512;
constexpr int64_t kMaxABlockBytes = 256 * 1024;

// Below this many rows an AMX table hands the GEMM to the vdpbf16ps one (same packed B): a
// 32-row tile would mostly multiply padding.
constexpr int64_t kAmxMinRows = 32;

struct ASource {
  const float* a = nullptr;  // row-major, lda apart
  int64_t lda = 0;
  const Bf16AGather* gather = nullptr;
};

// B as the driver reads it: a Bf16PackedB's, or one packed into a caller's buffer.
struct PackedView {
  const uint16_t* data = nullptr;
  int64_t k = 0, n = 0, k_pad = 0;
  const Bf16GemmUkernels* uk = nullptr;
};

PackedView view_of(const Bf16PackedB& b) {
  return {b.data(), b.k(), b.n(), b.k_padded(), b.ukernels()};
}

int64_t padded_k(int64_t k) { return round_up_to(std::max<int64_t>(k, 1), kBf16KAlign); }
int64_t padded_n(int64_t n, int64_t nr) { return round_up_to(std::max<int64_t>(n, 1), nr); }

// Writes B [K, N] into dst (zeros included): panel q, pair p, column j holds values (2p, j)
// and (2p + 1, j) at ((q * kp + p) * nr + j) * 2.
void pack_b(int64_t k, int64_t n, const float* b, int64_t ldb, bool trans_b, int64_t nr,
            int64_t k_pad, uint16_t* dst) {
  std::fill(dst, dst + padded_n(n, nr) * k_pad, uint16_t{0});
  const int64_t kp = k_pad / 2;
  for (int64_t kk = 0; kk < k; ++kk) {
    for (int64_t j = 0; j < n; ++j) {
      const float v = trans_b ? b[j * ldb + kk] : b[kk * ldb + j];
      const int64_t q = j / nr, p = kk / 2;
      dst[((q * kp + p) * nr + j % nr) * 2 + kk % 2] = bfloat16_bits_from_float(v);
    }
  }
}

void run(const Bf16GemmUkernels* uk, int64_t m, const ASource& src, const PackedView& b, float* c,
         int64_t ldc, const GemmEpilogue& ep, bool parallel = true) {
  const int64_t n = b.n, k = b.k, k_pad = b.k_pad;
  if (m <= 0 || n <= 0) return;
  if (uk == &ukernels_avx512_bf16::kBf16GemmAmx && m < kAmxMinRows) {
    uk = &ukernels_avx512_bf16::kBf16GemmDot;
  }
  const int64_t mr = uk->mr, nr = uk->nr;
  int64_t mc = round_up_to(
      std::clamp<int64_t>(kMaxABlockBytes / (2 * std::max<int64_t>(k_pad, 1)), mr, kMc), mr);
  int64_t nc = kNc;
  if (parallel) split_gemm_blocks(m, n, mr, nr, mc, nc);
  const int64_t m_blocks = ceil_div(m, mc), n_blocks = ceil_div(n, nc);
  const int64_t per_task = std::min(mc, m) * std::min(nc, n) * k;
  const auto tasks = [&](int64_t t0, int64_t t1) {
    for (int64_t t = t0; t < t1; ++t) {
      const int64_t i0 = (t / n_blocks) * mc, j0 = (t % n_blocks) * nc;
      const int64_t mlen = std::min(mc, m - i0), nlen = std::min(nc, n - j0);
      const int64_t rows_pad = round_up_to(mlen, mr);
      auto* a_buf = static_cast<uint16_t*>(
          thread_scratch(2, static_cast<size_t>(rows_pad * k_pad) * sizeof(uint16_t)));
      if (a_buf == nullptr) {
        report_run_failure(
            Status(StatusCode::kOutOfMemory, "cannot allocate the bfloat16 GEMM's A buffer"));
        continue;
      }
      // A's rows as bfloat16, K padded with zeros, then zero rows up to the tile height.
      if (src.gather != nullptr) {
        src.gather->rows(src.gather->ctx, i0, mlen, a_buf, k_pad, uk->round);
      } else {
        for (int64_t r = 0; r < mlen; ++r) {
          uk->round(src.a + (i0 + r) * src.lda, k, a_buf + r * k_pad);
        }
      }
      if (k_pad > k) {
        for (int64_t r = 0; r < mlen; ++r) {
          std::fill(a_buf + r * k_pad + k, a_buf + (r + 1) * k_pad, uint16_t{0});
        }
      }
      std::fill(a_buf + mlen * k_pad, a_buf + rows_pad * k_pad, uint16_t{0});
      Bf16GemmBlock blk;
      blk.mc = mlen;
      blk.nc = nlen;
      blk.kp = k_pad / 2;
      blk.a = a_buf;
      blk.lda = k_pad;
      blk.b = b.data + (j0 / nr) * nr * k_pad;
      blk.c = c + i0 * ldc + j0;
      blk.ldc = ldc;
      blk.alpha = ep.alpha;
      blk.apply_alpha = ep.alpha != 1.0f;
      blk.load_c = ep.accumulate;
      if (ep.bias_kind == GemmBias::kPerCol) blk.bias_col = ep.bias + j0;
      if (ep.bias_kind == GemmBias::kPerRow) blk.bias_row = ep.bias + i0;
      if (ep.residual != nullptr) {
        blk.residual = ep.residual + i0 * ep.ld_residual + j0;
        blk.ld_residual = ep.ld_residual;
      }
      blk.act = ep.act;
      uk->block(blk);
    }
  };
  if (parallel) {
    parallel_for(m_blocks * n_blocks, per_task, tasks);
  } else {
    tasks(0, m_blocks * n_blocks);
  }
}

}  // namespace

const Bf16GemmUkernels* bf16_gemm_ukernels(Bf16Tier tier) {
  switch (tier) {
    case Bf16Tier::kAmx: return &ukernels_avx512_bf16::kBf16GemmAmx;
    case Bf16Tier::kAvx512Bf16: return &ukernels_avx512_bf16::kBf16GemmDot;
    case Bf16Tier::kEmulated: break;
  }
  return table_for_isa(active_isa(), ukernels_sse2::kBf16Gemm, ukernels_avx2::kBf16Gemm,
                       ukernels_avx512::kBf16Gemm);
}

const Bf16GemmUkernels* bf16_gemm_ukernels_active() {
  return bf16_gemm_ukernels(active_bf16_tier());
}

const char* bf16_gemm_ukernel_name(const Bf16GemmUkernels* uk) { return uk->name; }

bool Bf16PackedB::pack(int64_t k, int64_t n, const float* b, int64_t ldb, bool trans_b,
                       const Bf16GemmUkernels* uk) {
  uk_ = uk ? uk : bf16_gemm_ukernels_active();
  k_ = k;
  n_ = n;
  k_pad_ = padded_k(k);
  bytes_ = static_cast<size_t>(padded_n(n, uk_->nr) * k_pad_) * sizeof(uint16_t);
  data_ = allocate_aligned_for_overwrite(bytes_);
  if (!data_) return false;
  pack_b(k, n, b, ldb, trans_b, uk_->nr, k_pad_, reinterpret_cast<uint16_t*>(data_.get()));
  return true;
}

void bf16_gemm_packed_b(int64_t m, const float* a, int64_t lda, const Bf16PackedB& b, float* c,
                        int64_t ldc, const GemmEpilogue& ep) {
  ASource src;
  src.a = a;
  src.lda = lda;
  run(b.ukernels(), m, src, view_of(b), c, ldc, ep);
}

void bf16_gemm_gather_a(int64_t m, const Bf16AGather& a, const Bf16PackedB& b, float* c,
                        int64_t ldc, const GemmEpilogue& ep) {
  ASource src;
  src.gather = &a;
  run(b.ukernels(), m, src, view_of(b), c, ldc, ep);
}

size_t bf16_packed_b_bytes(int64_t k, int64_t n) {
  return static_cast<size_t>(padded_n(n, bf16_gemm_ukernels_active()->nr) * padded_k(k)) *
         sizeof(uint16_t);
}

void bf16_gemm(int64_t m, int64_t n, int64_t k, const float* a, int64_t lda, const float* b,
               int64_t ldb, float* c, int64_t ldc, const GemmEpilogue& ep, void* b_buffer,
               bool parallel) {
  PackedView view;
  view.uk = bf16_gemm_ukernels_active();
  view.k = k;
  view.n = n;
  view.k_pad = padded_k(k);
  auto* packed = static_cast<uint16_t*>(b_buffer);
  pack_b(k, n, b, ldb, false, view.uk->nr, view.k_pad, packed);
  view.data = packed;
  ASource src;
  src.a = a;
  src.lda = lda;
  run(view.uk, m, src, view, c, ldc, ep, parallel);
}

}  // namespace keel
