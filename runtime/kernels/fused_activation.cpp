#include "kernels/fused_activation.hpp"

namespace keel {
namespace {

constexpr ActKind kKinds[] = {ActKind::kRelu,      ActKind::kClip,        ActKind::kLeakyRelu,
                              ActKind::kHardSwish, ActKind::kHardSigmoid, ActKind::kSigmoid,
                              ActKind::kSilu,      ActKind::kGelu};

}  // namespace

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

Result<ActParams> read_fused_activation(const PrepareContext& ctx, const std::string& prefix) {
  ActParams a;
  KEEL_ASSIGN_OR_RETURN(std::string name, ctx.node.attr_string(prefix + "activation", ""));
  if (name.empty()) return a;
  bool known = false;
  for (ActKind k : kKinds) {
    if (name == fused_activation_name(k)) {
      a.kind = k;
      known = true;
    }
  }
  if (!known) {
    return ctx.invalid("unknown fused activation '" + name +
                       "' (expected Relu, Clip, LeakyRelu, HardSwish, HardSigmoid, Sigmoid, "
                       "Silu or Gelu)");
  }
  KEEL_ASSIGN_OR_RETURN(a.lo, ctx.node.attr_float(prefix + "min", 0.0f));
  KEEL_ASSIGN_OR_RETURN(a.hi, ctx.node.attr_float(prefix + "max", 0.0f));
  KEEL_ASSIGN_OR_RETURN(a.alpha, ctx.node.attr_float(prefix + "alpha", 0.0f));
  KEEL_ASSIGN_OR_RETURN(a.beta, ctx.node.attr_float(prefix + "beta", 0.0f));
  return a;
}

}  // namespace keel
