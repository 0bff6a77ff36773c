// lower_qlinear_ops (keel-only, never written by `keel fold`): the QOperator form of quantized
// models (ONNX Runtime's quantize_static with QuantFormat.QOperator, the ONNX Model Zoo's int8
// models) becomes the QDQ form keel runs (runtime/README.md#quantized-models-int8): each
// quantized operator turns into DequantizeLinear of its quantized inputs, the float operator,
// and QuantizeLinear of its output:
//
//   QLinearConv(x, sx, zx, w, sw, zw, sy, zy, B) ->
//     QuantizeLinear(Conv(DQ(x, sx, zx), DQ(w, sw, zw, axis 0), DQ(B, sx * sw, axis 0)), sy, zy)
//   QLinearMatMul(a, sa, za, b, sb, zb, sy, zy) -> QuantizeLinear(MatMul(DQ(a), DQ(b)), sy, zy)
//   com.microsoft QGemm, QLinearAdd, QLinearMul, QLinearSigmoid, QLinearLeakyRelu,
//   QLinearAveragePool, QLinearGlobalAveragePool, QLinearConcat, QLinearConv: the same way
//   (their definitions: onnxruntime docs/ContribOperators.md).
//
// Where a definition sums integer products and multiplies once by sx * sw / sy, the dequantized
// products are summed in float32 and divided by sy here, so a result within float32 rounding of
// a .5 may land one quantization step away (the ONNX node tests of QLinearConv and QLinearMatMul
// agree exactly). Nodes that do not fit (channels_last, an output zero point left out, whose
// type the graph would then have to infer) stay, and the planner names them. The weights'
// DequantizeLinear then fold to float initializers like a QDQ model's.
#include <algorithm>
#include <map>
#include <memory>
#include <string>

#include "passes/pass.hpp"
#include "passes/pass_util.hpp"

namespace keel {
namespace {

class Lowering {
 public:
  Lowering(Graph& graph, const Node& original) : graph_(graph), original_(original) {
    opset_ = static_cast<int>(graph.opset_imports[""]);
  }

  // A new node of the default domain; `out` (or a fresh value) is its output.
  Value* add(const std::string& op, std::vector<Value*> inputs, Value* out = nullptr,
             int min_opset = 0) {
    if (!out) out = graph_.create_unique_value(original_.name + "_" + op);
    last_ =
        add_onnx_node(graph_, op, std::max(opset_, min_opset), out->name, std::move(inputs), {out});
    return out;
  }
  Node* last() const { return last_; }

  // DequantizeLinear(v, scale, zero_point) to float32 (float16 scales too: keel's Conv and
  // MatMul are float32), along `axis` when the scale is a vector. Opset 23 at least: the first
  // with output_dtype.
  Value* dequantize(Value* v, Value* scale, Value* zero_point, int64_t axis = 1) {
    Value* out = add("DequantizeLinear", {v, scale, zero_point}, nullptr, 23);
    if (!zero_point) last_->inputs.resize(2);
    last_->attributes["axis"] = Attribute::of_int(axis);
    last_->attributes["output_dtype"] = Attribute::of_int(static_cast<int64_t>(DataType::kFloat32));
    out->type.dtype = DataType::kFloat32;
    return out;
  }
  // The float operator's result (float32), to be quantized or returned as it is.
  Value* float_op(const std::string& op, std::vector<Value*> inputs) {
    Value* out = add(op, std::move(inputs));
    out->type.dtype = DataType::kFloat32;
    return out;
  }

 private:
  Graph& graph_;
  const Node& original_;
  int opset_ = 0;
  Node* last_ = nullptr;
};

Value* in(const Node& n, size_t i) { return n.has_input(i) ? n.inputs[i] : nullptr; }

bool channels_last(const Node& n) {
  auto c = n.attr_int("channels_last", 0);
  return !c.is_ok() || *c != 0;
}

// Rewrites `n`; false (and nothing changed) when it does not fit.
bool lower(Graph& graph, Node* n) {
  const std::string& op = n->op_type;
  const bool contrib = n->domain == "com.microsoft";
  if (!n->has_output(0)) return false;
  Value* y = n->outputs[0];
  // Where the output's scale and zero point are, and whether the result is quantized at all
  // (QGemm without y_scale returns float32).
  size_t y_scale = 0, y_zero = 0;
  bool quantized_output = true;
  // The quantized operands every form needs: (x, x_scale) at 0, 1, and a second (w or B, its
  // scale) at 3, 4 for the two-operand ones; QLinearConcat's come in triples after 0 and 1.
  std::vector<size_t> required = {0, 1, 3, 4};
  if (op == "QLinearConv" || op == "QLinearMatMul") {
    y_scale = 6, y_zero = 7;
  } else if (contrib && op == "QGemm") {
    y_scale = 7, y_zero = 8;
    quantized_output = n->has_input(7);
  } else if (contrib && (op == "QLinearAdd" || op == "QLinearMul")) {
    y_scale = 6, y_zero = 7;
  } else if (contrib && (op == "QLinearSigmoid" || op == "QLinearLeakyRelu" ||
                         op == "QLinearAveragePool" || op == "QLinearGlobalAveragePool")) {
    y_scale = 3, y_zero = 4;
    required = {0, 1};
  } else if (contrib && op == "QLinearConcat") {
    y_scale = 0, y_zero = 1;
    required = {};
  } else {
    return false;
  }
  if (quantized_output && (!n->has_input(y_scale) || !n->has_input(y_zero))) return false;
  if (channels_last(*n)) return false;
  // A malformed node (no ONNX schema checks a com.microsoft one at load) stays, refused by name.
  for (size_t i : required) {
    if (!n->has_input(i)) return false;
  }

  Lowering l(graph, *n);
  // The float operator: its type, inputs (dequantized) and attributes.
  std::string float_op;
  std::vector<Value*> inputs;
  std::map<std::string, Attribute> attributes;
  auto keep_attributes = [&] {
    for (const auto& [name, a] : n->attributes) {
      if (name != "channels_last") attributes[name] = a;
    }
  };
  if (op == "QLinearConv") {
    inputs = {l.dequantize(n->inputs[0], n->inputs[1], in(*n, 2)),
              l.dequantize(n->inputs[3], n->inputs[4], in(*n, 5), 0)};
    if (n->has_input(8)) {
      Value* bias_scale = l.float_op("Mul", {n->inputs[1], n->inputs[4]});
      inputs.push_back(l.dequantize(n->inputs[8], bias_scale, nullptr, 0));
    }
    float_op = "Conv";
    keep_attributes();
  } else if (op == "QLinearMatMul") {
    // Per-row a scales are along A's rows, per-column b scales along B's columns.
    inputs = {l.dequantize(n->inputs[0], n->inputs[1], in(*n, 2), -2),
              l.dequantize(n->inputs[3], n->inputs[4], in(*n, 5), -1)};
    float_op = "MatMul";
  } else if (op == "QGemm") {
    // Y = alpha * A'B' + C, C quantized with scale alpha * a_scale * b_scale: Gemm's beta is
    // alpha over C dequantized with a_scale * b_scale (per column of B when b_scale is).
    auto trans_b = n->attr_int("transB", 0);
    auto alpha = n->attr_float("alpha", 1.0f);
    if (!trans_b.is_ok() || !alpha.is_ok()) return false;
    inputs = {l.dequantize(n->inputs[0], n->inputs[1], in(*n, 2)),
              l.dequantize(n->inputs[3], n->inputs[4], in(*n, 5), *trans_b ? 0 : 1)};
    if (n->has_input(6)) {
      Value* c_scale = l.float_op("Mul", {n->inputs[1], n->inputs[4]});
      inputs.push_back(l.dequantize(n->inputs[6], c_scale, nullptr, -1));
    }
    float_op = "Gemm";
    keep_attributes();
    attributes["beta"] = Attribute::of_float(*alpha);
  } else if (op == "QLinearAdd" || op == "QLinearMul") {
    inputs = {l.dequantize(n->inputs[0], n->inputs[1], in(*n, 2)),
              l.dequantize(n->inputs[3], n->inputs[4], in(*n, 5))};
    float_op = op == "QLinearAdd" ? "Add" : "Mul";
  } else if (op == "QLinearConcat") {
    // Inputs: y_scale, y_zero_point, then (tensor, scale, zero point) per input.
    if (n->inputs.size() < 5 || (n->inputs.size() - 2) % 3 != 0) return false;
    for (size_t i = 2; i < n->inputs.size(); i += 3) {
      if (!n->has_input(i) || !n->has_input(i + 1)) return false;
    }
    for (size_t i = 2; i < n->inputs.size(); i += 3)
      inputs.push_back(l.dequantize(n->inputs[i], n->inputs[i + 1], in(*n, i + 2)));
    float_op = "Concat";
    keep_attributes();
  } else {
    inputs = {l.dequantize(n->inputs[0], n->inputs[1], in(*n, 2))};
    float_op = op == "QLinearSigmoid"       ? "Sigmoid"
               : op == "QLinearLeakyRelu"   ? "LeakyRelu"
               : op == "QLinearAveragePool" ? "AveragePool"
                                            : "GlobalAveragePool";
    keep_attributes();
  }

  Value* out_scale = quantized_output ? n->inputs[y_scale] : nullptr;
  Value* out_zero = quantized_output ? n->inputs[y_zero] : nullptr;
  graph.erase_node(n);
  // Without an output scale (QGemm) the float operator writes the node's output itself.
  Value* result = l.add(float_op, inputs, quantized_output ? nullptr : y);
  result->type.dtype = DataType::kFloat32;
  l.last()->attributes = attributes;
  if (quantized_output) l.add("QuantizeLinear", {result, out_scale, out_zero}, y, 13);
  return true;
}

}  // namespace

bool lower_qlinear_ops(Graph& graph, PassContext& ctx) {
  bool changed = false;
  for (Node* n : graph.nodes()) {
    if (n->erased) continue;
    if (!n->domain.empty() && n->domain != "com.microsoft") continue;
    const std::string name = n->name, op = n->op_type, domain = n->domain;
    if (lower(graph, n)) {
      ctx.events.push_back({true, "lower_qlinear_ops", name, name,
                            (domain.empty() ? "" : domain + "::") + op +
                                " as DequantizeLinear, the float operator, QuantizeLinear"});
      changed = true;
    }
  }
  return changed;
}

}  // namespace keel
