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
  auto cc = conv_constants(*conv, ctx, why);
  if (!cc) return false;
  const Tensor* w = cc->w;
  const Tensor* b = cc->b;
  const int64_t cout = cc->out_channels, cin = cc->in_channels, k = cc->taps;
  const int64_t cout_g = cout / cc->group, cin_g = cin / cc->group;
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
