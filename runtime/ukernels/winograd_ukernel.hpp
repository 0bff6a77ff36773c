// The interface between the Winograd F(2x2, 3x3) convolution driver (kernels/conv/winograd.cpp)
// and the per-ISA tile transforms (isa/*.cpp, winograd_body.inc). Plain data only: this header
// is included by translation units compiled with AVX flags, so it must not define any inline
// function.
//
// A 3x3 stride-1 convolution computes each 2x2 block of outputs ("tile") from the 4x4 input
// window under it as Y = A^T [(G g G^T) . (B^T d B)] A: 16 element-wise products per tile and
// channel pair instead of 36. The 16 products over all input channels are 16 GEMMs,
// M[xi] = V[xi] x U[xi] (tiles x C times C x K), which the SGEMM microkernel runs; the input
// transform V = B^T d B and the output transform Y = A^T M A are here, vectorized over channels.
#pragma once

#include <cstdint>

#include "ukernels/activation.hpp"

namespace keel {

// A batch of NHWC images and its tiles: tile t of the batch is image t / tiles_per_image, tile
// row (t % tiles_per_image) / tiles_w, tile column t % tiles_w; its outputs are rows 2*th and
// 2*th + 1, columns 2*tw and 2*tw + 1 (the second row or column is absent when out_h or out_w
// is odd), its input window starts at row 2*th - pad_t, column 2*tw - pad_l.
struct WinogradParams {
  int64_t in_h = 0, in_w = 0, channels = 0;
  int64_t out_h = 0, out_w = 0, out_channels = 0;
  int64_t pad_t = 0, pad_l = 0;
  int64_t tiles_h = 0, tiles_w = 0;
  const float* bias = nullptr;      // out_channels values, or nullptr
  const float* residual = nullptr;  // Y's shape (added before the activation), or nullptr
  ActParams act;
};

struct WinogradUkernels {
  const char* name;  // "f32_winograd_2x2_3x3/avx512"
  // V = B^T d B of tiles [t0, t0 + n) of the batch x: v[xi * plane + i * ldv + c] for the 16
  // positions xi = 4 * row + column, tile i < n and channel c < channels. Window positions
  // outside the image read as zeros.
  void (*input)(const WinogradParams* p, const float* x, int64_t t0, int64_t n, float* v,
                int64_t plane, int64_t ldv);
  // Y = A^T M A of the same tiles for output channels [k0, k0 + kn), M at
  // m[xi * plane + i * ldm + (k - k0)], then bias, residual and activation, stored into the
  // batch y (only outputs inside it).
  void (*output)(const WinogradParams* p, const float* m, int64_t plane, int64_t ldm, int64_t t0,
                 int64_t n, int64_t k0, int64_t kn, float* y);
};

namespace ukernels_sse2 {
extern const WinogradUkernels kWinograd;
}
namespace ukernels_avx2 {
extern const WinogradUkernels kWinograd;
}
namespace ukernels_avx512 {
extern const WinogradUkernels kWinograd;
}

}  // namespace keel
