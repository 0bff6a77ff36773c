// Activation fusions (keel-only, not written by `keel fold`). An activation is Relu, Clip,
// LeakyRelu, HardSwish, HardSigmoid, Sigmoid, or SiLU (x * Sigmoid(x): a Sigmoid and a Mul
// that both read the node's output, and nothing else does).
// - fuse_batchnorm_activation: a BatchNormalization that stays (after a Concat or a ReLU, say)
//   and is followed by an activation runs as one kernel: y = act(x * scale + shift);
// - fuse_conv_activation: a Conv, or a MatMul with a constant [K, N] B, followed by an
//   activation applies it in its GEMM (or depthwise, grouped) epilogue, while the output tile
//   is still in registers;
// - fuse_matmul_bias: such a MatMul followed by an Add of N constants (a Linear layer as
//   exporters write it) adds them in the same epilogue.
// The node becomes its fused kind (graph/fused_ops.hpp) and the activation goes into its typed
// NodeDecisions::activation, which the batchnorm, conv and matmul kernels read.
#include <algorithm>
#include <cmath>
#include <limits>

#include "kernels/fused_activation.hpp"
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

// An activation `node` can absorb: the node(s) to remove, the kind and its parameters.
struct FusableActivation {
  ActParams params;
  Node* last = nullptr;     // whose output the fused node takes over
  Node* sigmoid = nullptr;  // SiLU only: the Sigmoid feeding `last` (a Mul)
};

// y -> Sigmoid -> Mul(y, s) (either operand order), with y read by nothing else: SiLU.
bool match_silu(Value* y, FusableActivation* f) {
  if (y->consumers.size() != 2 || y->is_graph_output) return false;
  Node* sig = nullptr;
  Node* mul = nullptr;
  for (Node* c : y->consumers) {
    if (!c->domain.empty()) return false;
    if (c->op_type == "Sigmoid") sig = c;
    if (c->op_type == "Mul") mul = c;
  }
  if (!sig || !mul || sig->inputs.size() != 1 || !sig->has_output(0)) return false;
  Value* s = sig->outputs[0];
  if (!single_use(s) || s->consumers[0] != mul || mul->inputs.size() != 2) return false;
  const bool order_ok =
      (mul->inputs[0] == y && mul->inputs[1] == s) || (mul->inputs[0] == s && mul->inputs[1] == y);
  if (!order_ok || !mul->has_output(0)) return false;
  f->params.kind = ActKind::kSilu;
  f->last = mul;
  f->sigmoid = sig;
  return true;
}

// The activation that reads `node`'s output 0 (and nothing else does), when `node` can absorb
// it; false otherwise.
bool fusable_activation(Node* node, FusableActivation* f) {
  if (node->decisions.activation.kind != ActKind::kNone || !node->has_output(0) ||
      extra_outputs_used(*node))
    return false;
  Value* y = node->outputs[0];
  if (match_silu(y, f)) return true;
  if (!single_use(y)) return false;
  Node* act = y->consumers[0];
  if (!act->domain.empty() || act->inputs.empty() || act->inputs[0] != y) return false;
  ActParams& p = f->params;
  p.lo = 0.0f;
  p.hi = std::numeric_limits<float>::infinity();
  if (act->op_type == "Relu") {
    p.kind = ActKind::kRelu;
  } else if (act->op_type == "Clip" && clip_bounds(*act, &p.lo, &p.hi) && p.lo <= p.hi) {
    p.kind = ActKind::kClip;
  } else if (act->op_type == "LeakyRelu") {
    auto a = act->attr_float("alpha", 0.01f);
    if (!a.is_ok()) return false;
    p.kind = ActKind::kLeakyRelu;
    p.alpha = *a;
  } else if (act->op_type == "HardSwish") {
    p.kind = ActKind::kHardSwish;
  } else if (act->op_type == "HardSigmoid") {
    auto a = act->attr_float("alpha", 0.2f);
    auto b = act->attr_float("beta", 0.5f);
    if (!a.is_ok() || !b.is_ok()) return false;
    p.kind = ActKind::kHardSigmoid;
    p.alpha = *a;
    p.beta = *b;
  } else if (act->op_type == "Sigmoid") {
    p.kind = ActKind::kSigmoid;
  } else if (act->op_type == "Gelu") {
    auto approximate = act->attr_string("approximate", "none");
    if (!approximate.is_ok() || *approximate != "none") return false;
    p.kind = ActKind::kGelu;
  } else {
    return false;
  }
  f->last = act;
  return true;
}

bool is_float_matrix(const Value* v) {
  return v && v->is_fixed_constant() && v->constant->dtype() == DataType::kFloat32 &&
         v->constant->shape().size() == 2;
}

// Exporters write a Linear layer's B as Transpose(W) of the [N, K] weight: that B becomes the
// constant W^T (the Transpose goes when nothing else reads it).
void fold_transposed_weight(Graph& graph, Node* mm) {
  Value* b = mm->inputs[1];
  Node* t = b->producer;
  if (!t || !is_op(t, "Transpose") || !t->has_input(0) || !is_float_matrix(t->inputs[0])) return;
  auto perm = t->attr_ints("perm", {1, 0});
  if (!perm.is_ok() || *perm != std::vector<int64_t>{1, 0}) return;
  const Tensor& w = *t->inputs[0]->constant;
  const int64_t rows = w.shape()[0], cols = w.shape()[1];
  auto made = Tensor::allocate_for_overwrite(DataType::kFloat32, Shape{cols, rows});
  if (!made.is_ok()) return;  // out of memory: the MatMul keeps its Transpose
  Tensor wt = std::move(made).value();
  const float* src = w.data_as<float>();
  float* dst = wt.data_as<float>();
  // In 32 x 32 tiles: a row-by-row transpose of ConvNeXt-T's 768 x 3072 weights wrote every
  // float to a different cache line and took a third of the model's load.
  constexpr int64_t kTile = 32;
  for (int64_t r0 = 0; r0 < rows; r0 += kTile) {
    const int64_t r1 = std::min(rows, r0 + kTile);
    for (int64_t c0 = 0; c0 < cols; c0 += kTile) {
      const int64_t c1 = std::min(cols, c0 + kTile);
      for (int64_t c = c0; c < c1; ++c) {
        for (int64_t r = r0; r < r1; ++r) dst[c * rows + r] = src[r * cols + c];
      }
    }
  }
  Value* folded = graph.create_unique_value(t->inputs[0]->name + "_t");
  folded->set_constant(std::move(wt));
  graph.replace_input(mm, 1, folded);
  if (b->consumers.empty() && !b->is_graph_output) graph.erase_node(t);
}

bool is_two_input_matmul(const Node* n) {
  return n->domain.empty() && n->op_type == "MatMul" && n->inputs.size() == 2 && n->inputs[0] &&
         n->inputs[1];
}

// A MatMul the SGEMM epilogue can finish: float32 A times a constant float32 [K, N] B.
bool is_epilogue_matmul(const Node* n) {
  return is_two_input_matmul(n) && is_float_matrix(n->inputs[1]);
}

// MatMul -> Add(y, c) with c a float32 constant of N values ([N], or [1, ..., 1, N] of a rank
// no higher than y's): the MatMul becomes a FusedMatMul with c as its bias operand, added in the
// GEMM epilogue.
bool fuse_matmul_bias(Graph& graph, Node* mm, PassContext& ctx) {
  if (!mm->has_output(0)) return false;
  Node* add = sole_consumer(mm->outputs[0]);
  if (!is_op(add, "Add")) return false;
  Value* c = other_input(add, mm->outputs[0]);
  // Exporters share equal initializers through Identity nodes: read through them.
  while (c && !c->is_constant() && c->producer && is_op(c->producer, "Identity") &&
         c->producer->has_input(0)) {
    c = c->producer->inputs[0];
  }
  const int64_t n = mm->inputs[1]->constant->shape()[1];
  if (!c || !c->is_fixed_constant() || c->constant->dtype() != DataType::kFloat32 ||
      c->constant->numel() != n || c->constant->shape().empty() || c->constant->shape().back() != n)
    return false;
  // The Add must not broadcast its output to a higher rank than the MatMul's (a [1, 1, N]
  // constant after a rank-2 product): the output's rank must be known to allow more than [N].
  const int64_t rank_a = declared_rank(mm->inputs[0]);
  const int64_t rank_y = rank_a < 0 ? -1 : (rank_a == 1 ? 1 : rank_a);
  const int64_t rank_c = static_cast<int64_t>(c->constant->shape().size());
  if (rank_c > 1 && (rank_y < 0 || rank_c > rank_y)) return false;
  Value* bias = graph.create_unique_value(mm->name + "_bias");
  bias->set_constant(c->constant->reshaped({n}));
  const std::string add_name = add->name;
  absorb_output(graph, mm, add);
  make_fused(*mm, MatMulOperand::kBias + 1);
  graph.replace_input(mm, MatMulOperand::kBias, bias);
  ctx.events.push_back(
      {true, "fuse_matmul_bias", mm->name, add_name, "per-column bias added in the GEMM epilogue"});
  return true;
}

}  // namespace

bool fuse_activation(Graph& graph, PassContext& ctx) {
  bool changed = false;
  for (Node* node : graph.nodes()) {
    if (node->erased || (!node->domain.empty() && node->domain != kKeelDomain)) continue;
    if (is_two_input_matmul(node)) fold_transposed_weight(graph, node);
    const bool matmul = is_epilogue_matmul(node);
    if (matmul) changed = fuse_matmul_bias(graph, node, ctx) || changed;
    const std::string op = onnx_op_type(*node);
    const bool conv = is_conv(node) || matmul || node->op_type == kFusedMatMul;
    if (!conv && op != "BatchNormalization") continue;
    FusableActivation f;
    if (!fusable_activation(node, &f)) continue;
    const ActParams& p = f.params;
    const std::string kind = fused_activation_name(p.kind);
    make_fused(*node);
    node->decisions.activation = p;
    std::string act_name = f.last->name;
    if (f.sigmoid) {
      act_name = f.sigmoid->name + " + " + act_name;
      graph.erase_node(f.sigmoid);
    }
    absorb_output(graph, node, f.last);
    if (conv) {
      ctx.events.push_back({true, "fuse_conv_activation", node->name, act_name,
                            kind + " applied in the " + op + "'s epilogue"});
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
