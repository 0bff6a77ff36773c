// fuse_expand_depthwise (keel-only, not written by `keel fold`; runs after choose_layout): an
// inverted residual's 1x1 expansion and the depthwise conv reading it become one node
// (kernels/conv/expand_depthwise.cpp), so the expanded tensor is produced band by band in L2
// instead of being written to memory and read back. Both convs must run NHWC; the expansion a plain
// 1x1 conv (one group, stride 1, no padding, constant weights) whose output only the depthwise
// conv reads, and the depthwise conv one with a channel per group, constant weights and no
// residual or gate.
#include <algorithm>
#include <string>

#include "graph/layout.hpp"
#include "passes/pass_util.hpp"

namespace keel {
namespace {

bool runs_nhwc_itself(const Node& n) {
  return n.decisions.layout == Layout::kNhwc && !n.decisions.has_input_layout;
}

// Every value of the ints attribute is `value` (true when the attribute is absent).
bool all_ints_are(const Node& n, const char* attr, int64_t value) {
  auto v = n.attr_ints(attr, {});
  return v.is_ok() && std::all_of(v->begin(), v->end(), [&](int64_t x) { return x == value; });
}

const Shape* constant_weights(const Node& n) {
  if (!n.has_input(ConvOperand::kW) || !n.inputs[ConvOperand::kW]->is_fixed_constant()) {
    return nullptr;
  }
  const Shape& s = n.inputs[ConvOperand::kW]->constant->shape();
  return s.size() == 4 ? &s : nullptr;
}

bool is_plain_conv(const Node& n) {
  // No residual, gate or expansion: at most Conv's own operands.
  return is_conv(&n) && runs_nhwc_itself(n) && n.has_input(ConvOperand::kX) &&
         n.inputs.size() <= ConvOperand::kResidual;
}

}  // namespace

bool fuse_expand_depthwise(Graph& graph, PassContext& ctx) {
  bool changed = false;
  for (Node* dw : graph.nodes()) {
    if (!is_plain_conv(*dw)) continue;
    const Shape* wd = constant_weights(*dw);
    auto group = dw->attr_int("group", 1);
    if (wd == nullptr || !group.is_ok() || (*wd)[1] != 1 || *group != (*wd)[0]) continue;
    Node* ex = dw->inputs[ConvOperand::kX]->producer;
    // is_op: one output, so no pooled result.
    if (ex == nullptr || !is_op(ex, "Conv") || !is_plain_conv(*ex) ||
        sole_consumer(ex->outputs[0]) != dw) {
      continue;
    }
    const Shape* we = constant_weights(*ex);
    auto ex_group = ex->attr_int("group", 1);
    auto auto_pad = ex->attr_string("auto_pad", "NOTSET");
    if (we == nullptr || (*we)[0] != (*wd)[0] || (*we)[2] != 1 || (*we)[3] != 1 ||
        !ex_group.is_ok() || *ex_group != 1 || !all_ints_are(*ex, "strides", 1) ||
        !all_ints_are(*ex, "pads", 0) || !auto_pad.is_ok() ||
        (*auto_pad != "NOTSET" && *auto_pad != "VALID")) {
      continue;
    }
    Value* ex_bias = ex->has_input(ConvOperand::kBias) ? ex->inputs[ConvOperand::kBias] : nullptr;
    make_fused(*dw, ConvOperand::kExpandBias + 1);
    graph.replace_input(dw, ConvOperand::kX, ex->inputs[ConvOperand::kX]);
    graph.replace_input(dw, ConvOperand::kExpandW, ex->inputs[ConvOperand::kW]);
    if (ex_bias != nullptr) graph.replace_input(dw, ConvOperand::kExpandBias, ex_bias);
    dw->decisions.expand_activation = ex->decisions.activation;
    const std::string ex_name = ex->name;
    graph.erase_node(ex);
    ctx.events.push_back({true, "fuse_expand_depthwise", dw->name, ex_name,
                          "the 1x1 expansion runs in bands inside the depthwise Conv"});
    changed = true;
  }
  return changed;
}

}  // namespace keel
