// fold_batchnorm: a BatchNormalization after a Conv, ConvTranspose, Gemm or MatMul (constant
// weights) disappears into that operator: W'[o] = W[o] * s[o], b'[o] = (b[o] - mean[o]) * s[o]
// + beta[o], in double, rounded to float once. The producer takes the BN's output name.
#include <cmath>

#include "passes/pass_util.hpp"

namespace keel {

namespace {

struct Fold {
  std::string what;  // filled on success: how it folded
};

// Output channels of a Conv: W is [C_out, C_in/group, k...].
bool fold_into_conv(Graph& g, Node* conv, Node* bn, PassContext& ctx, std::string* why) {
  auto cc = conv_constants(*conv, ctx, why);
  if (!cc) return false;
  const Tensor* w = cc->w;
  const Tensor* b = cc->b;
  const int64_t cout = cc->out_channels;
  auto affine = batchnorm_affine(*bn, cout, ctx, why);
  if (!affine) return false;

  const int64_t per = w->numel() / cout;
  std::vector<double> w_new(static_cast<size_t>(w->numel()));
  for (int64_t o = 0; o < cout; ++o) {
    for (int64_t i = 0; i < per; ++i) {
      w_new[o * per + i] = static_cast<double>(w->data_as<float>()[o * per + i]) * affine->scale[o];
    }
  }
  std::vector<double> b_new(static_cast<size_t>(cout));
  for (int64_t o = 0; o < cout; ++o) {
    const double b0 = b ? static_cast<double>(b->data_as<float>()[o]) : 0.0;
    b_new[o] = b0 * affine->scale[o] + affine->shift[o];
  }
  const Shape w_shape = w->shape();
  set_float_constant(own_constant(g, conv, 1), w_shape, w_new);
  set_bias(g, conv, 2, b_new);
  return true;
}

// ConvTranspose: W is [C_in, C_out/group, k...]; output channel o = grp * (C_out/group) + j.
bool fold_into_conv_transpose(Graph& g, Node* convt, Node* bn, PassContext& ctx, std::string* why) {
  auto cc = conv_constants(*convt, ctx, why);
  if (!cc) return false;
  const Tensor* w = cc->w;
  const Tensor* b = cc->b;
  const int64_t cin = cc->in_channels, cout = cc->out_channels, k = cc->taps;
  const int64_t cout_g = cout / cc->group, cin_g = cin / cc->group;
  auto affine = batchnorm_affine(*bn, cout, ctx, why);
  if (!affine) return false;
  std::vector<double> w_new(static_cast<size_t>(w->numel()));
  for (int64_t i = 0; i < cin; ++i) {
    const int64_t grp = i / cin_g;
    for (int64_t j = 0; j < cout_g; ++j) {
      const double s = affine->scale[grp * cout_g + j];
      for (int64_t t = 0; t < k; ++t) {
        const int64_t idx = (i * cout_g + j) * k + t;
        w_new[idx] = static_cast<double>(w->data_as<float>()[idx]) * s;
      }
    }
  }
  std::vector<double> b_new(static_cast<size_t>(cout));
  for (int64_t o = 0; o < cout; ++o) {
    b_new[o] = (b ? static_cast<double>(b->data_as<float>()[o]) : 0.0) * affine->scale[o] +
               affine->shift[o];
  }
  const Shape w_shape = w->shape();
  set_float_constant(own_constant(g, convt, 1), w_shape, w_new);
  set_bias(g, convt, 2, b_new);
  return true;
}

// Gemm: Y = alpha * A' B' + beta * C with Y [M, N]; BN over axis 1 scales the columns:
// B' columns by s, and the new C = beta * C * s + shift with beta = 1.
bool fold_into_gemm(Graph& g, Node* gemm, Node* bn, PassContext& ctx, std::string* why) {
  std::string w_why;
  const Tensor* b =
      foldable_constant(gemm->inputs.size() > 1 ? gemm->inputs[1] : nullptr, ctx, "B", &w_why);
  if (!b) {
    *why = "constant weights: " + w_why;
    return false;
  }
  auto trans_b = gemm->attr_int("transB", 0);
  auto beta_attr = gemm->attr_float("beta", 1.0f);
  if (!trans_b.is_ok() || !beta_attr.is_ok() || b->dtype() != DataType::kFloat32 ||
      b->rank() != 2) {
    *why = "weights: expected float32 B of rank 2 and valid transB/beta";
    return false;
  }
  if (gemm->opset < 7) {
    *why = "opset: Gemm before opset 7 uses the old broadcast attribute";
    return false;
  }
  const int64_t n = *trans_b ? b->shape()[0] : b->shape()[1];
  const int64_t k = *trans_b ? b->shape()[1] : b->shape()[0];
  const Tensor* c = nullptr;
  if (gemm->has_input(2)) {
    std::string c_why;
    c = foldable_constant(gemm->inputs[2], ctx, "C", &c_why);
    if (!c) {
      *why = "constant bias: " + c_why;
      return false;
    }
    // Per-column or scalar C only: a C with an M dimension would need M at load time.
    const bool per_column = c->dtype() == DataType::kFloat32 &&
                            (c->numel() == 1 || (c->numel() == n && c->shape().back() == n &&
                                                 (c->rank() == 1 || c->shape()[0] == 1)));
    if (!per_column) {
      *why = "bias: C of shape " + shape_to_string(c->shape()) + " is not per column";
      return false;
    }
  }
  auto affine = batchnorm_affine(*bn, n, ctx, why);
  if (!affine) return false;
  std::vector<double> b_new(static_cast<size_t>(b->numel()));
  for (int64_t i = 0; i < k; ++i) {
    for (int64_t j = 0; j < n; ++j) {
      const int64_t idx = *trans_b ? j * k + i : i * n + j;
      b_new[idx] = static_cast<double>(b->data_as<float>()[idx]) * affine->scale[j];
    }
  }
  std::vector<double> c_new(static_cast<size_t>(n));
  for (int64_t j = 0; j < n; ++j) {
    const double c0 = c ? static_cast<double>(c->data_as<float>()[c->numel() == 1 ? 0 : j]) : 0.0;
    c_new[j] = static_cast<double>(*beta_attr) * c0 * affine->scale[j] + affine->shift[j];
  }
  const Shape b_shape = b->shape();
  set_float_constant(own_constant(g, gemm, 1), b_shape, b_new);
  Value* bias = g.create_unique_value(gemm->name + "_C");
  set_float_constant(bias, {n}, c_new);
  gemm->inputs.resize(3, nullptr);
  g.replace_input(gemm, 2, bias);
  gemm->attributes["beta"] = Attribute::of_float(1.0f);
  return true;
}

// MatMul with constant B [K, N] and a rank-2 output: the columns are the BN's channels.
// B's columns are scaled and the BN becomes Add(shift) (MatMul has no bias input).
bool fold_into_matmul(Graph& g, Node* mm, Node* bn, PassContext& ctx, std::string* why) {
  std::string w_why;
  const Tensor* b = foldable_constant(mm->inputs[1], ctx, "B", &w_why);
  if (!b) {
    *why = "constant weights: " + w_why;
    return false;
  }
  if (b->dtype() != DataType::kFloat32 || b->rank() != 2) {
    *why = "weights: expected float32 B of rank 2";
    return false;
  }
  const int64_t rank_a = declared_rank(mm->inputs[0]);
  const int64_t rank_y = std::max(declared_rank(mm->outputs[0]), declared_rank(bn->outputs[0]));
  if (rank_a != 2 && rank_y != 2) {
    *why =
        "rank: the MatMul output is not known to be rank 2, so its last axis may not be the "
        "BatchNorm channel axis";
    return false;
  }
  const int64_t k = b->shape()[0], n = b->shape()[1];
  auto affine = batchnorm_affine(*bn, n, ctx, why);
  if (!affine) return false;
  std::vector<double> b_new(static_cast<size_t>(b->numel()));
  for (int64_t i = 0; i < k; ++i) {
    for (int64_t j = 0; j < n; ++j)
      b_new[i * n + j] = static_cast<double>(b->data_as<float>()[i * n + j]) * affine->scale[j];
  }
  const Shape b_shape = b->shape();
  set_float_constant(own_constant(g, mm, 1), b_shape, b_new);
  // The BN node becomes Add(matmul_out, shift): same output value, same name.
  Value* shift = g.create_unique_value(bn->name + "_shift");
  set_float_constant(shift, {n}, affine->shift);
  auto add = std::make_unique<Node>();
  add->name = bn->name;
  add->op_type = "Add";
  add->opset = bn->opset;
  add->inputs = {mm->outputs[0], shift};
  if (add->opset < 7) {
    // Add-1/6 broadcasts only when asked to: [M, N] + [N] aligns the trailing dims.
    add->attributes["broadcast"] = Attribute::of_int(1);
  }
  Value* out = bn->outputs[0];
  g.erase_node(bn);
  add->outputs = {out};
  g.add_node(std::move(add));
  return true;
}

}  // namespace

bool fold_batchnorm_into_producer(Graph& graph, PassContext& ctx) {
  bool changed = false;
  for (Node* bn : graph.nodes()) {
    if (bn->erased || bn->op_type != "BatchNormalization" || !bn->domain.empty()) continue;
    if (!bn->has_input(0) || !bn->has_output(0)) continue;
    Value* x = bn->inputs[0];
    Node* p = x->producer;
    std::string why;
    if (!p) {
      why = "producer: the input is a graph input or constant, not a linear operator";
    } else if (p->op_type != "Conv" && p->op_type != "ConvTranspose" && p->op_type != "Gemm" &&
               p->op_type != "MatMul") {
      why = "producer: follows " + p->op_type + " '" + p->name +
            "', not a Conv, ConvTranspose, Gemm or MatMul";
    } else if (!p->domain.empty()) {
      why = "producer: not in the default ONNX domain";
    } else if (p->outputs.empty() || p->outputs[0] != x || !single_use(x)) {
      why = "single consumer: " + p->op_type + " '" + p->name +
            "' output is also used elsewhere or is a graph output";
    } else {
      bool ok = false;
      const std::string producer_name = p->name;
      if (p->op_type == "Conv")
        ok = fold_into_conv(graph, p, bn, ctx, &why);
      else if (p->op_type == "ConvTranspose")
        ok = fold_into_conv_transpose(graph, p, bn, ctx, &why);
      else if (p->op_type == "Gemm")
        ok = fold_into_gemm(graph, p, bn, ctx, &why);
      else
        ok = fold_into_matmul(graph, p, bn, ctx, &why);
      if (ok) {
        const std::string bn_name = bn->name;
        if (p->op_type != "MatMul") absorb_output(graph, p, bn);
        ctx.events.push_back({true, "fold_batchnorm", producer_name, bn_name,
                              "BatchNormalization folded into " + p->op_type + " weights"});
        ctx.bn_skip_reason.erase(bn_name);
        changed = true;
        continue;
      }
    }
    ctx.bn_skip_reason[bn->name] = why;
  }
  return changed;
}

}  // namespace keel
