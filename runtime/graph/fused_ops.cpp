#include "graph/fused_ops.hpp"

#include <cstring>

#include "graph/graph.hpp"

namespace keel {
namespace {

struct FusedKind {
  const char* standard;
  const char* fused;
};
constexpr FusedKind kKinds[] = {
    {"Conv", kFusedConv}, {"MatMul", kFusedMatMul}, {"BatchNormalization", kFusedBatchNorm}};

bool is_keel(const Node& n) { return n.domain == kKeelDomain; }

}  // namespace

bool is_conv(const Node* n) {
  return n && !n->erased &&
         ((n->domain.empty() && n->op_type == "Conv") || (is_keel(*n) && n->op_type == kFusedConv));
}

bool has_conv_operand(const Node& n, size_t role) {
  return is_keel(n) && n.op_type == kFusedConv && n.has_input(role);
}

void make_fused(Node& n, size_t min_inputs) {
  for (const FusedKind& k : kKinds) {
    if (n.domain.empty() && n.op_type == k.standard) {
      n.domain = kKeelDomain;
      n.op_type = k.fused;
    }
  }
  if (n.inputs.size() < min_inputs) n.inputs.resize(min_inputs, nullptr);
}

const char* onnx_op_type(const Node& n) {
  if (is_keel(n)) {
    for (const FusedKind& k : kKinds) {
      if (n.op_type == k.fused) return k.standard;
    }
  }
  return n.op_type.c_str();
}

}  // namespace keel
