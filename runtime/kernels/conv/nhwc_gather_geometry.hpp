// What an implicit-GEMM convolution on NHWC activations needs to gather its rows of A from the
// image: the 2-D window of one group (conv_nhwc_gemm, conv_nhwc_bf16).
#pragma once

#include <cstdint>

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

}  // namespace keel
