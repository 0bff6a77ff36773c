// fuse_expand_depthwise (keel-only, not written by `keel fold`; runs after choose_layout): an
// inverted residual's 1x1 expansion and the depthwise conv reading it become one node
// (kernels/conv_expand_dw.hpp), so the expanded tensor is produced band by band in L2 instead
// of being written to memory and read back. Both convs must run NHWC; the expansion a plain
// 1x1 conv (one group, stride 1, no padding, constant weights) whose output only the depthwise
// conv reads, and the depthwise conv one with a channel per group, constant weights and no
// residual or gate.
#include <algorithm>
#include <string>

#include "graph/layout.hpp"
#include "kernels/conv_expand_dw.hpp"
#include "kernels/conv_gate.hpp"
#include "kernels/conv_pool.hpp"
#include "kernels/conv_residual.hpp"
#include "passes/pass_util.hpp"

namespace keel {
namespace {

bool runs_nhwc_itself(const Node& n) {
  const Attribute* a = n.find_attribute(kLayoutAttr);
  return a != nullptr && a->s == "NHWC" && !n.has_attribute(kInputLayoutAttr);
}

// Every value of the ints attribute is `value` (true when the attribute is absent).
bool all_ints_are(const Node& n, const char* attr, int64_t value) {
  auto v = n.attr_ints(attr, {});
  return v.is_ok() && std::all_of(v->begin(), v->end(), [&](int64_t x) { return x == value; });
}

const Shape* constant_weights(const Node& n) {
  if (!n.has_input(1) || !n.inputs[1]->is_fixed_constant()) return nullptr;
  const Shape& s = n.inputs[1]->constant->shape();
  return s.size() == 4 ? &s : nullptr;
}

bool is_plain_conv(const Node& n) {
  return n.domain.empty() && !n.erased && n.op_type == "Conv" && runs_nhwc_itself(n) &&
         n.has_input(0) && n.inputs.size() <= 3 && !n.has_attribute(kResidualAttr) &&
         !n.has_attribute(kGateAttr) && !n.has_attribute(kExpandAttr);
}

}  // namespace

bool fuse_expand_depthwise(Graph& graph, PassContext& ctx) {
  bool changed = false;
  for (Node* dw : graph.nodes()) {
    if (!is_plain_conv(*dw)) continue;
    const Shape* wd = constant_weights(*dw);
    auto group = dw->attr_int("group", 1);
    if (wd == nullptr || !group.is_ok() || (*wd)[1] != 1 || *group != (*wd)[0]) continue;
    Node* ex = dw->inputs[0]->producer;
    if (ex == nullptr || !is_op(ex, "Conv") || !is_plain_conv(*ex) ||
        ex->has_attribute(kPoolAttr) || sole_consumer(ex->outputs[0]) != dw) {
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
    Value* ex_bias = ex->has_input(2) ? ex->inputs[2] : nullptr;
    dw->inputs.resize(7, nullptr);  // absent bias, residual and gate keep their slots
    graph.replace_input(dw, 0, ex->inputs[0]);
    graph.replace_input(dw, 5, ex->inputs[1]);
    if (ex_bias != nullptr) graph.replace_input(dw, 6, ex_bias);
    // The expansion's fused activation (kernels/fused_activation.hpp) under the second prefix.
    for (const char* a : {"activation", "min", "max", "alpha", "beta"}) {
      auto it = ex->attributes.find(std::string("_keel_") + a);
      if (it != ex->attributes.end()) {
        dw->attributes[std::string(kExpandActivationPrefix) + a] = it->second;
      }
    }
    dw->attributes[kExpandAttr] = Attribute::of_int(1);
    const std::string ex_name = ex->name;
    graph.erase_node(ex);
    ctx.events.push_back({true, "fuse_expand_depthwise", dw->name, ex_name,
                          "the 1x1 expansion runs in bands inside the depthwise Conv"});
    changed = true;
  }
  return changed;
}

}  // namespace keel
