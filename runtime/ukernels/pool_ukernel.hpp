// The interface between the NHWC window pooling driver (kernels/pool.cpp) and the per-ISA
// pooling ukernels (isa/*.cpp, pool_body.inc). Plain data only: this header is included by
// translation units compiled with AVX flags, so it must not define any inline function.
#pragma once

#include <cstdint>

namespace keel {

// A 2-D MaxPool or AveragePool over one NHWC image.
struct PoolParams {
  int64_t in_h = 0, in_w = 0, channels = 0, out_w = 0;
  int64_t k_h = 1, k_w = 1;
  int64_t stride_h = 1, stride_w = 1, dil_h = 1, dil_w = 1;
  int64_t pad_t = 0, pad_l = 0;
  // AveragePool: output (oh, ow) is its sum divided by row_counts[oh] * col_counts[ow] (NaN
  // when that is 0). MaxPool: both nullptr.
  const int64_t* row_counts = nullptr;
  const int64_t* col_counts = nullptr;
};

struct PoolUkernels {
  const char* name;  // "f32_pool/avx2"
  // Output row oh of image x [in_h, in_w, channels] into y [out_w, channels]: per output and
  // channel the maximum (or the sum, then the division) of the window's taps inside the image,
  // in (kh, kw) order, so every tier gives the bits of the scalar loop (a NaN input makes the
  // maximum NaN, as IEEE 754-2019 maximum and the reference do).
  void (*row)(const PoolParams* p, const float* x, int64_t oh, float* y);
};

namespace ukernels_sse2 {
extern const PoolUkernels kPool;
}
namespace ukernels_avx2 {
extern const PoolUkernels kPool;
}
namespace ukernels_avx512 {
extern const PoolUkernels kPool;
}

}  // namespace keel
