// Scalar references for Conv and ConvTranspose (NCHW, any spatial rank, double accumulation).
#pragma once

#include <cstddef>
#include <cstdint>
#include <vector>

namespace keel::ref {

struct ConvRefParams {
  std::vector<int64_t> x_shape;  // [N, C, spatial...]
  std::vector<int64_t> w_shape;  // Conv: [M, C/group, k...]; ConvTranspose: [C, M/group, k...]
  std::vector<int64_t> y_shape;  // [N, M, spatial...]
  std::vector<int64_t> strides, dilations, pads_begin;
  int64_t group = 1;
};

// y[n, m, o] = b[m] + sum_{c in group, k} x[n, c, o*s - p + k*d] * w[m, c, k]
void conv(const ConvRefParams& p, const float* x, const float* w, const float* b, float* y);
// y[n, m, i*s - p + k*d] += x[n, c, i] * w[c, m, k] (plus b[m])
void conv_transpose(const ConvRefParams& p, const float* x, const float* w, const float* b,
                    float* y);

}  // namespace keel::ref
