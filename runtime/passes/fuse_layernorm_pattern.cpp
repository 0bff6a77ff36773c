// fuse_layernorm_pattern: LayerNorm and RMSNorm as exporters decompose them (ReduceMean, Sub,
// Pow or Mul, Add eps, Sqrt, Div or Reciprocal+Mul, optional affine Mul/Add) become one
// LayerNormalization (opset >= 17) or RMSNormalization (opset >= 23) node that keeps the final
// value and its name. Each check that fails means "no match": the subgraph stays as written.
//
// Where it runs: the fused node is a standard ONNX op of the model's own opset (the pass only
// fires when that opset defines it), so the rewrite belongs to folding and `keel fold` writes
// it too. LayerNormalization-17 passes the system ONNX checker (which knows opsets <= 17);
// RMSNormalization needs opset 23, a model the checker reports as "not run" whether fused or
// not, so the rewrite never turns a checkable model into one that fails.
#include <algorithm>
#include <cmath>
#include <cstddef>
#include <cstring>
#include <optional>
#include <string>
#include <vector>

#include "passes/pass_util.hpp"

namespace keel {

namespace {

// One match: the nodes it replaces and the inputs of the fused node.
struct NormMatch {
  std::vector<Node*> nodes;  // every node replaced, the first ReduceMean first
  Value* x = nullptr;
  Value* gamma = nullptr;  // optional
  Value* beta = nullptr;   // optional (LayerNorm only)
  Value* out = nullptr;
  Node* last = nullptr;
  int64_t k = 0;  // number of trailing axes normalized
  float eps = 0.0f;
};

// k when ReduceMean `rm` reads `in` (of rank `rank`, -1 when unknown) over the trailing axes
// [-k, -1] with keepdims=1. Non-negative axes need the rank.
std::optional<int64_t> trailing_reduce(const Node* rm, const Value* in, int64_t rank,
                                       const PassContext& ctx) {
  if (!is_op(rm, "ReduceMean") || rm->inputs.empty() || rm->inputs[0] != in) return std::nullopt;
  auto keepdims = rm->attr_int("keepdims", 1);
  if (!keepdims.is_ok() || *keepdims != 1) return std::nullopt;
  std::vector<int64_t> axes;
  if (rm->opset < 18) {
    if (rm->inputs.size() != 1) return std::nullopt;
    auto a = rm->attr_ints("axes");
    if (!a.is_ok()) return std::nullopt;
    axes = *a;
  } else {
    if (rm->inputs.size() != 2 || !rm->inputs[1] || rm->has_attribute("axes")) return std::nullopt;
    std::string why;
    const Tensor* t = foldable_constant(rm->inputs[1], ctx, "axes", &why);
    if (!t || t->dtype() != DataType::kInt64 || t->rank() > 1) return std::nullopt;
    axes.assign(t->data_as<int64_t>(), t->data_as<int64_t>() + t->numel());
  }
  if (axes.empty()) return std::nullopt;
  for (int64_t& a : axes) {
    if (a >= 0) {
      if (rank < 0 || a >= rank) return std::nullopt;
      a -= rank;
    } else if (rank >= 0 && a < -rank) {
      return std::nullopt;
    }
  }
  std::sort(axes.begin(), axes.end());
  const auto k = static_cast<int64_t>(axes.size());
  for (int64_t i = 0; i < k; ++i) {
    if (axes[static_cast<size_t>(i)] != i - k) return std::nullopt;
  }
  return k;
}

// True when `sq` computes v * v: Pow(v, 2.0) or Mul(v, v).
bool is_square_of(const Node* sq, const Value* v, const PassContext& ctx) {
  if (is_op(sq, "Mul")) {
    return sq->inputs.size() == 2 && sq->inputs[0] == v && sq->inputs[1] == v;
  }
  if (!is_op(sq, "Pow") || sq->inputs.size() != 2 || sq->inputs[0] != v) return false;
  const auto e = scalar_constant(sq->inputs[1], ctx);
  return e && *e == 2.0;
}

// A constant float32 affine parameter whose shape, without its leading 1s, matches the trailing
// normalized dims of `x` (where those are declared) and spans at most the k normalized axes.
bool valid_param(const Value* p, const Value* x, int64_t k, const PassContext& ctx) {
  std::string why;
  const Tensor* t = foldable_constant(p, ctx, "parameter", &why);
  if (!t || t->dtype() != DataType::kFloat32) return false;
  const Shape& shape = t->shape();
  const int64_t rank = declared_rank(x);
  const auto prank = static_cast<int64_t>(shape.size());
  // Leading 1s beyond the rank of x would raise the rank of the output.
  if (prank > (rank >= 0 ? rank : k)) return false;
  size_t lead = 0;
  while (lead < shape.size() && shape[lead] == 1) ++lead;
  const Shape stripped(shape.begin() + static_cast<std::ptrdiff_t>(lead), shape.end());
  const auto srank = static_cast<int64_t>(stripped.size());
  if (srank > k) return false;
  if (rank < 0) return true;
  for (int64_t i = 0; i < srank; ++i) {
    const Dim& d = (*x->type.dims)[static_cast<size_t>(rank - srank + i)];
    if (d.known() && d.value != stripped[static_cast<size_t>(i)]) return false;
  }
  return true;
}

// The tail shared by both forms, from `d` (the centred input for LayerNorm, x for RMSNorm):
// v = ReduceMean(square(d)) over k trailing axes; y = d / Sqrt(v + eps) (Div, or Mul by a
// Reciprocal); then the optional Mul(gamma) and, when `with_beta`, Add(beta).
bool match_tail(Value* d, Node* sq, bool with_beta, const PassContext& ctx, NormMatch* m) {
  if (!is_square_of(sq, d, ctx)) return false;
  Node* rv = sole_consumer(sq->outputs[0]);
  const auto k = trailing_reduce(rv, sq->outputs[0], declared_rank(m->x), ctx);
  if (!k || *k != m->k) return false;
  Node* add = sole_consumer(rv->outputs[0]);
  if (!is_op(add, "Add")) return false;
  Value* eps_value = other_input(add, rv->outputs[0]);
  std::string why;
  const Tensor* eps_t = eps_value ? foldable_constant(eps_value, ctx, "epsilon", &why) : nullptr;
  if (!eps_t || eps_t->dtype() != DataType::kFloat32 || eps_t->numel() != 1) return false;
  const float eps = eps_t->data_as<float>()[0];
  if (!std::isfinite(eps) || !(eps > 0.0f)) return false;
  Node* sqrt = sole_consumer(add->outputs[0]);
  if (!is_op(sqrt, "Sqrt") || sqrt->inputs.size() != 1) return false;
  Node* div = sole_consumer(sqrt->outputs[0]);
  std::vector<Node*> nodes = {sq, rv, add, sqrt};
  if (is_op(div, "Div")) {
    if (div->inputs.size() != 2 || div->inputs[0] != d || div->inputs[1] != sqrt->outputs[0])
      return false;
  } else if (is_op(div, "Reciprocal") && div->inputs.size() == 1) {
    nodes.push_back(div);
    Node* mul = sole_consumer(div->outputs[0]);
    if (!is_op(mul, "Mul") || other_input(mul, div->outputs[0]) != d) return false;
    div = mul;
  } else {
    return false;
  }
  nodes.push_back(div);
  Node* last = div;
  Value* gamma = nullptr;
  Value* beta = nullptr;
  Node* next = sole_consumer(last->outputs[0]);
  if (is_op(next, "Mul")) {
    Value* p = other_input(next, last->outputs[0]);
    if (p && valid_param(p, m->x, m->k, ctx)) {
      gamma = p;
      last = next;
      nodes.push_back(next);
      next = sole_consumer(last->outputs[0]);
    }
  }
  if (with_beta && is_op(next, "Add")) {
    Value* p = other_input(next, last->outputs[0]);
    if (p && valid_param(p, m->x, m->k, ctx)) {
      beta = p;
      last = next;
      nodes.push_back(next);
    }
  }
  m->nodes.insert(m->nodes.end(), nodes.begin(), nodes.end());
  m->gamma = gamma;
  m->beta = beta;
  m->eps = eps;
  m->last = last;
  m->out = last->outputs[0];
  return true;
}

// LayerNorm starting at the mean ReduceMean `rm`.
bool match_layernorm(Node* rm, const PassContext& ctx, NormMatch* m) {
  if (!is_op(rm, "ReduceMean") || rm->inputs.empty() || !rm->inputs[0]) return false;
  m->x = rm->inputs[0];
  const auto k = trailing_reduce(rm, m->x, declared_rank(m->x), ctx);
  if (!k) return false;
  m->k = *k;
  Node* sub = sole_consumer(rm->outputs[0]);
  if (!is_op(sub, "Sub") || sub->inputs.size() != 2 || sub->inputs[0] != m->x ||
      sub->inputs[1] != rm->outputs[0]) {
    return false;
  }
  Value* d = sub->outputs[0];
  if (d->is_graph_output) return false;
  // d feeds the square (Pow once, or both slots of Mul(d, d)) and the division, nothing else.
  Node* sq = nullptr;
  for (Node* c : d->consumers) {
    if (is_square_of(c, d, ctx)) sq = c;
  }
  if (!sq) return false;
  const size_t expected = sq->op_type == "Mul" ? 3 : 2;
  if (d->consumers.size() != expected) return false;
  m->nodes = {rm, sub};
  if (!match_tail(d, sq, /*with_beta=*/true, ctx, m)) return false;
  // The division must be the only other reader of d.
  for (Node* c : d->consumers) {
    if (std::find(m->nodes.begin(), m->nodes.end(), c) == m->nodes.end()) return false;
  }
  return true;
}

// RMSNorm starting at the ReduceMean `rv` of the squared input.
bool match_rmsnorm(Node* rv, const PassContext& ctx, NormMatch* m) {
  if (!is_op(rv, "ReduceMean") || rv->inputs.empty() || !rv->inputs[0]) return false;
  Node* sq = rv->inputs[0]->producer;
  if (!sq || sq->erased || sq->inputs.empty() || !sq->inputs[0]) return false;
  m->x = sq->inputs[0];
  const auto k = trailing_reduce(rv, rv->inputs[0], declared_rank(m->x), ctx);
  if (!k) return false;
  m->k = *k;
  m->nodes.clear();
  if (!match_tail(m->x, sq, /*with_beta=*/false, ctx, m)) return false;
  // The first ReduceMean is the source of the event: put it first.
  std::iter_swap(m->nodes.begin(), m->nodes.begin() + 1);
  return true;
}

// `p` as it goes to the fused node: its shape without leading 1s (a new constant when needed).
Value* stripped_param(Graph& graph, Value* p, const std::string& hint) {
  const Shape& shape = p->constant->shape();
  size_t lead = 0;
  while (lead < shape.size() && shape[lead] == 1) ++lead;
  if (lead == 0) return p;
  const Shape stripped(shape.begin() + static_cast<std::ptrdiff_t>(lead), shape.end());
  Value* v = graph.create_unique_value(hint);
  Tensor t = Tensor::allocate(DataType::kFloat32, stripped).value();
  std::memcpy(t.data_as<float>(), p->constant->data_as<float>(),
              static_cast<size_t>(t.numel()) * sizeof(float));
  v->set_constant(std::move(t));
  return v;
}

// A ones tensor for the Scale input: the normalized shape when declared, else [1].
Value* ones_scale(Graph& graph, const NormMatch& m, const std::string& hint) {
  Shape shape = {1};
  const int64_t rank = declared_rank(m.x);
  if (rank >= m.k) {
    Shape norm;
    for (int64_t i = rank - m.k; i < rank; ++i) {
      const Dim& d = (*m.x->type.dims)[static_cast<size_t>(i)];
      if (!d.known()) break;
      norm.push_back(d.value);
    }
    if (static_cast<int64_t>(norm.size()) == m.k) shape = norm;
  }
  Value* v = graph.create_unique_value(hint);
  int64_t n = 1;
  for (int64_t d : shape) n *= d;
  set_float_constant(v, shape, std::vector<double>(static_cast<size_t>(n), 1.0));
  return v;
}

void replace(Graph& graph, const NormMatch& m, bool rms, int opset, PassContext& ctx) {
  const std::string name = m.last->name;
  const std::string source = m.nodes.front()->name;
  const std::string op = rms ? "RMSNormalization" : "LayerNormalization";
  Value* scale = m.gamma ? stripped_param(graph, m.gamma, name + "_scale")
                         : ones_scale(graph, m, name + "_scale");
  Value* bias = m.beta ? stripped_param(graph, m.beta, name + "_bias") : nullptr;
  for (Node* n : m.nodes) graph.erase_node(n);
  auto node = std::make_unique<Node>();
  node->name = name;
  node->op_type = op;
  node->opset = opset;
  node->inputs = {m.x, scale};
  if (bias) node->inputs.push_back(bias);
  node->outputs = {m.out};
  node->attributes["axis"] = Attribute::of_int(-m.k);
  node->attributes["epsilon"] = Attribute::of_float(m.eps);
  graph.add_node(std::move(node));
  ctx.events.push_back({true, "fuse_layernorm_pattern", name, source,
                        std::string(rms ? "decomposed RMSNorm (" : "decomposed LayerNorm (") +
                            std::to_string(m.nodes.size()) + " nodes) replaced by " + op});
}

}  // namespace

bool fuse_layernorm_pattern(Graph& graph, PassContext& ctx) {
  auto it = graph.opset_imports.find("");
  const int opset = it == graph.opset_imports.end() ? 0 : static_cast<int>(it->second);
  if (opset < 17) return false;
  bool changed = false;
  // LayerNorm first: its variance half alone has the RMSNorm shape.
  for (Node* rm : graph.nodes()) {
    if (rm->erased) continue;
    NormMatch m;
    if (!match_layernorm(rm, ctx, &m)) continue;
    replace(graph, m, /*rms=*/false, opset, ctx);
    changed = true;
  }
  if (opset < 23) return changed;
  for (Node* rv : graph.nodes()) {
    if (rv->erased) continue;
    NormMatch m;
    if (!match_rmsnorm(rv, ctx, &m)) continue;
    replace(graph, m, /*rms=*/true, opset, ctx);
    changed = true;
  }
  return changed;
}

}  // namespace keel
