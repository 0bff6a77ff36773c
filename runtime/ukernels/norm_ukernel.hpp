// The interface between the baseline normalization drivers (kernels/norm_rows.cpp,
// kernels/normalization.cpp) and the per-ISA normalization ukernels (isa/*.cpp, norm_body.inc).
// Plain data only: this header is included by translation units compiled with AVX flags, so it
// must not define any inline function.
#pragma once

#include <cstdint>

#include "ukernels/activation.hpp"

namespace keel {

// Activation fused after a per-channel scale-shift (BatchNorm + Relu, Clip, ...).
using NormAct = ActKind;
using NormActParams = ActParams;

// Statistics accumulate in float lanes over chunks of kNormStatChunk elements (pixels for the
// column kernels) and in double across chunks, always in the same order for a given ISA: the
// bits depend on the data and the ISA only, never on how callers spread rows over threads.
constexpr int64_t kNormStatChunk = 512;

struct NormUkernels {
  const char* name;  // "f32_norm/avx512"
  int64_t width;     // floats per vector

  // NCHW plane: y[i] = act(x[i] * a + b), i < n. y may equal x.
  void (*scale_shift)(const float* x, float* y, int64_t n, float a, float b,
                      const NormActParams* act);
  // NHWC pixels (and [N, C] rows): for p < pixels, c < channels, with v = x[p*channels + c]:
  // y = act(((v - shift_hi[c]) - shift_lo[c]) * a[c] + b[c]); shift_hi/shift_lo both null
  // means no shift. y may equal x.
  void (*scale_shift_channels)(const float* x, float* y, int64_t pixels, int64_t channels,
                               const float* a, const float* b, const float* shift_hi,
                               const float* shift_lo, const NormActParams* act);

  // Row statistics: sum(x), sum(x*x), and the shifted moments sum(x - c), sum((x - c)^2).
  double (*row_sum)(const float* x, int64_t n);
  double (*row_sum_squares)(const float* x, int64_t n);
  void (*row_moments)(const float* x, int64_t n, float c, double* s1, double* s2);

  // y[i] = t * s [* gamma[i]] [+ beta[i]], t = (x[i] - mean_hi) - mean_lo when center, else
  // x[i] (RMS). gamma, beta may be null. y may equal x.
  void (*row_normalize)(const float* x, float* y, int64_t n, float mean_hi, float mean_lo, float s,
                        const float* gamma, const float* beta, bool center);
  // y[i] = ((x[i] - mean_hi) - mean_lo) * a + b.
  void (*row_sub_scale_shift)(const float* x, float* y, int64_t n, float mean_hi, float mean_lo,
                              float a, float b);

  // Column statistics of an NHWC block: channels [0, cn) of `pixels` rows spaced `ld` floats.
  // s1[c] = sum over pixels of (x - shift[c]), s2[c] = sum of (x - shift[c])^2 (s2 may be null,
  // shift null means 0).
  void (*col_moments)(const float* x, int64_t pixels, int64_t ld, int64_t cn, const float* shift,
                      double* s1, double* s2);

  // LRN's last step: y[i] = x[i] * (bias + scale * acc[i])^-beta for beta 0.75 (mode 0, AlexNet
  // and GoogLeNet), 0.5 (mode 1) or 1 (mode 2), with square roots and divisions instead of pow.
  void (*lrn_finish)(const float* x, const float* acc, float* y, int64_t n, float bias, float scale,
                     int32_t mode);
};

namespace ukernels_sse2 {
extern const NormUkernels kNorm;
}
namespace ukernels_avx2 {
extern const NormUkernels kNorm;
}
namespace ukernels_avx512 {
extern const NormUkernels kNorm;
}

}  // namespace keel
