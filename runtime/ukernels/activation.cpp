#include "ukernels/activation.hpp"

#include <algorithm>
#include <cmath>

namespace keel {

float activate_scalar(float v, const ActParams& p) {
  switch (p.kind) {
    case ActKind::kNone: return v;
    case ActKind::kRelu: return std::max(v, 0.0f);
    case ActKind::kClip: return std::min(std::max(v, p.lo), p.hi);
    case ActKind::kLeakyRelu: return v < 0.0f ? v * p.alpha : v;
    case ActKind::kHardSwish: return v * std::min(std::max(v * (1.0f / 6.0f) + 0.5f, 0.0f), 1.0f);
    case ActKind::kHardSigmoid: return std::min(std::max(v * p.alpha + p.beta, 0.0f), 1.0f);
    case ActKind::kSigmoid:
    case ActKind::kSilu: {
      // exp of a non-positive argument only: no overflow for large |v|.
      const float e = std::exp(-std::fabs(v));
      const float r = 1.0f / (1.0f + e);
      const float s = v >= 0.0f ? r : e * r;
      return p.kind == ActKind::kSigmoid ? s : v * s;
    }
    case ActKind::kGelu: return 0.5f * v * (1.0f + std::erf(v * 0.70710678118654752f));
  }
  return v;
}

}  // namespace keel
