// Activation fusions (keel-only, not written by `keel fold`):
// - fuse_batchnorm_activation: a BatchNormalization that stays (after a Concat or a ReLU, say)
//   and is followed by Relu, Clip, LeakyRelu or HardSwish runs as one kernel:
//   y = act(x * scale + shift);
// - fuse_conv_activation: a Conv followed by Relu or Clip applies it in the GEMM epilogue,
//   while the output tile is still in registers.
// The activation is recorded as keel-private attributes of the node (_keel_activation,
// _keel_min, _keel_max, _keel_alpha), which the batchnorm and conv kernels read.
#include <cmath>
#include <limits>

#include "passes/pass_util.hpp"

namespace keel {

namespace {

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

// The activation that reads only `node`'s output 0, when `node` can absorb it: its kind and
// parameters, or nullptr.
Node* fusable_activation(Node* node, bool conv, std::string* kind, float* lo, float* hi,
                         float* alpha) {
  if (node->has_attribute("_keel_activation") || !node->has_output(0) || extra_outputs_used(*node))
    return nullptr;
  Value* y = node->outputs[0];
  if (!single_use(y)) return nullptr;
  Node* act = y->consumers[0];
  if (!act->domain.empty() || act->inputs.empty() || act->inputs[0] != y) return nullptr;
  *lo = 0.0f;
  *hi = std::numeric_limits<float>::infinity();
  *alpha = 0.0f;
  if (act->op_type == "Relu") {
    *kind = "Relu";
  } else if (act->op_type == "Clip" && clip_bounds(*act, lo, hi) && *lo <= *hi) {
    *kind = "Clip";
  } else if (!conv && act->op_type == "LeakyRelu") {
    auto a = act->attr_float("alpha", 0.01f);
    if (!a.is_ok()) return nullptr;
    *kind = "LeakyRelu";
    *alpha = *a;
  } else if (!conv && act->op_type == "HardSwish") {
    *kind = "HardSwish";
  } else {
    return nullptr;
  }
  return act;
}

}  // namespace

bool fuse_activation(Graph& graph, PassContext& ctx) {
  bool changed = false;
  for (Node* node : graph.nodes()) {
    if (node->erased || !node->domain.empty()) continue;
    const bool conv = node->op_type == "Conv";
    if (!conv && node->op_type != "BatchNormalization") continue;
    std::string kind;
    float lo = 0, hi = 0, alpha = 0;
    Node* act = fusable_activation(node, conv, &kind, &lo, &hi, &alpha);
    if (!act) continue;
    node->attributes["_keel_activation"] = Attribute::of_string(kind);
    node->attributes["_keel_min"] = Attribute::of_float(lo);
    node->attributes["_keel_max"] = Attribute::of_float(hi);
    node->attributes["_keel_alpha"] = Attribute::of_float(alpha);
    const std::string act_name = act->name;
    absorb_output(graph, node, act);
    if (conv) {
      ctx.events.push_back({true, "fuse_conv_activation", node->name, act_name,
                            kind + " applied in the convolution's epilogue"});
    } else {
      ctx.events.push_back(
          {true, "fuse_batchnorm_activation", node->name, act_name,
           kind + " fused into the scale-shift kernel of the remaining BatchNormalization"});
    }
    changed = true;
  }
  return changed;
}

}  // namespace keel
