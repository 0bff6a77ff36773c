// Resize reference: the validated parameters (modes; per dim the scale, output size and roi),
// the ONNX coordinate and interpolation-weight math, and a scalar N-d evaluation in double.
// The Resize/Upsample kernels build their tap tables from resize_taps(), so the math has one
// definition; the kernels' execution is tested against resize_ref().
#pragma once

#include <cstdint>
#include <vector>

#include "core/shape.hpp"

namespace keel {

enum class ResizeMode { kNearest, kLinear, kCubic };

enum class ResizeCoordinate {
  kHalfPixel,
  kHalfPixelSymmetric,
  kPytorchHalfPixel,
  kAlignCorners,
  kAsymmetric,
  kTfCropAndResize,
};

enum class NearestRounding {
  kRoundPreferFloor,
  kRoundPreferCeil,
  kFloor,
  kCeil,
  kLegacy,  // Resize-10 and Upsample: truncate, or ceil when downsampling (as ONNX Runtime)
};

struct ResizeParams {
  ResizeMode mode = ResizeMode::kNearest;
  ResizeCoordinate coordinate = ResizeCoordinate::kHalfPixel;
  NearestRounding rounding = NearestRounding::kRoundPreferFloor;
  double cubic_a = -0.75;
  bool exclude_outside = false;
  bool antialias = false;
  double extrapolation_value = 0.0;
  Shape in_shape;
  Shape out_shape;
  std::vector<double> scales;     // per dim
  std::vector<double> roi_start;  // per dim, used by tf_crop_and_resize
  std::vector<double> roi_end;
};

// Where output coordinate `y` of dim `d` samples the input (ONNX coordinate transformation).
double resize_source_coordinate(const ResizeParams& p, size_t d, int64_t y);

// Interpolation taps of one output coordinate along one dim: input indices (already clamped
// into [0, in)) and weights summing to 1; `extrapolate` for tf_crop_and_resize samples that
// fall outside the input.
struct ResizeTaps {
  std::vector<int64_t> index;
  std::vector<double> weight;
  bool extrapolate = false;
};
ResizeTaps resize_taps(const ResizeParams& p, size_t d, int64_t y);

// True when dim d maps every output coordinate to the same input coordinate with weight 1.
bool resize_axis_is_identity(const ResizeParams& p, size_t d);

// out = Resize(in) for float32 data, one output element at a time (tensor product of the
// per-dim taps, accumulated in double).
void resize_ref(const ResizeParams& p, const float* in, float* out);

}  // namespace keel
