#include "ref/resize_ref.hpp"

#include <algorithm>
#include <cmath>

namespace keel {

double resize_source_coordinate(const ResizeParams& p, size_t d, int64_t y) {
  const double in = static_cast<double>(p.in_shape[d]);
  const double scale = p.scales[d];
  const auto out_int = static_cast<double>(p.out_shape[d]);
  // The float output width (scale * in) as ONNX's reference uses it, not the rounded size.
  const double out = scale * in;
  const double yy = static_cast<double>(y);
  switch (p.coordinate) {
    case ResizeCoordinate::kHalfPixel: return (yy + 0.5) / scale - 0.5;
    case ResizeCoordinate::kHalfPixelSymmetric: {
      const double adjustment = out_int / out;
      const double offset = in / 2 * (1 - adjustment);
      return offset + (yy + 0.5) / scale - 0.5;
    }
    case ResizeCoordinate::kPytorchHalfPixel:
      return p.out_shape[d] > 1 ? (yy + 0.5) / scale - 0.5 : 0.0;
    case ResizeCoordinate::kAlignCorners: return out == 1 ? 0.0 : yy * (in - 1) / (out - 1);
    case ResizeCoordinate::kAsymmetric: return yy / scale;
    case ResizeCoordinate::kTfCropAndResize: {
      const double s = p.roi_start[d];
      const double e = p.roi_end[d];
      const double x = out == 1 ? (e - s) * (in - 1) / 2 : yy * (e - s) * (in - 1) / (out - 1);
      return x + s * (in - 1);
    }
  }
  return 0.0;
}

namespace {

double cubic_weight(double x, double a) {
  x = std::fabs(x);
  if (x <= 1) return ((a + 2) * x - (a + 3)) * x * x + 1;
  if (x < 2) return ((a * x - 5 * a) * x + 8 * a) * x - 4 * a;
  return 0.0;
}

}  // namespace

ResizeTaps resize_taps(const ResizeParams& p, size_t d, int64_t y) {
  ResizeTaps t;
  const int64_t in = p.in_shape[d];
  const double x = resize_source_coordinate(p, d, y);
  if (p.coordinate == ResizeCoordinate::kTfCropAndResize &&
      (x < 0 || x > static_cast<double>(in - 1))) {
    t.extrapolate = true;
    t.index.push_back(0);
    t.weight.push_back(1.0);
    return t;
  }
  // ONNX prefers the pixel left of x: an integer x is "base + 1 with ratio 1".
  double fl = std::floor(x);
  double ratio = x - fl;
  if (ratio == 0.0) {
    fl -= 1;
    ratio = 1.0;
  }
  const auto base = static_cast<int64_t>(fl);
  auto clamp = [&](int64_t i) { return std::clamp<int64_t>(i, 0, in - 1); };
  if (p.mode == ResizeMode::kNearest) {
    int64_t pick = base + 1;
    if (ratio != 1.0) {
      switch (p.rounding) {
        case NearestRounding::kRoundPreferFloor: pick = ratio <= 0.5 ? base : base + 1; break;
        case NearestRounding::kRoundPreferCeil: pick = ratio < 0.5 ? base : base + 1; break;
        case NearestRounding::kFloor: pick = base; break;
        case NearestRounding::kCeil: pick = base + 1; break;
        case NearestRounding::kLegacy:
          pick = p.scales[d] < 1.0 ? static_cast<int64_t>(std::ceil(x)) : static_cast<int64_t>(x);
          break;
      }
    }
    t.index.push_back(clamp(pick));
    t.weight.push_back(1.0);
    return t;
  }
  // Taps base + start + i, i in [0, n); antialias widens the kernel by 1 / scale when
  // downsampling.
  const double s = p.antialias ? std::min(p.scales[d], 1.0) : 1.0;
  int64_t start;
  if (p.mode == ResizeMode::kLinear) {
    start = p.antialias ? static_cast<int64_t>(std::floor(-1 / s)) + 1 : 0;
  } else {
    start = p.antialias ? static_cast<int64_t>(std::floor(-2 / s)) + 1 : -1;
  }
  const int64_t n = 2 - 2 * start;
  double sum = 0.0;
  for (int64_t i = 0; i < n; ++i) {
    const double arg = (static_cast<double>(start + i) - ratio) * s;
    double w = p.mode == ResizeMode::kLinear ? std::max(0.0, 1.0 - std::fabs(arg))
                                             : cubic_weight(arg, p.cubic_a);
    const int64_t idx = base + start + i;
    if (p.exclude_outside && (idx < 0 || idx >= in)) w = 0.0;
    t.index.push_back(clamp(idx));
    t.weight.push_back(w);
    sum += w;
  }
  // Antialias and exclude_outside renormalise; the plain kernels already sum to 1.
  if ((p.antialias || p.exclude_outside) && sum != 0.0) {
    for (double& w : t.weight) w /= sum;
  }
  return t;
}

bool resize_axis_is_identity(const ResizeParams& p, size_t d) {
  if (p.in_shape[d] != p.out_shape[d]) return false;
  for (int64_t y = 0; y < p.out_shape[d]; ++y) {
    const ResizeTaps t = resize_taps(p, d, y);
    if (t.extrapolate) return false;
    double own = 0.0;
    for (size_t k = 0; k < t.index.size(); ++k) {
      if (t.index[k] == y) {
        own += t.weight[k];
      } else if (t.weight[k] != 0.0) {
        return false;
      }
    }
    if (own != 1.0) return false;
  }
  return true;
}

void resize_ref(const ResizeParams& p, const float* in, float* out) {
  const size_t rank = p.in_shape.size();
  const std::vector<int64_t> in_strides = contiguous_strides(p.in_shape);
  const int64_t total = numel(p.out_shape);
  std::vector<int64_t> coord(rank, 0);
  std::vector<ResizeTaps> taps(rank);
  for (int64_t o = 0; o < total; ++o) {
    int64_t rem = o;
    for (size_t d = rank; d-- > 0;) {
      coord[d] = rem % p.out_shape[d];
      rem /= p.out_shape[d];
    }
    bool extrapolate = false;
    for (size_t d = 0; d < rank; ++d) {
      taps[d] = resize_taps(p, d, coord[d]);
      extrapolate = extrapolate || taps[d].extrapolate;
    }
    if (extrapolate) {
      out[o] = static_cast<float>(p.extrapolation_value);
      continue;
    }
    // Sum over every combination of taps (odometer over the per-dim tap lists).
    std::vector<size_t> k(rank, 0);
    double acc = 0.0;
    for (bool done = false; !done;) {
      double w = 1.0;
      int64_t off = 0;
      for (size_t d = 0; d < rank; ++d) {
        w *= taps[d].weight[k[d]];
        off += taps[d].index[k[d]] * in_strides[d];
      }
      acc += w * static_cast<double>(in[off]);
      done = true;
      for (size_t d = rank; d-- > 0;) {
        if (++k[d] < taps[d].index.size()) {
          done = false;
          break;
        }
        k[d] = 0;
      }
    }
    out[o] = static_cast<float>(acc);
  }
}

}  // namespace keel
