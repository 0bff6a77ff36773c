// Numeric core shared by the row-wise normalizations (LayerNorm, RMSNorm, InstanceNorm,
// GroupNorm, MeanVarianceNormalization): statistics of contiguous float rows and the
// normalize-scale-shift pass.
//
// Statistics are two-pass and shifted: pass 1 gives a first mean m1; pass 2 accumulates
// d = x - float(m1) and d*d, which corrects m1 and gives the variance without cancellation
// (rows like 1234 + tiny noise stay exact to a few ulps). Sums run in float lanes over short
// chunks and in double across chunks (ukernels/norm_body.inc). A row is always cut into the
// same kStatBlock-element blocks whose partial sums are added in block order, so the bits never
// depend on how rows and blocks were spread over threads.
//
// The arithmetic runs in the per-ISA ukernels (ukernels/norm_ukernel.hpp), chosen by the caller
// once (RowNormParams::uk, or the `uk` argument; null means the table of active_isa()).
//
// Besides the rows, this file holds the layout-aware entry points for the per-channel ops
// (BatchNorm scale-shift, InstanceNorm, GroupNorm) in NCHW and NHWC. keel executes NCHW graphs
// today, so the NHWC variants are reached by the kernel tests and bench/ until the
// choose_layout pass exists.
#pragma once

#include <cstddef>
#include <cstdint>

#include "ukernels/norm_ukernel.hpp"

namespace keel::norm {

// Elements per statistics block (also the unit of work when a few long rows are split).
constexpr int64_t kStatBlock = 16384;

// With the active ISA's ukernels (for callers without a plan-time table):
// sum(x[0..n))
double f32_sum(const float* x, int64_t n);
// sum(x*x)
double f32_sum_squares(const float* x, int64_t n);
// s1 = sum(x - c), s2 = sum((x - c)^2)
void f32_shifted_moments(const float* x, int64_t n, float c, double* s1, double* s2);

enum class StatKind {
  kMeanVariance,  // y = (x - mean) * inv, inv = 1 / sqrt(var + eps)
  kMeanSquare,    // RMS: y = x * inv, inv = 1 / sqrt(mean(x^2) + eps)
};

// The affine step after normalizing. Either per element of the row (gamma/beta of length len,
// shared by every row; each may be null), or per segment: the row is len / seg_len segments
// and segment k of row r uses seg_gamma[(r % period) * (len / seg_len) + k] (InstanceNorm:
// one segment per row, period C; GroupNorm-21: one segment per channel, period G).
struct RowAffine {
  const float* gamma = nullptr;
  const float* beta = nullptr;
  int64_t seg_len = 0;  // > 0 selects per-segment mode
  int64_t period = 1;
  const float* seg_gamma = nullptr;
  const float* seg_beta = nullptr;
};

struct RowNormParams {
  int64_t rows = 0;
  int64_t len = 0;
  StatKind kind = StatKind::kMeanVariance;
  double epsilon = 1e-5;
  // MeanVarianceNormalization: inv = 1 / (sqrt(var) + eps) instead of 1 / sqrt(var + eps).
  bool epsilon_on_stddev = false;
  const NormUkernels* uk = nullptr;  // null: the active ISA's table
};

// Scratch the few-long-rows path needs (0 when rows are short enough to never be split).
size_t normalize_rows_scratch_bytes(int64_t rows, int64_t len);

// y = normalize(x) row by row (y may equal x). mean_out / inv_out, when not null, receive one
// value per row (LayerNorm's optional outputs). `scratch` holds
// normalize_rows_scratch_bytes(rows, len) bytes, 8-byte aligned. Runs keel::parallel_for.
void normalize_rows(const float* x, float* y, const RowNormParams& p, const RowAffine& affine,
                    float* mean_out, float* inv_out, void* scratch, int max_threads);

// Per-row statistics computed from block partial sums, shared by both paths and by the strided
// MeanVarianceNormalization path.
struct RowStats {
  double mean = 0.0;
  double inv = 0.0;
};
// `shift` is the pass-1 mean rounded to float, s1/s2 the shifted moments (kMeanSquare: s2 is
// the sum of squares, the others unused).
RowStats finish_stats(const RowNormParams& p, double n, float shift, double s1, double s2);

// y[i] = ((x[i] - m_hi) - m_lo) * inv [* gamma[i]] [+ beta[i]] over n elements: the two-float
// mean keeps large-offset rows exact.
void apply_elementwise(const float* x, float* y, int64_t n, double mean, double inv,
                       const float* gamma, const float* beta);
// y[i] = ((x[i] - m_hi) - m_lo) * a + b.
void apply_scale_shift(const float* x, float* y, int64_t n, double mean, float a, float b);

// ---------------------------------------------------------------------------------------------
// Layout-aware per-channel ops. A tensor is [batch, channels, spatial...] (NCHW) or
// [batch, spatial..., channels] (NHWC); `spatial` is the product of the spatial dims (1 for the
// rank-2 [N, C] case, which both layouts store alike).

enum class NormLayout { kNchw, kNhwc };

// y = act(x * a[c] + b[c]) (BatchNorm at inference, a and b precomputed). y may equal x.
void scale_shift_apply(const NormUkernels* uk, NormLayout layout, const float* x, float* y,
                       int64_t batch, int64_t channels, int64_t spatial, const float* a,
                       const float* b, const NormActParams& act);

// GroupNormalization (InstanceNormalization: groups == channels): statistics per (n, group),
// then y = (x - mean) * inv * gamma + beta with gamma/beta per channel (per_channel, opset 21
// and InstanceNorm) or per group (opset 18). y may equal x. `scratch` holds
// group_norm_scratch_bytes(...) bytes, 8-byte aligned.
size_t group_norm_scratch_bytes(NormLayout layout, int64_t batch, int64_t channels, int64_t spatial,
                                int64_t groups);
void group_norm_apply(const NormUkernels* uk, NormLayout layout, const float* x, float* y,
                      int64_t batch, int64_t channels, int64_t spatial, int64_t groups,
                      const float* gamma, const float* beta, bool per_channel, double epsilon,
                      void* scratch);

}  // namespace keel::norm
