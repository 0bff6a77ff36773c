#include "kernels/fused_activation.hpp"

namespace keel {
const char* fused_activation_name(ActKind kind) {
  switch (kind) {
    case ActKind::kNone: return "";
    case ActKind::kRelu: return "Relu";
    case ActKind::kClip: return "Clip";
    case ActKind::kLeakyRelu: return "LeakyRelu";
    case ActKind::kHardSwish: return "HardSwish";
    case ActKind::kHardSigmoid: return "HardSigmoid";
    case ActKind::kSigmoid: return "Sigmoid";
    case ActKind::kSilu: return "Silu";
    case ActKind::kGelu: return "Gelu";
  }
  return "";
}

}  // namespace keel
