// The interface between the NHWC direct convolution driver (kernels/conv/nhwc_direct.cpp) and the
// per-ISA direct (grouped) convolution ukernels (isa/*.cpp, direct_conv_body.inc): for groups of a
// few channels (RegNet: 8 in, 8 out) where one GEMM per group would be tiny, for convs with few
// outputs (DenseNet's 3x3 to 32) where the implicit GEMM's gather would not pay, and for stems
// reading an NCHW image in place. Plain data only: this
// header is included by translation units compiled with AVX flags, so it must not define any
// inline function.
#pragma once

#include <cstdint>

#include "ukernels/activation.hpp"

namespace keel {

// A 2-D grouped convolution of one image into NHWC output: output channel g*cout_g + m reads
// input channels [g*cin_g, (g+1)*cin_g). The input is addressed through three strides, so it
// may be NHWC (ch 1, px in_channels) or NCHW (ch in_h*in_w, px 1): a stem convolution reads a
// model's NCHW image directly.
struct DirectConvParams {
  int64_t in_h = 0, in_w = 0, in_channels = 0, out_w = 0, out_channels = 0;
  int64_t in_ch_stride = 1, in_px_stride = 0, in_row_stride = 0;  // floats
  int64_t groups = 1, cin_g = 1, cout_g = 1;
  int64_t k_h = 1, k_w = 1;
  int64_t stride_h = 1, stride_w = 1, dil_h = 1, dil_w = 1;
  int64_t pad_t = 0, pad_l = 0;
  // Weights [groups][chunk][k_h * k_w][cin_g][cw]: each group's outputs in chunks of
  // w_chunk (cw = w_chunk, or what is left in the last chunk). w_chunk = cout_g is the plain
  // [k][cout_g] layout; a smaller one keeps a chunk's weights contiguous, so a row swept chunk
  // by chunk reads them from L1 (a 7x7 stem's 37 KB do not fit; strided rows alias in L1).
  const float* w = nullptr;
  int64_t w_chunk = 0;
  // Bundled groups (0: off): groups of bundle_g input and bundle_g output channels (NHWC input,
  // cin_g == cout_g == bundle_g, a tier whose lanes hold two groups or more) run lanes /
  // bundle_g groups to a vector, and w is [bundle][k_h * k_w][cin_g][lanes]: lane j * bundle_g
  // + o holds output o of the bundle's group j (zeros past the last group).
  int64_t bundle_g = 0;
  const float* bias = nullptr;  // out_channels values, or nullptr
  // k = (kh, kw, c) -> kh * dil_h * in_row_stride + kw * dil_w * in_px_stride + c * in_ch_stride:
  // where k reads from, in floats from tap (0, 0) of the pixel at the group's first channel
  // (k_h*k_w*cin_g values).
  const int64_t* k_offsets = nullptr;
  ActParams act;  // applied to every output
};

struct DirectConvUkernels {
  const char* name;  // "f32_direct_conv/avx2"
  // Outputs per weight chunk when a group's weights are too large for L1 (DirectConvParams::
  // w_chunk): as many as the widest block computes at once.
  int64_t w_chunk;
  int64_t lanes;  // floats per vector
  // Whether the table runs bundled groups of g channels (DirectConvParams::bundle_g).
  bool (*bundles)(int64_t g);
  // Output row oh of image x (strided as the params say) into y [out_w, out_channels]. Taps that
  // fall into the padding are skipped (not multiplied by zero).
  void (*row)(const DirectConvParams* p, const float* x, int64_t oh, float* y);
};

namespace ukernels_sse2 {
extern const DirectConvUkernels kDirectConv;
}
namespace ukernels_avx2 {
extern const DirectConvUkernels kDirectConv;
}
namespace ukernels_avx512 {
extern const DirectConvUkernels kDirectConv;
}

}  // namespace keel
