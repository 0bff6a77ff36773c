// fuse_batchnorm_activation (keel-only, not written by `keel fold`): a BatchNormalization that
// stays (after a Concat or a ReLU, say) and is followed by Relu, Clip, LeakyRelu or HardSwish
// runs as one kernel: y = act(x * scale + shift). The activation is recorded as keel-private
// attributes of the BN node, which the batchnorm kernel reads.
#include <cmath>
#include <limits>

#include "passes/pass_util.hpp"

namespace keel {

namespace {

Attribute str_attr(std::string s) {
  Attribute a;
  a.kind = AttributeKind::kString;
  a.s = std::move(s);
  return a;
}
Attribute float_attr(float f) {
  Attribute a;
  a.kind = AttributeKind::kFloat;
  a.f = f;
  return a;
}

// Clip bounds from attributes (opset < 11) or constant scalar inputs.
bool clip_bounds(const Node& clip, float* lo, float* hi) {
  *lo = -std::numeric_limits<float>::infinity();
  *hi = std::numeric_limits<float>::infinity();
  if (clip.opset < 11) {
    auto a = clip.attr_float("min", *lo);
    auto b = clip.attr_float("max", *hi);
    if (!a.is_ok() || !b.is_ok()) return false;
    *lo = *a;
    *hi = *b;
    return true;
  }
  for (size_t i = 1; i < 3 && i < clip.inputs.size(); ++i) {
    const Value* v = clip.inputs[i];
    if (!v) continue;
    if (!v->is_fixed_constant() || v->constant->dtype() != DataType::kFloat32 ||
        v->constant->numel() != 1) {
      return false;
    }
    (i == 1 ? *lo : *hi) = v->constant->data_as<float>()[0];
  }
  return true;
}

}  // namespace

bool fuse_batchnorm_activation(Graph& graph, PassContext& ctx) {
  bool changed = false;
  for (Node* bn : graph.nodes()) {
    if (bn->erased || bn->op_type != "BatchNormalization" || !bn->domain.empty()) continue;
    if (bn->has_attribute("_keel_activation") || !bn->has_output(0) || extra_outputs_used(*bn))
      continue;
    Value* y = bn->outputs[0];
    if (!single_use(y)) continue;
    Node* act = y->consumers[0];
    if (!act->domain.empty() || act->inputs.empty() || act->inputs[0] != y) continue;
    float lo = 0, hi = 0, alpha = 0;
    std::string kind;
    if (act->op_type == "Relu") {
      kind = "Relu";
    } else if (act->op_type == "Clip" && clip_bounds(*act, &lo, &hi) && lo <= hi) {
      kind = "Clip";
    } else if (act->op_type == "LeakyRelu") {
      auto a = act->attr_float("alpha", 0.01f);
      if (!a.is_ok()) continue;
      kind = "LeakyRelu";
      alpha = *a;
    } else if (act->op_type == "HardSwish") {
      kind = "HardSwish";
    } else {
      continue;
    }
    bn->attributes["_keel_activation"] = str_attr(kind);
    bn->attributes["_keel_min"] = float_attr(lo);
    bn->attributes["_keel_max"] = float_attr(hi);
    bn->attributes["_keel_alpha"] = float_attr(alpha);
    const std::string act_name = act->name;
    absorb_output(graph, bn, act);
    ctx.events.push_back(
        {true, "fuse_batchnorm_activation", bn->name, act_name,
         kind + " fused into the scale-shift kernel of the remaining BatchNormalization"});
    changed = true;
  }
  return changed;
}

}  // namespace keel
