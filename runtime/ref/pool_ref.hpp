// Scalar references for MaxPool and AveragePool (NCHW, any spatial rank).
#pragma once

#include <cstddef>
#include <cstdint>
#include <vector>

namespace keel::ref {

struct PoolRefParams {
  std::vector<int64_t> x_shape, y_shape;  // [N, C, spatial...]
  std::vector<int64_t> kernel, strides, dilations, pads_begin, pads_end;
  bool count_include_pad = false;
};

// Max over the window taps inside the input; indices (may be null) are row-major flat
// positions in the whole input, first maximum wins.
void max_pool(const PoolRefParams& p, const float* x, float* y, int64_t* indices);
// Mean over the taps inside the input (count_include_pad: divided by the taps inside the
// explicitly padded input), double accumulation.
void average_pool(const PoolRefParams& p, const float* x, float* y);

}  // namespace keel::ref
