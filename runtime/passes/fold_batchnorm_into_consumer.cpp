// fold_batchnorm_into_consumer: a BatchNormalization whose only consumer is a Conv folds into
// that conv's input channels: conv(W, b)(x * s + t) = conv(W * s_in, b + sum_{c,k} W[o,c,k]
// t[c])(x). Exact only when the conv pads nothing (a padded border would see t where the original
// saw zeros), or when every shift t is zero.
#include "passes/pass_util.hpp"

namespace keel {

namespace {

bool conv_has_padding(const Node& conv, std::string* why) {
  auto auto_pad = conv.attr_string("auto_pad", "NOTSET");
  if (!auto_pad.is_ok()) {
    *why = "auto_pad: not a string";
    return true;
  }
  if (*auto_pad == "SAME_UPPER" || *auto_pad == "SAME_LOWER") return true;
  auto pads = conv.attr_ints("pads", {});
  if (!pads.is_ok()) {
    *why = "pads: not a list of ints";
    return true;
  }
  for (int64_t p : *pads) {
    if (p != 0) return true;
  }
  return false;
}

bool fold_into_conv_input(Graph& g, Node* bn, Node* conv, PassContext& ctx, std::string* why) {
  std::string w_why;
  const Tensor* w =
      foldable_constant(conv->inputs.size() > 1 ? conv->inputs[1] : nullptr, ctx, "weight", &w_why);
  if (!w) {
    *why = "constant weights of the following Conv: " + w_why;
    return false;
  }
  if (w->dtype() != DataType::kFloat32 || w->rank() < 3) {
    *why = "weights of the following Conv: expected float32 of rank >= 3";
    return false;
  }
  auto group_attr = conv->attr_int("group", 1);
  if (!group_attr.is_ok() || *group_attr < 1 || w->shape()[0] % *group_attr != 0) {
    *why = "group: invalid group attribute on the following Conv";
    return false;
  }
  const int64_t group = *group_attr;
  const int64_t cout = w->shape()[0], cin_g = w->shape()[1], cin = cin_g * group;
  const int64_t cout_g = cout / group;
  int64_t k = 1;
  for (int64_t d = 2; d < w->rank(); ++d) k *= w->shape()[d];
  const Tensor* b = nullptr;
  if (conv->has_input(2)) {
    std::string b_why;
    b = foldable_constant(conv->inputs[2], ctx, "bias", &b_why);
    if (!b || b->dtype() != DataType::kFloat32 || b->numel() != cout) {
      *why = "bias of the following Conv: not a float32 constant of length " + std::to_string(cout);
      return false;
    }
  }
  auto affine = batchnorm_affine(*bn, cin, ctx, why);
  if (!affine) return false;
  std::string pad_why;
  if (conv_has_padding(*conv, &pad_why)) {
    if (!pad_why.empty()) {
      *why = pad_why;
      return false;
    }
    for (double t : affine->shift) {
      if (t != 0.0) {
        *why = "padding: the following Conv '" + conv->name +
               "' pads its input, so the BatchNorm shift cannot be folded exactly (the border "
               "would see the shift where the original sees zeros)";
        return false;
      }
    }
  }
  std::vector<double> w_new(static_cast<size_t>(w->numel()));
  std::vector<double> b_new(static_cast<size_t>(cout));
  for (int64_t o = 0; o < cout; ++o) {
    const int64_t grp = o / cout_g;
    double acc = b ? static_cast<double>(b->data_as<float>()[o]) : 0.0;
    for (int64_t ci = 0; ci < cin_g; ++ci) {
      const int64_t c = grp * cin_g + ci;
      for (int64_t t = 0; t < k; ++t) {
        const int64_t idx = (o * cin_g + ci) * k + t;
        const double wv = w->data_as<float>()[idx];
        w_new[idx] = wv * affine->scale[c];
        acc += wv * affine->shift[c];
      }
    }
    b_new[o] = acc;
  }
  const Shape w_shape = w->shape();
  set_float_constant(own_constant(g, conv, 1), w_shape, w_new);
  set_bias(g, conv, 2, b_new);
  // The conv now reads the BN's input directly.
  Value* x = bn->inputs[0];
  g.replace_input(conv, 0, x);
  g.erase_node(bn);
  return true;
}

}  // namespace

bool fold_batchnorm_into_consumer(Graph& graph, PassContext& ctx) {
  bool changed = false;
  for (Node* bn : graph.nodes()) {
    if (bn->erased || bn->op_type != "BatchNormalization" || !bn->domain.empty()) continue;
    if (!bn->has_input(0) || !bn->has_output(0)) continue;
    Value* y = bn->outputs[0];
    if (!single_use(y)) {
      ctx.bn_skip_reason[bn->name] +=
          "; consumer: the output has several consumers or is a graph output";
      continue;
    }
    Node* c = y->consumers[0];
    if (c->op_type != "Conv" || !c->domain.empty() || c->inputs.empty() || c->inputs[0] != y) {
      ctx.bn_skip_reason[bn->name] +=
          "; consumer: followed by " + c->op_type + ", not a Conv input";
      continue;
    }
    std::string why;
    const std::string bn_name = bn->name;
    if (fold_into_conv_input(graph, bn, c, ctx, &why)) {
      ctx.events.push_back(
          {true, "fold_batchnorm_into_consumer", c->name, bn_name,
           "BatchNormalization folded into the input channels of the following Conv"});
      ctx.bn_skip_reason.erase(bn_name);
      changed = true;
    } else {
      ctx.bn_skip_reason[bn_name] += "; into the following Conv: " + why;
    }
  }
  return changed;
}

}  // namespace keel
