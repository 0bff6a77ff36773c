// Per-channel sums over the pixels of NHWC data, in double, and the global average pool built on
// them: the GlobalAveragePool kernels (kernels/pool.cpp) and the pooled second output of a conv
// (kernels/conv/pool_after.hpp).
#pragma once

#include <cstdint>

namespace keel {

// s[k] += x[p * stride + k] for every pixel p in order, k < L: a length known at compile time
// and small enough (8 SSE2 registers of doubles for 16) keeps the sums in registers
// (EfficientNet's SE pooling of 112x112x32 took 85 us with a run-time length, the sums on the
// stack).
template <int64_t L>
void sum_pixels(const float* x, int64_t pixels, int64_t stride, double* s) {
  double acc[L];
  for (int64_t k = 0; k < L; ++k) acc[k] = s[k];
  for (int64_t p = 0; p < pixels; ++p) {
    const float* xp = x + p * stride;
    for (int64_t k = 0; k < L; ++k) acc[k] += xp[k];
  }
  for (int64_t k = 0; k < L; ++k) s[k] = acc[k];
}

// s[k] += x[p * stride + k] for p < pixels, k < channels; each channel's sum in pixel order.
inline void add_channel_sums(const float* x, int64_t pixels, int64_t stride, int64_t channels,
                             double* s) {
  constexpr int64_t kPass = 16;  // channels summed per sweep over the pixels
  if (channels % kPass == 0) {
    for (int64_t k = 0; k < channels; k += kPass) sum_pixels<kPass>(x + k, pixels, stride, s + k);
    return;
  }
  for (int64_t p = 0; p < pixels; ++p) {
    for (int64_t k = 0; k < channels; ++k) s[k] += x[p * stride + k];
  }
}

// y[n * channels + c] = the mean of channel c of image n over its pixels, x being [N, pixels, C]
// (channels_last) or [N, C, pixels]; each sum in double over the pixels in order, so both
// layouts give the same bits. In parallel over images and blocks of channels.
void global_average_pool(const float* x, int64_t batch, int64_t pixels, int64_t channels,
                         bool channels_last, float* y);

}  // namespace keel
