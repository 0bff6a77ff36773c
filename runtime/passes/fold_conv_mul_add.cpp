// fold_conv_mul_add: the decomposed BatchNorm some exporters emit, Conv -> Mul(s) -> Add(t)
// with per-channel constants, folds into the conv: Mul scales W[o] and b[o], Add shifts b[o].
// Per channel means a scalar or a constant whose only non-1 dim lines up with the conv
// output's channel axis under numpy broadcasting ([C,1,1] or [1,C,1,1] for a 2-D conv).
#include "passes/pass_util.hpp"

namespace keel {

namespace {

// The shape `t` (input `slot` of `op`) has once aligned with the other input as the op
// broadcasts it: its own shape (numpy, trailing dims aligned), or before opset 7, with
// broadcast=1, B placed at `axis` of A's rank. nullopt when the legacy attributes are invalid.
std::optional<Shape> aligned_shape(const Node& op, size_t slot, const Tensor& t, int64_t out_rank,
                                   std::string* why) {
  if (op.opset >= 7 || slot != 1) return t.shape();
  auto broadcast = op.attr_int("broadcast", 0);
  const int64_t rank = t.rank();
  auto axis = op.attr_int("axis", out_rank - rank);
  if (!broadcast.is_ok() || !axis.is_ok()) {
    *why = "legacy broadcast: invalid broadcast/axis attributes";
    return std::nullopt;
  }
  if (*broadcast == 0) return t.shape();
  const int64_t a = *axis < 0 ? *axis + out_rank : *axis;
  if (a < 0 || a + rank > out_rank) {
    *why = "legacy broadcast: axis " + std::to_string(*axis) + " does not fit the constant";
    return std::nullopt;
  }
  Shape shape(static_cast<size_t>(out_rank), 1);
  for (int64_t d = 0; d < rank; ++d) shape[a + d] = t.shape()[d];
  return shape;
}

// Per-channel values of `t` (broadcast with `shape`, see aligned_shape) against a conv output
// of rank `out_rank` with `channels` channels; nullopt when `t` is not per channel.
std::optional<std::vector<double>> per_channel(const Tensor& t, const Shape& shape,
                                               int64_t out_rank, int64_t channels,
                                               std::string* why) {
  auto values = to_doubles(t);
  if (!values) {
    *why = "constant dtype " + dtype_name(t.dtype());
    return std::nullopt;
  }
  const auto t_rank = static_cast<int64_t>(shape.size());
  // Checked before the single-value case: a [1, 1, 1, 1, 1] constant would raise the rank.
  if (t_rank > out_rank) {
    *why = "constant of rank " + std::to_string(t_rank) + " broadcasts beyond the conv output";
    return std::nullopt;
  }
  if (t.numel() == 1) return std::vector<double>(static_cast<size_t>(channels), (*values)[0]);
  // Align trailing dims: the channel axis (1) of the output is t's axis 1 - (out_rank - t_rank).
  const int64_t channel_axis = 1 - (out_rank - t_rank);
  for (int64_t d = 0; d < t_rank; ++d) {
    const int64_t want = d == channel_axis ? channels : 1;
    if (shape[d] != want) {
      *why = "constant of shape " + shape_to_string(t.shape()) +
             (shape != t.shape() ? " (broadcast as " + shape_to_string(shape) + ")" : "") +
             " is not per channel for a rank-" + std::to_string(out_rank) + " conv output with " +
             std::to_string(channels) + " channels";
      return std::nullopt;
    }
  }
  return values;
}

}  // namespace

bool fold_conv_mul_add(Graph& graph, PassContext& ctx) {
  bool changed = false;
  for (Node* op : graph.nodes()) {
    if (op->erased || (op->op_type != "Mul" && op->op_type != "Add") || !op->domain.empty())
      continue;
    if (op->inputs.size() != 2 || !op->inputs[0] || !op->inputs[1] || !op->has_output(0)) continue;
    // The conv output on one side, the constant on the other.
    int conv_side = -1;
    for (int s = 0; s < 2; ++s) {
      const Node* p = op->inputs[s]->producer;
      if (p && p->op_type == "Conv" && p->domain.empty() && op->inputs[1 - s]->is_constant())
        conv_side = s;
    }
    if (conv_side < 0) continue;
    Value* y = op->inputs[conv_side];
    Node* conv = y->producer;
    std::string why;
    const Tensor* w = nullptr;
    if (!single_use(y)) {
      why = "single consumer: the Conv output is also used elsewhere or is a graph output";
    } else if (!(w = foldable_constant(conv->inputs.size() > 1 ? conv->inputs[1] : nullptr, ctx,
                                       "weight", &why))) {
    } else if (w->dtype() != DataType::kFloat32 || w->rank() < 3) {
      why = "weights: expected float32 of rank >= 3";
      w = nullptr;
    }
    const Tensor* c =
        w ? foldable_constant(op->inputs[1 - conv_side], ctx, "constant", &why) : nullptr;
    const Tensor* b = nullptr;
    if (c && conv->has_input(2)) {
      b = foldable_constant(conv->inputs[2], ctx, "bias", &why);
      if (b && (b->dtype() != DataType::kFloat32 || b->numel() != w->shape()[0])) {
        why = "bias: expected float32[" + std::to_string(w->shape()[0]) + "], found " +
              dtype_name(b->dtype()) + shape_to_string(b->shape());
        b = nullptr;
      }
      if (!b) c = nullptr;
    }
    std::optional<std::vector<double>> v;
    if (c) {
      const size_t slot = static_cast<size_t>(1 - conv_side);
      if (auto shape = aligned_shape(*op, slot, *c, w->rank(), &why)) {
        v = per_channel(*c, *shape, w->rank(), w->shape()[0], &why);
      }
    }
    if (v) {
      // The conv output's dtype must stay float32 (a float64 constant would change it).
      if (c->dtype() != DataType::kFloat32) {
        why = "the constant is " + dtype_name(c->dtype()) + ", the conv output float32";
        v.reset();
      }
    }
    if (!v) {
      ctx.events.push_back({false, "fold_conv_mul_add", conv->name, op->name, why});
      continue;
    }
    const int64_t cout = w->shape()[0], per = w->numel() / cout;
    std::vector<double> b_new(static_cast<size_t>(cout));
    for (int64_t o = 0; o < cout; ++o) {
      const double b0 = b ? static_cast<double>(b->data_as<float>()[o]) : 0.0;
      b_new[o] = op->op_type == "Mul" ? b0 * (*v)[o] : b0 + (*v)[o];
    }
    if (op->op_type == "Mul") {
      std::vector<double> w_new(static_cast<size_t>(w->numel()));
      for (int64_t o = 0; o < cout; ++o) {
        for (int64_t i = 0; i < per; ++i)
          w_new[o * per + i] = static_cast<double>(w->data_as<float>()[o * per + i]) * (*v)[o];
      }
      const Shape w_shape = w->shape();
      set_float_constant(own_constant(graph, conv, 1), w_shape, w_new);
    }
    set_bias(graph, conv, 2, b_new);
    const std::string op_name = op->name, op_type = op->op_type;
    absorb_output(graph, conv, op);
    ctx.events.push_back({true, "fold_conv_mul_add", conv->name, op_name,
                          op_type + " by a per-channel constant folded into Conv weights"});
    changed = true;
  }
  return changed;
}

}  // namespace keel
