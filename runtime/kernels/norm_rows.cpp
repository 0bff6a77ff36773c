#include "kernels/norm_rows.hpp"

#include <algorithm>
#include <cmath>
#include <limits>
#include <xsimd/xsimd.hpp>

#include "exec/parallel.hpp"

namespace keel::norm {
namespace {

// Float lanes accumulate at most kChunk / kLanes values each before the chunk is added to a
// double: short enough to keep float rounding negligible, long enough to vectorize.
constexpr int kLanes = 16;
constexpr int64_t kChunk = 256;

int64_t block_len(int64_t len, int64_t b) { return std::min(kStatBlock, len - b * kStatBlock); }

}  // namespace

double f32_sum(const float* x, int64_t n) {
  double total = 0.0;
  for (int64_t i0 = 0; i0 < n; i0 += kChunk) {
    const int64_t m = std::min(kChunk, n - i0);
    const float* p = x + i0;
    float acc[kLanes] = {};
    int64_t i = 0;
    for (; i + kLanes <= m; i += kLanes) {
      for (int l = 0; l < kLanes; ++l) acc[l] += p[i + l];
    }
    double s = 0.0;
    for (; i < m; ++i) s += p[i];
    for (int l = 0; l < kLanes; ++l) s += acc[l];
    total += s;
  }
  return total;
}

double f32_sum_squares(const float* x, int64_t n) {
  double total = 0.0;
  for (int64_t i0 = 0; i0 < n; i0 += kChunk) {
    const int64_t m = std::min(kChunk, n - i0);
    const float* p = x + i0;
    float acc[kLanes] = {};
    int64_t i = 0;
    for (; i + kLanes <= m; i += kLanes) {
      for (int l = 0; l < kLanes; ++l) acc[l] += p[i + l] * p[i + l];
    }
    double s = 0.0;
    for (; i < m; ++i) s += static_cast<double>(p[i]) * p[i];
    for (int l = 0; l < kLanes; ++l) s += acc[l];
    total += s;
  }
  return total;
}

void f32_shifted_moments(const float* x, int64_t n, float c, double* s1, double* s2) {
  // Explicit batches: GCC's auto-vectorizer spills the two lane arrays of this loop.
  using B = xsimd::batch<float>;
  constexpr int kW = static_cast<int>(B::size);
  constexpr int kU = kLanes / kW;  // batches per 16 lanes
  static_assert(kLanes % kW == 0);
  const B vc(c);
  double t1 = 0.0, t2 = 0.0;
  for (int64_t i0 = 0; i0 < n; i0 += kChunk) {
    const int64_t m = std::min(kChunk, n - i0);
    const float* p = x + i0;
    B a1[kU], a2[kU];
    for (int u = 0; u < kU; ++u) a1[u] = a2[u] = B(0.0f);
    int64_t i = 0;
    for (; i + kLanes <= m; i += kLanes) {
      for (int u = 0; u < kU; ++u) {
        const B d = B::load_unaligned(p + i + u * kW) - vc;
        a1[u] += d;
        a2[u] += d * d;
      }
    }
    double u1 = 0.0, u2 = 0.0;
    for (; i < m; ++i) {
      const double d = static_cast<double>(p[i]) - c;
      u1 += d;
      u2 += d * d;
    }
    alignas(64) float l1[kLanes], l2[kLanes];
    for (int u = 0; u < kU; ++u) {
      a1[u].store_aligned(l1 + u * kW);
      a2[u].store_aligned(l2 + u * kW);
    }
    for (int l = 0; l < kLanes; ++l) {
      u1 += l1[l];
      u2 += l2[l];
    }
    t1 += u1;
    t2 += u2;
  }
  *s1 = t1;
  *s2 = t2;
}

RowStats finish_stats(const RowNormParams& p, double n, float shift, double s1, double s2) {
  RowStats st;
  if (p.kind == StatKind::kMeanSquare) {
    st.mean = 0.0;
    st.inv = 1.0 / std::sqrt(s2 / n + p.epsilon);
    return st;
  }
  const double d = s1 / n;  // correction of the pass-1 mean
  st.mean = static_cast<double>(shift) + d;
  // Rounding can make a (near) constant row's variance slightly negative: clamp.
  const double var = std::max(0.0, s2 / n - d * d);
  st.inv =
      p.epsilon_on_stddev ? 1.0 / (std::sqrt(var) + p.epsilon) : 1.0 / std::sqrt(var + p.epsilon);
  return st;
}

void apply_elementwise(const float* x, float* y, int64_t n, double mean, double inv,
                       const float* gamma, const float* beta) {
  const float m_hi = static_cast<float>(mean);
  const float m_lo = static_cast<float>(mean - m_hi);
  const float s = static_cast<float>(inv);
  if (gamma && beta) {
    for (int64_t i = 0; i < n; ++i) y[i] = ((x[i] - m_hi) - m_lo) * s * gamma[i] + beta[i];
  } else if (gamma) {
    for (int64_t i = 0; i < n; ++i) y[i] = ((x[i] - m_hi) - m_lo) * s * gamma[i];
  } else if (beta) {
    for (int64_t i = 0; i < n; ++i) y[i] = ((x[i] - m_hi) - m_lo) * s + beta[i];
  } else {
    for (int64_t i = 0; i < n; ++i) y[i] = ((x[i] - m_hi) - m_lo) * s;
  }
}

void apply_scale_shift(const float* x, float* y, int64_t n, double mean, float a, float b) {
  const float m_hi = static_cast<float>(mean);
  const float m_lo = static_cast<float>(mean - m_hi);
  for (int64_t i = 0; i < n; ++i) y[i] = ((x[i] - m_hi) - m_lo) * a + b;
}

namespace {

// Normalizes elements [off, off + n) of row r.
void apply_range(const float* xr, float* yr, int64_t r, int64_t off, int64_t n,
                 const RowNormParams& p, const RowAffine& a, const RowStats& st) {
  if (a.seg_len <= 0) {
    apply_elementwise(xr + off, yr + off, n, st.mean, st.inv, a.gamma ? a.gamma + off : nullptr,
                      a.beta ? a.beta + off : nullptr);
    return;
  }
  const int64_t segs = p.len / a.seg_len;
  const int64_t base = (r % a.period) * segs;
  int64_t pos = off;
  const int64_t end = off + n;
  while (pos < end) {
    const int64_t k = pos / a.seg_len;
    const int64_t seg_end = std::min((k + 1) * a.seg_len, end);
    const double g = a.seg_gamma ? static_cast<double>(a.seg_gamma[base + k]) : 1.0;
    const float b = a.seg_beta ? a.seg_beta[base + k] : 0.0f;
    apply_scale_shift(xr + pos, yr + pos, seg_end - pos, st.mean, static_cast<float>(st.inv * g),
                      b);
    pos = seg_end;
  }
}

void store_stats(const RowStats& st, int64_t r, float* mean_out, float* inv_out) {
  if (mean_out) mean_out[r] = static_cast<float>(st.mean);
  if (inv_out) inv_out[r] = static_cast<float>(st.inv);
}

// One row start to finish: the row stays in cache between the passes.
void normalize_one_row(const float* x, float* y, int64_t r, const RowNormParams& p,
                       const RowAffine& a, float* mean_out, float* inv_out) {
  const int64_t len = p.len;
  const int64_t nb = (len + kStatBlock - 1) / kStatBlock;
  const float* xr = x + r * len;
  float* yr = y + r * len;
  RowStats st;
  if (p.kind == StatKind::kMeanVariance) {
    double sum = 0.0;
    for (int64_t b = 0; b < nb; ++b) sum += f32_sum(xr + b * kStatBlock, block_len(len, b));
    const float shift = static_cast<float>(sum / static_cast<double>(len));
    double s1 = 0.0, s2 = 0.0;
    for (int64_t b = 0; b < nb; ++b) {
      double u1, u2;
      f32_shifted_moments(xr + b * kStatBlock, block_len(len, b), shift, &u1, &u2);
      s1 += u1;
      s2 += u2;
    }
    st = finish_stats(p, static_cast<double>(len), shift, s1, s2);
  } else {
    double s2 = 0.0;
    for (int64_t b = 0; b < nb; ++b) s2 += f32_sum_squares(xr + b * kStatBlock, block_len(len, b));
    st = finish_stats(p, static_cast<double>(len), 0.0f, 0.0, s2);
  }
  store_stats(st, r, mean_out, inv_out);
  for (int64_t b = 0; b < nb; ++b)
    apply_range(xr, yr, r, b * kStatBlock, block_len(len, b), p, a, st);
}

}  // namespace

size_t normalize_rows_scratch_bytes(int64_t rows, int64_t len) {
  const int64_t nb = (len + kStatBlock - 1) / kStatBlock;
  if (rows <= 0 || nb < 2) return 0;
  // sum, s1, s2 per (row, block); shift, mean, inv per row.
  return static_cast<size_t>(3 * rows * nb + 3 * rows) * sizeof(double);
}

void normalize_rows(const float* x, float* y, const RowNormParams& p, const RowAffine& a,
                    float* mean_out, float* inv_out, void* scratch, int max_threads) {
  const int64_t rows = p.rows, len = p.len;
  if (rows <= 0) return;
  if (len <= 0) {
    // Statistics of an empty row are undefined (0/0), as in the ONNX function bodies.
    const float nan = std::numeric_limits<float>::quiet_NaN();
    for (int64_t r = 0; r < rows; ++r) store_stats({nan, nan}, r, mean_out, inv_out);
    return;
  }
  const int64_t nb = (len + kStatBlock - 1) / kStatBlock;
  const bool split = scratch != nullptr && nb >= 2 && max_threads > 1 && rows < 2 * max_threads;
  if (!split) {
    parallel_for(rows, 3 * len, [&](int64_t r0, int64_t r1) {
      for (int64_t r = r0; r < r1; ++r) normalize_one_row(x, y, r, p, a, mean_out, inv_out);
    });
    return;
  }

  // Few long rows: the same blocks as normalize_one_row, spread over threads phase by phase;
  // partial sums are combined in block order, so the bits equal the one-row path's.
  const int64_t items = rows * nb;
  double* sum = static_cast<double*>(scratch);
  double* s1 = sum + items;
  double* s2 = s1 + items;
  double* shift = s2 + items;
  double* mean = shift + rows;
  double* inv = mean + rows;
  auto block_ptr = [&](int64_t i) { return x + (i / nb) * len + (i % nb) * kStatBlock; };
  auto block_n = [&](int64_t i) { return block_len(len, i % nb); };

  if (p.kind == StatKind::kMeanVariance) {
    parallel_for(items, kStatBlock, [&](int64_t i0, int64_t i1) {
      for (int64_t i = i0; i < i1; ++i) sum[i] = f32_sum(block_ptr(i), block_n(i));
    });
    for (int64_t r = 0; r < rows; ++r) {
      double t = 0.0;
      for (int64_t b = 0; b < nb; ++b) t += sum[r * nb + b];
      shift[r] = static_cast<float>(t / static_cast<double>(len));
    }
    parallel_for(items, 2 * kStatBlock, [&](int64_t i0, int64_t i1) {
      for (int64_t i = i0; i < i1; ++i) {
        f32_shifted_moments(block_ptr(i), block_n(i), static_cast<float>(shift[i / nb]), &s1[i],
                            &s2[i]);
      }
    });
  } else {
    parallel_for(items, kStatBlock, [&](int64_t i0, int64_t i1) {
      for (int64_t i = i0; i < i1; ++i) s2[i] = f32_sum_squares(block_ptr(i), block_n(i));
    });
  }
  for (int64_t r = 0; r < rows; ++r) {
    double t1 = 0.0, t2 = 0.0;
    for (int64_t b = 0; b < nb; ++b) {
      if (p.kind == StatKind::kMeanVariance) t1 += s1[r * nb + b];
      t2 += s2[r * nb + b];
    }
    const bool mv = p.kind == StatKind::kMeanVariance;
    const RowStats st =
        finish_stats(p, static_cast<double>(len), mv ? static_cast<float>(shift[r]) : 0.0f, t1, t2);
    mean[r] = st.mean;
    inv[r] = st.inv;
    store_stats(st, r, mean_out, inv_out);
  }
  parallel_for(items, 2 * kStatBlock, [&](int64_t i0, int64_t i1) {
    for (int64_t i = i0; i < i1; ++i) {
      const int64_t r = i / nb;
      apply_range(x + r * len, y + r * len, r, (i % nb) * kStatBlock, block_n(i), p, a,
                  {mean[r], inv[r]});
    }
  });
}

}  // namespace keel::norm
