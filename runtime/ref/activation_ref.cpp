#include "ref/activation_ref.hpp"

#include <algorithm>
#include <cmath>

namespace keel::ref {

double activate(double v, const ActParams& p) {
  switch (p.kind) {
    case ActKind::kNone: return v;
    case ActKind::kRelu: return std::max(v, 0.0);
    case ActKind::kClip: return std::min(std::max(v, double{p.lo}), double{p.hi});
    case ActKind::kLeakyRelu: return v < 0.0 ? v * p.alpha : v;
    case ActKind::kHardSwish: return v * std::min(std::max(v / 6.0 + 0.5, 0.0), 1.0);
    case ActKind::kHardSigmoid: return std::min(std::max(v * p.alpha + p.beta, 0.0), 1.0);
    case ActKind::kSigmoid: return 1.0 / (1.0 + std::exp(-v));
    case ActKind::kSilu: return v / (1.0 + std::exp(-v));
    case ActKind::kGelu: return 0.5 * v * (1.0 + std::erf(v / std::sqrt(2.0)));
  }
  return v;
}

ActParams activation_example(int index) {
  ActParams p;
  p.kind = static_cast<ActKind>(index);
  switch (p.kind) {
    case ActKind::kClip:
      p.lo = -0.25f;
      p.hi = 0.75f;
      break;
    case ActKind::kLeakyRelu: p.alpha = 0.1f; break;
    case ActKind::kHardSigmoid:
      p.alpha = 0.2f;
      p.beta = 0.5f;
      break;
    default: break;
  }
  return p;
}

}  // namespace keel::ref
