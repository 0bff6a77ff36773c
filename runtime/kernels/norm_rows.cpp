#include "kernels/norm_rows.hpp"

#include <algorithm>
#include <cmath>
#include <limits>
#include <vector>

#include "exec/parallel.hpp"
#include "ukernels/norm_dispatch.hpp"

namespace keel::norm {
namespace {

int64_t block_len(int64_t len, int64_t b) { return std::min(kStatBlock, len - b * kStatBlock); }

const NormUkernels* resolve(const NormUkernels* uk) {
  return uk != nullptr ? uk : norm_ukernels_active();
}

void split_mean(double mean, float* hi, float* lo) {
  *hi = static_cast<float>(mean);
  *lo = static_cast<float>(mean - static_cast<double>(*hi));
}

}  // namespace

double f32_sum(const float* x, int64_t n) { return norm_ukernels_active()->row_sum(x, n); }

double f32_sum_squares(const float* x, int64_t n) {
  return norm_ukernels_active()->row_sum_squares(x, n);
}

void f32_shifted_moments(const float* x, int64_t n, float c, double* s1, double* s2) {
  norm_ukernels_active()->row_moments(x, n, c, s1, s2);
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
  float m_hi, m_lo;
  split_mean(mean, &m_hi, &m_lo);
  norm_ukernels_active()->row_normalize(x, y, n, m_hi, m_lo, static_cast<float>(inv), gamma, beta,
                                        true);
}

void apply_scale_shift(const float* x, float* y, int64_t n, double mean, float a, float b) {
  float m_hi, m_lo;
  split_mean(mean, &m_hi, &m_lo);
  norm_ukernels_active()->row_sub_scale_shift(x, y, n, m_hi, m_lo, a, b);
}

namespace {

// Normalizes elements [off, off + n) of row r.
void apply_range(const NormUkernels* uk, const float* xr, float* yr, int64_t r, int64_t off,
                 int64_t n, const RowNormParams& p, const RowAffine& a, const RowStats& st) {
  float m_hi, m_lo;
  split_mean(st.mean, &m_hi, &m_lo);
  if (a.seg_len <= 0) {
    uk->row_normalize(xr + off, yr + off, n, m_hi, m_lo, static_cast<float>(st.inv),
                      a.gamma ? a.gamma + off : nullptr, a.beta ? a.beta + off : nullptr,
                      p.kind == StatKind::kMeanVariance);
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
    uk->row_sub_scale_shift(xr + pos, yr + pos, seg_end - pos, m_hi, m_lo,
                            static_cast<float>(st.inv * g), b);
    pos = seg_end;
  }
}

void store_stats(const RowStats& st, int64_t r, float* mean_out, float* inv_out) {
  if (mean_out) mean_out[r] = static_cast<float>(st.mean);
  if (inv_out) inv_out[r] = static_cast<float>(st.inv);
}

// One row start to finish: the row stays in cache between the passes.
void normalize_one_row(const NormUkernels* uk, const float* x, float* y, int64_t r,
                       const RowNormParams& p, const RowAffine& a, float* mean_out,
                       float* inv_out) {
  const int64_t len = p.len;
  const int64_t nb = (len + kStatBlock - 1) / kStatBlock;
  const float* xr = x + r * len;
  float* yr = y + r * len;
  RowStats st;
  if (p.kind == StatKind::kMeanVariance) {
    double sum = 0.0;
    for (int64_t b = 0; b < nb; ++b) sum += uk->row_sum(xr + b * kStatBlock, block_len(len, b));
    const float shift = static_cast<float>(sum / static_cast<double>(len));
    double s1 = 0.0, s2 = 0.0;
    for (int64_t b = 0; b < nb; ++b) {
      double u1, u2;
      uk->row_moments(xr + b * kStatBlock, block_len(len, b), shift, &u1, &u2);
      s1 += u1;
      s2 += u2;
    }
    st = finish_stats(p, static_cast<double>(len), shift, s1, s2);
  } else {
    double s2 = 0.0;
    for (int64_t b = 0; b < nb; ++b) {
      s2 += uk->row_sum_squares(xr + b * kStatBlock, block_len(len, b));
    }
    st = finish_stats(p, static_cast<double>(len), 0.0f, 0.0, s2);
  }
  store_stats(st, r, mean_out, inv_out);
  for (int64_t b = 0; b < nb; ++b) {
    apply_range(uk, xr, yr, r, b * kStatBlock, block_len(len, b), p, a, st);
  }
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
  const NormUkernels* uk = resolve(p.uk);
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
      for (int64_t r = r0; r < r1; ++r) normalize_one_row(uk, x, y, r, p, a, mean_out, inv_out);
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
      for (int64_t i = i0; i < i1; ++i) sum[i] = uk->row_sum(block_ptr(i), block_n(i));
    });
    for (int64_t r = 0; r < rows; ++r) {
      double t = 0.0;
      for (int64_t b = 0; b < nb; ++b) t += sum[r * nb + b];
      shift[r] = static_cast<float>(t / static_cast<double>(len));
    }
    parallel_for(items, 2 * kStatBlock, [&](int64_t i0, int64_t i1) {
      for (int64_t i = i0; i < i1; ++i) {
        uk->row_moments(block_ptr(i), block_n(i), static_cast<float>(shift[i / nb]), &s1[i],
                        &s2[i]);
      }
    });
  } else {
    parallel_for(items, kStatBlock, [&](int64_t i0, int64_t i1) {
      for (int64_t i = i0; i < i1; ++i) s2[i] = uk->row_sum_squares(block_ptr(i), block_n(i));
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
      apply_range(uk, x + r * len, y + r * len, r, (i % nb) * kStatBlock, block_n(i), p, a,
                  {mean[r], inv[r]});
    }
  });
}

// ---------------------------------------------------------------------------------------------
// Layout-aware per-channel ops

namespace {

// Elements per parallel work item of the elementwise passes (32 KiB of floats: a few tiles per
// thread on real shapes, few enough forks on small ones).
constexpr int64_t kTileElems = 8192;
// Channels per item of the NHWC statistics passes (a multiple of every ISA's vector width, so
// the per-channel arithmetic never depends on the thread count).
constexpr int64_t kStatChannels = 64;

}  // namespace

void scale_shift_apply(const NormUkernels* uk, NormLayout layout, const float* x, float* y,
                       int64_t batch, int64_t channels, int64_t spatial, const float* a,
                       const float* b, const NormActParams& act) {
  uk = resolve(uk);
  if (batch <= 0 || channels <= 0 || spatial <= 0) return;
  if (layout == NormLayout::kNhwc || spatial == 1) {
    // Rows of `channels` values (NHWC pixels, or the [N, C] case in either layout).
    const int64_t pixels = batch * spatial;
    const int64_t tile = std::max<int64_t>(1, kTileElems / channels);
    const int64_t tiles = (pixels + tile - 1) / tile;
    parallel_for(tiles, 2 * tile * channels, [&](int64_t t0, int64_t t1) {
      for (int64_t t = t0; t < t1; ++t) {
        const int64_t p0 = t * tile;
        const int64_t np = std::min(tile, pixels - p0);
        uk->scale_shift_channels(x + p0 * channels, y + p0 * channels, np, channels, a, b, nullptr,
                                 nullptr, &act);
      }
    });
    return;
  }
  // NCHW: a scalar pair per plane, planes cut into tiles.
  const int64_t blocks = (spatial + kTileElems - 1) / kTileElems;
  parallel_for(
      batch * channels * blocks, 2 * std::min(spatial, kTileElems), [&](int64_t i0, int64_t i1) {
        for (int64_t i = i0; i < i1; ++i) {
          const int64_t plane = i / blocks;
          const int64_t s0 = (i % blocks) * kTileElems;
          const int64_t off = plane * spatial + s0;
          const int64_t c = plane % channels;
          uk->scale_shift(x + off, y + off, std::min(kTileElems, spatial - s0), a[c], b[c], &act);
        }
      });
}

size_t group_norm_scratch_bytes(NormLayout layout, int64_t batch, int64_t channels, int64_t spatial,
                                int64_t groups) {
  if (groups <= 0) return 0;
  const size_t rows = normalize_rows_scratch_bytes(batch * groups, (channels / groups) * spatial);
  if (layout == NormLayout::kNchw) return rows;
  // s1, s2 (double) and shift, a, b, shift_hi, shift_lo (float) per channel of one image.
  const auto c = static_cast<size_t>(std::max<int64_t>(channels, 0));
  return std::max(rows, c * (2 * sizeof(double) + 5 * sizeof(float)) + 64);
}

void group_norm_apply(const NormUkernels* uk, NormLayout layout, const float* x, float* y,
                      int64_t batch, int64_t channels, int64_t spatial, int64_t groups,
                      const float* gamma, const float* beta, bool per_channel, double epsilon,
                      void* scratch) {
  uk = resolve(uk);
  if (batch <= 0 || channels <= 0 || groups <= 0) return;
  const int64_t cg = channels / groups;
  RowNormParams p;
  p.rows = batch * groups;
  p.len = cg * spatial;
  p.epsilon = epsilon;
  p.uk = uk;
  if (layout == NormLayout::kNchw || spatial == 1) {  // spatial 1: both layouts agree
    RowAffine a;
    a.seg_len = std::max<int64_t>(1, per_channel ? spatial : p.len);
    a.period = groups;
    a.seg_gamma = gamma;
    a.seg_beta = beta;
    normalize_rows(x, y, p, a, nullptr, nullptr, scratch, current_max_threads());
    return;
  }
  if (spatial <= 0) return;

  // NHWC: per image, (1) per-channel sums -> group means, (2) per-channel moments about the
  // group mean -> group mean and inverse deviation, (3) one scale-shift pass over the pixels.
  // Channel blocks are fixed and each channel's sums run over the pixels in order, so the bits
  // do not depend on the thread count. The image stays in cache between the passes when it
  // fits (L2 / LLC).
  double* s1 = static_cast<double*>(scratch);
  double* s2 = s1 + channels;
  float* shift = reinterpret_cast<float*>(s2 + channels);
  float* ca = shift + channels;
  float* cb = ca + channels;
  float* sh = cb + channels;
  float* sl = sh + channels;
  const int64_t cblocks = (channels + kStatChannels - 1) / kStatChannels;
  const double count = static_cast<double>(cg) * static_cast<double>(spatial);
  const NormActParams none;
  for (int64_t n = 0; n < batch; ++n) {
    const float* xi = x + n * spatial * channels;
    float* yi = y + n * spatial * channels;
    parallel_for(cblocks, spatial * kStatChannels, [&](int64_t b0, int64_t b1) {
      for (int64_t bk = b0; bk < b1; ++bk) {
        const int64_t c0 = bk * kStatChannels;
        uk->col_moments(xi + c0, spatial, channels, std::min(kStatChannels, channels - c0), nullptr,
                        s1 + c0, nullptr);
      }
    });
    for (int64_t g = 0; g < groups; ++g) {
      double t = 0.0;
      for (int64_t c = g * cg; c < (g + 1) * cg; ++c) t += s1[c];
      const auto m = static_cast<float>(t / count);
      for (int64_t c = g * cg; c < (g + 1) * cg; ++c) shift[c] = m;
    }
    parallel_for(cblocks, 2 * spatial * kStatChannels, [&](int64_t b0, int64_t b1) {
      for (int64_t bk = b0; bk < b1; ++bk) {
        const int64_t c0 = bk * kStatChannels;
        uk->col_moments(xi + c0, spatial, channels, std::min(kStatChannels, channels - c0),
                        shift + c0, s1 + c0, s2 + c0);
      }
    });
    for (int64_t g = 0; g < groups; ++g) {
      double t1 = 0.0, t2 = 0.0;
      for (int64_t c = g * cg; c < (g + 1) * cg; ++c) {
        t1 += s1[c];
        t2 += s2[c];
      }
      const RowStats st = finish_stats(p, count, shift[g * cg], t1, t2);
      float m_hi, m_lo;
      split_mean(st.mean, &m_hi, &m_lo);
      for (int64_t c = g * cg; c < (g + 1) * cg; ++c) {
        const int64_t k = per_channel ? c : g;
        ca[c] = static_cast<float>(st.inv * static_cast<double>(gamma[k]));
        cb[c] = beta[k];
        sh[c] = m_hi;
        sl[c] = m_lo;
      }
    }
    const int64_t tile = std::max<int64_t>(1, kTileElems / channels);
    const int64_t tiles = (spatial + tile - 1) / tile;
    parallel_for(tiles, 2 * tile * channels, [&](int64_t t0, int64_t t1) {
      for (int64_t t = t0; t < t1; ++t) {
        const int64_t p0 = t * tile;
        uk->scale_shift_channels(xi + p0 * channels, yi + p0 * channels,
                                 std::min(tile, spatial - p0), channels, ca, cb, sh, sl, &none);
      }
    });
  }
}

}  // namespace keel::norm
