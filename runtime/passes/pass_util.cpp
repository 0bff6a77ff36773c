#include "passes/pass_util.hpp"

#include <cmath>
#include <cstring>
#include <memory>

#include "core/float16.hpp"

namespace keel {

const Tensor* foldable_constant(const Value* v, const PassContext& ctx, const std::string& role,
                                std::string* why) {
  if (!v) {
    *why = role + " is absent";
    return nullptr;
  }
  if (!v->is_constant()) {
    // The real reason: what computes the value at run time.
    if (v->producer) {
      *why = role + " '" + v->name + "' is computed at run time by " + v->producer->describe();
    } else {
      *why = role + " '" + v->name + "' is " +
             (v->is_graph_input ? "a graph input" : "not a constant initializer");
    }
    return nullptr;
  }
  if (v->is_graph_input && !ctx.options.fold_overridable) {
    *why = role + " '" + v->name +
           "' is an initializer listed as a graph input (overridable at run time); "
           "fold it with --fold-overridable";
    return nullptr;
  }
  return &*v->constant;
}

std::optional<std::vector<double>> to_doubles(const Tensor& t) {
  std::vector<double> out(static_cast<size_t>(t.numel()));
  switch (t.dtype()) {
    case DataType::kFloat32:
      for (size_t i = 0; i < out.size(); ++i) out[i] = t.data_as<float>()[i];
      return out;
    case DataType::kFloat64:
      for (size_t i = 0; i < out.size(); ++i) out[i] = t.data_as<double>()[i];
      return out;
    case DataType::kFloat16:
      for (size_t i = 0; i < out.size(); ++i) out[i] = half_bits_to_float(t.data_as<uint16_t>()[i]);
      return out;
    default: return std::nullopt;
  }
}

bool single_use(const Value* v) { return v->consumers.size() == 1 && !v->is_graph_output; }

bool extra_outputs_used(const Node& node) {
  for (size_t i = 1; i < node.outputs.size(); ++i) {
    const Value* v = node.outputs[i];
    if (v && (!v->consumers.empty() || v->is_graph_output)) return true;
  }
  return false;
}

Value* own_constant(Graph& graph, Node* node, size_t slot) {
  Value* v = node->inputs[slot];
  if (v->consumers.size() == 1 && !v->is_graph_input && !v->is_graph_output) return v;
  Value* copy = graph.create_unique_value(node->name + "_" + v->name);
  copy->constant = v->constant->clone().value();
  copy->type = v->type;
  graph.replace_input(node, slot, copy);
  return copy;
}

void set_float_constant(Value* v, const Shape& shape, const std::vector<double>& values) {
  // A fold usually replaces a float tensor by one of the same shape: write over it when no
  // other handle shares it (a fresh tensor per fold, freed and mapped again, cost ResNet-18
  // more than the folding arithmetic).
  std::optional<Tensor>& c = v->constant;
  const bool reuse = c && c->dtype() == DataType::kFloat32 && c->shape() == shape &&
                     c->sole_owner() && static_cast<size_t>(c->numel()) == values.size();
  Tensor t = reuse ? std::move(*c) : Tensor::allocate(DataType::kFloat32, shape).value();
  for (size_t i = 0; i < values.size(); ++i) t.data_as<float>()[i] = static_cast<float>(values[i]);
  v->set_constant(std::move(t));
}

std::optional<ConvConstants> conv_constants(const Node& node, const PassContext& ctx,
                                            std::string* why) {
  std::string sub;
  ConvConstants c;
  c.w = foldable_constant(node.inputs.size() > 1 ? node.inputs[1] : nullptr, ctx, "weight", &sub);
  if (!c.w) {
    *why = "constant weights: " + sub;
    return std::nullopt;
  }
  if (c.w->dtype() != DataType::kFloat32 || c.w->rank() < 3) {
    *why = "weights: expected float32 of rank >= 3, found " + dtype_name(c.w->dtype()) +
           shape_to_string(c.w->shape());
    return std::nullopt;
  }
  auto group = node.attr_int("group", 1);
  if (!group.is_ok() || *group < 1 || c.w->shape()[0] % *group != 0) {
    *why = "group: invalid group attribute";
    return std::nullopt;
  }
  c.group = *group;
  for (int64_t d = 2; d < c.w->rank(); ++d) c.taps *= c.w->shape()[d];
  const bool transposed = node.op_type == "ConvTranspose";
  c.out_channels = transposed ? c.w->shape()[1] * c.group : c.w->shape()[0];
  c.in_channels = transposed ? c.w->shape()[0] : c.w->shape()[1] * c.group;
  if (node.has_input(2)) {
    c.b = foldable_constant(node.inputs[2], ctx, "bias", &sub);
    if (!c.b) {
      *why = "constant bias: " + sub;
      return std::nullopt;
    }
    if (c.b->dtype() != DataType::kFloat32 || c.b->numel() != c.out_channels) {
      *why = "bias: expected float32[" + std::to_string(c.out_channels) + "], found " +
             dtype_name(c.b->dtype()) + shape_to_string(c.b->shape());
      return std::nullopt;
    }
  }
  return c;
}

void set_bias(Graph& graph, Node* node, size_t slot, const std::vector<double>& values) {
  const Shape shape = {static_cast<int64_t>(values.size())};
  if (node->has_input(slot)) {
    set_float_constant(own_constant(graph, node, slot), shape, values);
    return;
  }
  Value* bias = graph.create_unique_value(node->name + "_bias");
  set_float_constant(bias, shape, values);
  if (node->inputs.size() <= slot) node->inputs.resize(slot + 1, nullptr);
  graph.replace_input(node, slot, bias);
}

std::optional<BatchNormAffine> batchnorm_affine(const Node& bn, int64_t channels,
                                                const PassContext& ctx, std::string* why) {
  if (bn.inputs.size() != 5) {
    *why = "BatchNormalization has " + std::to_string(bn.inputs.size()) + " inputs, expected 5";
    return std::nullopt;
  }
  if (bn.opset >= 14) {
    auto training = bn.attr_int("training_mode", 0);
    if (!training.is_ok() || *training != 0) {
      *why = "training_mode: the node runs in training mode";
      return std::nullopt;
    }
  }
  if (extra_outputs_used(bn)) {
    *why = "optional outputs: the running/saved mean or variance output is used";
    return std::nullopt;
  }
  if (bn.opset < 9) {
    auto spatial = bn.attr_int("spatial", 1);
    if (!spatial.is_ok() || *spatial != 1) {
      *why = "spatial: spatial=0 (per-activation statistics) cannot fold per channel";
      return std::nullopt;
    }
  }
  auto eps_attr = bn.attr_float("epsilon", 1e-5f);
  if (!eps_attr.is_ok() || !std::isfinite(*eps_attr)) {
    *why = "epsilon: the attribute is not a finite float";
    return std::nullopt;
  }
  const double eps = *eps_attr;
  const char* roles[] = {"", "scale", "B", "mean", "var"};
  std::vector<double> p[5];
  for (size_t i = 1; i < 5; ++i) {
    const Tensor* t =
        foldable_constant(bn.inputs[i], ctx, std::string("parameter '") + roles[i] + "'", why);
    if (!t) {
      *why = "constant parameters: " + *why;
      return std::nullopt;
    }
    auto values = to_doubles(*t);
    if (!values) {
      *why = std::string("parameter dtype: '") + roles[i] + "' is " + dtype_name(t->dtype());
      return std::nullopt;
    }
    if (t->rank() != 1 || t->numel() != channels) {
      *why = std::string("parameter lengths: '") + roles[i] + "' has shape " +
             shape_to_string(t->shape()) + ", the producer has " + std::to_string(channels) +
             " channels";
      return std::nullopt;
    }
    p[i] = std::move(*values);
  }
  BatchNormAffine a;
  a.scale.resize(static_cast<size_t>(channels));
  a.shift.resize(static_cast<size_t>(channels));
  for (size_t c = 0; c < a.scale.size(); ++c) {
    const double denom = p[4][c] + eps;
    if (!(denom > 0)) {
      *why = "var + eps > 0: channel " + std::to_string(c) +
             " has var + eps = " + std::to_string(denom);
      return std::nullopt;
    }
    a.scale[c] = p[1][c] / std::sqrt(denom);
    a.shift[c] = p[2][c] - p[3][c] * a.scale[c];
    if (!std::isfinite(a.scale[c]) || !std::isfinite(a.shift[c])) {
      *why =
          "finite values: channel " + std::to_string(c) + " folds to a non-finite scale or shift";
      return std::nullopt;
    }
  }
  return a;
}

void absorb_output(Graph& graph, Node* producer, Node* bn) {
  Value* old_out = producer->outputs[0];
  Value* bn_out = bn->outputs[0];
  graph.erase_node(bn);
  producer->outputs[0] = bn_out;
  bn_out->producer = producer;
  old_out->producer = nullptr;
}

int64_t declared_rank(const Value* v) {
  return v && v->type.dims ? static_cast<int64_t>(v->type.dims->size()) : -1;
}

bool is_op(const Node* n, const char* op) {
  return n && !n->erased && (n->domain.empty() || n->domain == kKeelDomain) &&
         std::strcmp(onnx_op_type(*n), op) == 0 && n->outputs.size() == 1 && n->has_output(0);
}

Node* sole_consumer(const Value* v) { return single_use(v) ? v->consumers[0] : nullptr; }

Value* other_input(const Node* n, const Value* v) {
  if (n->inputs.size() != 2 || !n->inputs[0] || !n->inputs[1]) return nullptr;
  if (n->inputs[0] == v && n->inputs[1] != v) return n->inputs[1];
  if (n->inputs[1] == v && n->inputs[0] != v) return n->inputs[0];
  return nullptr;
}

std::optional<double> scalar_constant(const Value* v, const PassContext& ctx) {
  std::string why;
  const Tensor* t = foldable_constant(v, ctx, "scalar", &why);
  if (!t || t->numel() != 1) return std::nullopt;
  auto values = to_doubles(*t);
  if (!values) return std::nullopt;
  return (*values)[0];
}

Node* add_onnx_node(Graph& graph, const std::string& op, int opset, const std::string& name,
                    std::vector<Value*> inputs, std::vector<Value*> outputs) {
  auto node = std::make_unique<Node>();
  node->op_type = op;
  node->opset = opset;
  node->name = name;
  node->inputs = std::move(inputs);
  node->outputs = std::move(outputs);
  return graph.add_node(std::move(node));
}

}  // namespace keel
