// Helpers shared by the kernel tests that compare NHWC ops with their NCHW form: a rank-4
// transpose, beside the seeded data and ISA tiers of support/test_data.hpp.
#pragma once

#include <cstdint>
#include <utility>
#include <vector>

#include "core/tensor.hpp"
#include "support/test_data.hpp"

namespace keel::testing {

// A rank-4 float32 tensor with its dims permuted: perm {0,2,3,1} is NCHW -> NHWC, {0,3,1,2}
// back.
inline Tensor transpose4(const Tensor& t, const std::vector<int64_t>& perm) {
  const Shape& s = t.shape();
  const Shape out = {s[perm[0]], s[perm[1]], s[perm[2]], s[perm[3]]};
  std::vector<float> v(static_cast<size_t>(t.numel()));
  const int64_t strides[4] = {s[1] * s[2] * s[3], s[2] * s[3], s[3], 1};
  int64_t i = 0;
  for (int64_t a = 0; a < out[0]; ++a)
    for (int64_t b = 0; b < out[1]; ++b)
      for (int64_t c = 0; c < out[2]; ++c)
        for (int64_t d = 0; d < out[3]; ++d) {
          const int64_t src = a * strides[perm[0]] + b * strides[perm[1]] + c * strides[perm[2]] +
                              d * strides[perm[3]];
          v[static_cast<size_t>(i++)] = t.data_as<float>()[src];
        }
  return Tensor::from_vector(out, v);
}

}  // namespace keel::testing
