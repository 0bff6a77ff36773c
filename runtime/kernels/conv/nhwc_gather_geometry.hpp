// What an implicit-GEMM convolution on NHWC activations (conv_nhwc_gemm, conv_nhwc_bf16) shares:
// the 2-D window of one group its A rows are gathered with, and its weights as B.
#pragma once

#include <cstdint>
#include <vector>

#include "kernels/conv/conv_descriptor.hpp"

namespace keel {

struct NhwcGatherGeometry {
  const float* x = nullptr;  // image 0, at the group's first channel (set per run)
  int64_t in_h = 0, in_w = 0, channels = 0, cin_g = 0;
  int64_t out_h = 0, out_w = 0, k_h = 0, k_w = 0;
  int64_t s_h = 1, s_w = 1, d_h = 1, d_w = 1, p_t = 0, p_l = 0;
};

// The window of a 2-D NHWC descriptor (Geometry3's index 1 is H, 2 is W).
inline NhwcGatherGeometry nhwc_gather_geometry(const ConvDescriptor& d) {
  const Geometry3& g = d.g;
  NhwcGatherGeometry geo;
  geo.in_h = g.in[1];
  geo.in_w = g.in[2];
  geo.channels = d.shapes.cin;
  geo.cin_g = d.shapes.cin_g;
  geo.out_h = g.out[1];
  geo.out_w = g.out[2];
  geo.k_h = g.k[1];
  geo.k_w = g.k[2];
  geo.s_h = g.s[1];
  geo.s_w = g.s[2];
  geo.d_h = g.d[1];
  geo.d_w = g.d[2];
  geo.p_t = g.pb[1];
  geo.p_l = g.pb[2];
  return geo;
}

// One group's weights W_g [M, C, kh, kw] as the GEMM's B [(kh, kw, c), m] (K = taps * C rows of
// M values), the order gathered rows of A take.
inline std::vector<float> nhwc_gemm_weights(const float* w_g, int64_t m_count, int64_t c_count,
                                            int64_t taps) {
  std::vector<float> b(static_cast<size_t>(taps * c_count * m_count));
  for (int64_t m = 0; m < m_count; ++m) {
    for (int64_t c = 0; c < c_count; ++c) {
      for (int64_t t = 0; t < taps; ++t) {
        b[(t * c_count + c) * m_count + m] = w_g[(m * c_count + c) * taps + t];
      }
    }
  }
  return b;
}

}  // namespace keel
