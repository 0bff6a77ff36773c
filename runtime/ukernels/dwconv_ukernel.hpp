// The interface between the NHWC depthwise convolution driver (kernels/conv/nhwc_depthwise.cpp) and
// the per-ISA depthwise ukernels (isa/*.cpp, dwconv_body.inc). Plain data only: this header is
// included by translation units compiled with AVX flags, so it must not define any inline
// function.
#pragma once

#include <cstdint>

#include "ukernels/activation.hpp"

namespace keel {

// A 2-D depthwise convolution with channel multiplier 1 over one NHWC image.
struct DwConvParams {
  int64_t in_h = 0, in_w = 0, channels = 0, out_w = 0;
  int64_t k_h = 1, k_w = 1;
  int64_t stride_h = 1, stride_w = 1, dil_h = 1, dil_w = 1;
  int64_t pad_t = 0, pad_l = 0;
  const float* w = nullptr;     // [k_h * k_w, channels]
  const float* bias = nullptr;  // channels values, or nullptr
  ActParams act;                // applied to every output
};

struct DwConvUkernels {
  const char* name;  // "f32_dwconv/avx2"
  int64_t width;     // floats per vector
  // Output row oh of image x [in_h, in_w, channels] into y [out_w, channels]. Taps that fall
  // into the padding are skipped (not multiplied by zero).
  void (*row)(const DwConvParams* p, const float* x, int64_t oh, float* y);
};

namespace ukernels_sse2 {
extern const DwConvUkernels kDwConv;
}
namespace ukernels_avx2 {
extern const DwConvUkernels kDwConv;
}
namespace ukernels_avx512 {
extern const DwConvUkernels kDwConv;
}

}  // namespace keel
