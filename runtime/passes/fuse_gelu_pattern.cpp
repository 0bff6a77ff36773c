// fuse_gelu_pattern (keel-only, never written by `keel fold`): the exact (erf) GELU as
// exporters decompose it below opset 20,
//   y = Mul(Mul(x, Add(Erf(Div(x, sqrt 2)), 1)), 0.5)
// (Mul(x, 1/sqrt 2) for the Div, the 0.5 applied to x first, any operand order), becomes one
// Gelu node (ONNX Gelu-20, approximate "none") that keeps the final value and its name. A
// following fuse_activation can then apply it in a producer's epilogue. Each check that fails
// means "no match": the subgraph stays as written.
#include <cmath>
#include <string>
#include <vector>

#include "passes/pass_util.hpp"

namespace keel {
namespace {

constexpr int kGeluOpset = 20;

bool near(std::optional<double> v, double want) {
  return v && std::fabs(*v - want) <= 1e-6 * std::fabs(want);
}

struct GeluMatch {
  std::vector<Node*> nodes;
  Value* x = nullptr;
  Value* out = nullptr;
  Node* last = nullptr;
};

// `erf` reads x / sqrt(2): the x.
Value* scaled_input(const Node* erf, const PassContext& ctx, Node** scale) {
  if (!is_op(erf, "Erf") || erf->inputs.size() != 1 || !erf->inputs[0]) return nullptr;
  Node* s = erf->inputs[0]->producer;
  if (!s || sole_consumer(erf->inputs[0]) != erf || s->inputs.size() != 2) return nullptr;
  if (is_op(s, "Div") && near(scalar_constant(s->inputs[1], ctx), std::sqrt(2.0))) {
    *scale = s;
    return s->inputs[0];
  }
  if (is_op(s, "Mul")) {
    for (int i = 0; i < 2; ++i) {
      if (near(scalar_constant(s->inputs[i], ctx), std::sqrt(0.5))) {
        *scale = s;
        return s->inputs[1 - i];
      }
    }
  }
  return nullptr;
}

// `n` is Mul(v, c) or Mul(c, v) with the scalar constant c == want: its other operand is v.
bool is_mul_by(const Node* n, const Value* v, double want, const PassContext& ctx) {
  const Value* c = is_op(n, "Mul") ? other_input(n, v) : nullptr;
  return c && scalar_constant(c, ctx) && *scalar_constant(c, ctx) == want;
}

bool match_gelu(Node* erf, const PassContext& ctx, GeluMatch* m) {
  Node* scale = nullptr;
  Value* x = scaled_input(erf, ctx, &scale);
  if (!x) return false;
  Node* add = sole_consumer(erf->outputs[0]);
  if (!is_op(add, "Add")) return false;
  const Value* one = other_input(add, erf->outputs[0]);
  if (!one || scalar_constant(one, ctx) != std::optional<double>(1.0)) return false;
  Node* mul = sole_consumer(add->outputs[0]);
  if (!is_op(mul, "Mul")) return false;
  Value* other = other_input(mul, add->outputs[0]);
  if (!other) return false;
  if (other == x) {
    // 0.5 * (x * (1 + erf)).
    Node* half = sole_consumer(mul->outputs[0]);
    if (!is_mul_by(half, mul->outputs[0], 0.5, ctx)) return false;
    m->nodes = {scale, erf, add, mul, half};
    m->last = half;
  } else {
    // (0.5 * x) * (1 + erf).
    Node* half = other->producer;
    if (!half || sole_consumer(other) != mul || !is_mul_by(half, x, 0.5, ctx)) return false;
    m->nodes = {scale, erf, add, half, mul};
    m->last = mul;
  }
  m->x = x;
  m->out = m->last->outputs[0];
  return true;
}

}  // namespace

bool fuse_gelu_pattern(Graph& graph, PassContext& ctx) {
  bool changed = false;
  for (Node* erf : graph.nodes()) {
    if (erf->erased) continue;
    GeluMatch m;
    if (!match_gelu(erf, ctx, &m)) continue;
    const std::string name = m.last->name, source = m.nodes.front()->name;
    for (Node* n : m.nodes) graph.erase_node(n);
    Node* gelu = add_onnx_node(graph, "Gelu", kGeluOpset, name, {m.x}, {m.out});
    gelu->attributes["approximate"] = Attribute::of_string("none");
    ctx.events.push_back({true, "fuse_gelu_pattern", name, source,
                          "decomposed GELU (5 nodes) replaced by one Gelu"});
    changed = true;
  }
  return changed;
}

}  // namespace keel
