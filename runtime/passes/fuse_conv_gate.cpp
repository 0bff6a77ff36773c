// fuse_conv_gate (keel-only, not written by `keel fold`): squeeze-excitation. In
//   s = GlobalAveragePool(x); g = act(Conv(... act(Conv(s)))); y = Conv(Mul(x, g))
// where the Mul's output feeds only the last Conv, that Conv becomes a FusedConv reading x as its
// X and g as its gate operand (kernels/conv/gate_before.hpp), and the Mul goes. An NHWC 1x1
// projection (EfficientNet's and MobileNetV3's) then scales its packed weights by g once per image
// instead of a pass that reads and writes x; any other conv multiplies x into scratch as the Mul
// did. Mathematically exact: sum_c w[m,c] (x[c] g[c]) = sum_c (w[m,c] g[c]) x[c]; each product is
// rounded at another point.
//
// g's shape is proven by the pattern, not read from declared shapes (which models often omit):
// it comes from the global pooling of x itself through 1x1 convolutions without padding and
// elementwise activations, so it is [N, C', 1, 1] with x's N, and C' (the last conv's outputs)
// equals the first conv's inputs, which the plan checks against x's channels.
#include <set>
#include <string>

#include "passes/pass_util.hpp"

namespace keel {
namespace {

// Ops that keep their input's shape, element by element (for Clip: with scalar bounds).
bool is_shape_keeping_activation(const Node& n) {
  static const std::set<std::string> kUnary = {"Relu",      "Sigmoid",  "HardSigmoid", "HardSwish",
                                               "LeakyRelu", "Tanh",     "Elu",         "Selu",
                                               "Softplus",  "Identity", "Clip"};
  if (!n.domain.empty() || !kUnary.count(n.op_type) || !n.has_input(0)) return false;
  if (n.op_type == "Clip") {
    for (size_t i = 1; i < n.inputs.size(); ++i) {
      const Value* b = n.inputs[i];
      if (b && (!b->is_fixed_constant() || b->constant->numel() != 1)) return false;
    }
  } else if (n.inputs.size() != 1) {
    return false;
  }
  return true;
}

// A Conv of 1x1 kernels without padding and with constant 4-D weights: it maps [N, C, 1, 1] to
// [N, M, 1, 1] whatever its strides and dilations. Returns W, or nullptr.
const Tensor* pointwise_conv_weights(const Node& n) {
  if (!is_op(&n, "Conv") || !n.has_input(ConvOperand::kX) || !n.has_input(ConvOperand::kW) ||
      n.inputs.size() > ConvOperand::kResidual) {
    return nullptr;
  }
  const Value* w = n.inputs[ConvOperand::kW];
  if (!w->is_fixed_constant() || w->constant->shape().size() != 4) return nullptr;
  const Shape& ws = w->constant->shape();
  if (ws[2] != 1 || ws[3] != 1) return nullptr;
  auto pads = n.attr_ints("pads", {});
  if (!pads.is_ok()) return nullptr;
  for (int64_t p : *pads) {
    if (p != 0) return nullptr;
  }
  auto auto_pad = n.attr_string("auto_pad", "NOTSET");
  if (!auto_pad.is_ok() || (*auto_pad != "NOTSET" && *auto_pad != "VALID")) return nullptr;
  return w->constant ? &*w->constant : nullptr;
}

// True when `g` is computed from GlobalAveragePool(x) by pointwise convs and activations, the
// last conv giving as many channels as the first takes.
bool is_gate_of(const Value* g, const Value* x) {
  int64_t gate_channels = -1, pooled_channels = -1;
  const Value* v = g;
  for (int depth = 0; depth < 16; ++depth) {
    if (v->is_graph_output || v->is_graph_input) return false;
    const Node* p = v->producer;
    if (p == nullptr || p->erased) return false;
    if (is_op(p, "GlobalAveragePool")) {
      return p->inputs.size() == 1 && p->inputs[0] == x && gate_channels > 0 &&
             gate_channels == pooled_channels;
    }
    if (const Tensor* w = pointwise_conv_weights(*p)) {
      auto group = p->attr_int("group", 1);
      if (!group.is_ok() || *group < 1) return false;
      if (gate_channels < 0) gate_channels = w->shape()[0];
      pooled_channels = w->shape()[1] * *group;
    } else if (!is_shape_keeping_activation(*p) || p->outputs.size() != 1) {
      return false;
    }
    v = p->inputs[0];
  }
  return false;
}

}  // namespace

bool fuse_conv_gate(Graph& graph, PassContext& ctx) {
  bool changed = false;
  for (Node* mul : graph.nodes()) {
    // Before opset 7 a Mul may broadcast by its own rule (broadcast, axis).
    if (!is_op(mul, "Mul") || mul->opset < 7 || mul->inputs.size() != 2 || !mul->has_input(0) ||
        !mul->has_input(1)) {
      continue;
    }
    Node* conv = sole_consumer(mul->outputs[0]);
    if (!is_op(conv, "Conv") || conv->inputs[ConvOperand::kX] != mul->outputs[0] ||
        conv->inputs.size() > ConvOperand::kGate || !conv->has_input(ConvOperand::kW) ||
        !conv->inputs[ConvOperand::kW]->is_fixed_constant() ||
        conv->inputs[ConvOperand::kW]->constant->shape().size() != 4) {
      continue;
    }
    Value* x = nullptr;
    Value* g = nullptr;
    for (int i = 0; i < 2 && g == nullptr; ++i) {
      if (is_gate_of(mul->inputs[i], mul->inputs[1 - i])) {
        g = mul->inputs[i];
        x = mul->inputs[1 - i];
      }
    }
    if (g == nullptr) continue;
    make_fused(*conv, ConvOperand::kGate + 1);
    graph.replace_input(conv, ConvOperand::kX, x);
    graph.replace_input(conv, ConvOperand::kGate, g);
    const std::string mul_name = mul->name;
    graph.erase_node(mul);
    ctx.events.push_back({true, "fuse_conv_gate", conv->name, mul_name,
                          "the squeeze-excitation gate scales the Conv's input channels"});
    changed = true;
  }
  return changed;
}

}  // namespace keel
