// choose_precision: under ModelOptions::precision = bf16, which nodes run bfloat16. A candidate
// is a node a bfloat16 kernel runs: a 2-D Conv on NHWC activations with one group, constant
// weights and no fused expansion (kernels/conv/nhwc_bf16.cpp), a Gemm with a constant 2-D B, or
// a MatMul with a constant 2-D B or an activation B (attention; kernels/gemm.cpp). Candidates
// stay float32, each with its reason, when
//   - the convolution reads a graph input (through layout-only ops): the raw image, whose
//     values carry more bits than bfloat16's 8 and feed everything after;
//   - the node is the last parametric layer before a graph output (a classifier or final
//     projection: its error reaches the output unaveraged);
//   - its operator type is in options.fp32_ops.
// Depthwise and grouped convolutions, pooling and elementwise ops stay float32: they are
// bound by memory, not by multiplications.
#include <map>
#include <set>
#include <string>
#include <vector>

#include "graph/fused_ops.hpp"
#include "graph/layout.hpp"
#include "passes/pass.hpp"
#include "passes/pass_util.hpp"

namespace keel {
namespace {

bool constant_rank(const Value* v, size_t rank) {
  return v != nullptr && v->is_constant() && v->constant->dtype() == DataType::kFloat32 &&
         v->constant->shape().size() == rank;
}

// Whether a bfloat16 kernel runs `n` (the conditions under which conv_nhwc_bf16 and the Gemm
// and MatMul kernels take a bf16 node, so that the report says what runs).
bool candidate(const Node& n) {
  const std::string op = onnx_op_type(n);
  if (op == "Conv") {
    if (n.decisions.layout != Layout::kNhwc || n.inputs.size() < 2) return false;
    if (n.decisions.has_input_layout && n.decisions.input_layout != Layout::kNhwc) return false;
    if (has_conv_operand(n, ConvOperand::kExpandW)) return false;
    if (!constant_rank(n.inputs[ConvOperand::kW], 4)) return false;
    auto group = n.attr_int("group", 1);
    return group.is_ok() && *group == 1;
  }
  if (op == "Gemm") {
    auto trans_a = n.attr_int("transA", 0);
    return n.inputs.size() >= 2 && constant_rank(n.inputs[1], 2) && trans_a.is_ok() &&
           *trans_a == 0;
  }
  // MatMul: weights (constant 2-D B), or two float activations (attention's products).
  if (op == "MatMul") {
    if (n.inputs.size() < 2 || n.inputs[1] == nullptr) return false;
    const Value* b = n.inputs[1];
    if (b->is_constant()) return constant_rank(b, 2);
    return b->type.dtype == DataType::kFloat32 || b->type.dtype == DataType::kUndefined;
  }
  return false;
}

bool parametric(const Node& n) {
  const std::string op = onnx_op_type(n);
  return op == "Conv" || op == "ConvTranspose" || op == "MatMul" || op == "Gemm";
}

// Ops that only move or relabel data: the value after them is still the graph input.
bool layout_only(const Node& n) {
  static const std::set<std::string> ops = {"Transpose", "Identity",  "Reshape", "Cast",
                                            "Squeeze",   "Unsqueeze", "Flatten"};
  return n.domain.empty() && ops.count(n.op_type) > 0;
}

bool from_graph_input(const Value* v) {
  for (int depth = 0; v != nullptr && depth < 8; ++depth) {
    if (v->is_graph_input) return true;
    if (v->producer == nullptr || !layout_only(*v->producer)) return false;
    v = v->producer->inputs.empty() ? nullptr : v->producer->inputs[0];
  }
  return false;
}

// Per graph output, the last-computed parametric node among those reached from it backwards
// through non-parametric ones: a classifier, or a transformer's last projection. (All of the
// reached ones would be too many: through residual Adds, every block's last projection reaches
// the output.)
std::set<const Node*> last_parametric(const Graph& graph, const std::vector<Node*>& order) {
  std::map<const Node*, size_t> position;
  for (size_t i = 0; i < order.size(); ++i) position[order[i]] = i;
  std::set<const Node*> last;
  for (const Value* out : graph.outputs) {
    std::set<const Node*> seen;
    std::vector<const Node*> stack;
    if (out->producer != nullptr) stack.push_back(out->producer);
    const Node* latest = nullptr;
    while (!stack.empty()) {
      const Node* n = stack.back();
      stack.pop_back();
      if (!seen.insert(n).second) continue;
      if (parametric(*n)) {
        if (latest == nullptr || position[n] > position[latest]) latest = n;
        continue;
      }
      for (const Value* in : n->inputs) {
        if (in != nullptr && in->producer != nullptr) stack.push_back(in->producer);
      }
    }
    if (latest != nullptr) last.insert(latest);
  }
  return last;
}

}  // namespace

void choose_precision(Graph& graph, PassContext& ctx) {
  auto order = graph.topological_order();
  const std::vector<Node*> nodes = order.is_ok() ? *order : graph.nodes();
  const std::set<const Node*> last = last_parametric(graph, nodes);
  const std::set<std::string> kept_ops(ctx.options.fp32_ops.begin(), ctx.options.fp32_ops.end());
  for (Node* n : nodes) {
    if (!candidate(*n)) continue;
    PrecisionChoice choice;
    choice.node = n->name;
    choice.op_type = onnx_op_type(*n);
    if (kept_ops.count(choice.op_type) > 0) {
      choice.reason = "its operator type is kept float32 (fp32_ops)";
    } else if (choice.op_type == "Conv" && from_graph_input(n->inputs[ConvOperand::kX])) {
      choice.reason = "first convolution: reads the graph input";
    } else if (last.count(n) > 0) {
      choice.reason = "last parametric layer before a graph output (classifier or projection)";
    } else {
      choice.precision = Precision::kBf16;
      n->decisions.precision = Precision::kBf16;
    }
    ctx.precision.push_back(std::move(choice));
  }
}

}  // namespace keel
