// lower_qlinear_ops (keel-only, never written by `keel fold`): QLinearConv and QLinearMatMul,
// the QOperator form of quantized models (ONNX Runtime's quantize_static with
// QuantFormat.QOperator, the ONNX Model Zoo's int8 models), become the QDQ form keel runs
// (runtime/README.md#quantized-models-int8):
//
//   QLinearConv(x, sx, zx, w, sw, zw, sy, zy, B) ->
//     QuantizeLinear(Conv(DequantizeLinear(x, sx, zx), DequantizeLinear(w, sw, zw, axis 0),
//                         DequantizeLinear(B, sx * sw, axis 0)), sy, zy)
//   QLinearMatMul(a, sa, za, b, sb, zb, sy, zy) ->
//     QuantizeLinear(MatMul(DequantizeLinear(a, ...), DequantizeLinear(b, ...)), sy, zy)
//
// The operators' definitions sum integer products and multiply once by sx * sw / sy; here the
// dequantized products are summed in float32 and divided by sy, so a result lying within float32
// rounding of a .5 may land one quantization step away (the ONNX node tests agree exactly). The
// weights' DequantizeLinear then fold to float initializers like a QDQ model's.
#include <algorithm>
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
    auto node = std::make_unique<Node>();
    node->op_type = op;
    node->opset = std::max(opset_, min_opset);
    if (!out) out = graph_.create_unique_value(original_.name + "_" + op);
    node->name = out->name;
    node->inputs = std::move(inputs);
    node->outputs = {out};
    last_ = graph_.add_node(std::move(node));
    return out;
  }
  Node* last() const { return last_; }

  // DequantizeLinear(v, scale, zero_point) to float32 (float16 scales too: keel's Conv and
  // MatMul are float32), along `axis` when the scale is a vector. Opset 23 at least: the first
  // with output_dtype.
  Value* dequantize(Value* v, Value* scale, Value* zero_point, int64_t axis) {
    Value* out = add("DequantizeLinear", {v, scale, zero_point}, nullptr, 23);
    if (!zero_point) last_->inputs.resize(2);
    last_->attributes["axis"] = Attribute::of_int(axis);
    last_->attributes["output_dtype"] = Attribute::of_int(static_cast<int64_t>(DataType::kFloat32));
    out->type.dtype = DataType::kFloat32;
    return out;
  }

 private:
  Graph& graph_;
  const Node& original_;
  int opset_ = 0;
  Node* last_ = nullptr;
};

Value* input_or_null(const Node& n, size_t i) { return n.has_input(i) ? n.inputs[i] : nullptr; }

bool lower(Graph& graph, Node* n) {
  const bool conv = n->op_type == "QLinearConv";
  if (!n->has_output(0) || !n->has_input(0) || !n->has_input(3) || !n->has_input(6)) return false;
  if (!n->has_input(7)) return false;  // required (the loader's schema check refuses it)
  Value* y = n->outputs[0];
  Lowering l(graph, *n);
  // Per-row a scales (QLinearMatMul) are along A's rows, per-channel w scales along W's
  // output channels, per-column b scales along B's columns.
  Value* x = l.dequantize(n->inputs[0], n->inputs[1], input_or_null(*n, 2), conv ? 1 : -2);
  Value* w = l.dequantize(n->inputs[3], n->inputs[4], input_or_null(*n, 5), conv ? 0 : -1);
  Value* product = nullptr;
  if (conv) {
    std::vector<Value*> inputs = {x, w};
    if (n->has_input(8)) {
      Value* bias_scale = l.add("Mul", {n->inputs[1], n->inputs[4]});
      bias_scale->type.dtype = DataType::kFloat32;
      inputs.push_back(l.dequantize(n->inputs[8], bias_scale, nullptr, 0));
    }
    product = l.add("Conv", inputs);
    l.last()->attributes = n->attributes;
  } else {
    product = l.add("MatMul", {x, w});
  }
  product->type.dtype = DataType::kFloat32;
  Value* y_scale = n->inputs[6];
  Value* y_zero_point = n->inputs[7];
  graph.erase_node(n);
  l.add("QuantizeLinear", {product, y_scale, y_zero_point}, y, 13);
  return true;
}

}  // namespace

bool lower_qlinear_ops(Graph& graph, PassContext& ctx) {
  bool changed = false;
  for (Node* n : graph.nodes()) {
    if (n->erased || !n->domain.empty()) continue;
    if (n->op_type != "QLinearConv" && n->op_type != "QLinearMatMul") continue;
    const std::string name = n->name, op = n->op_type;
    if (lower(graph, n)) {
      ctx.events.push_back({true, "lower_qlinear_ops", name, name,
                            op + " as DequantizeLinear, " +
                                (op == "QLinearConv" ? "Conv" : "MatMul") + ", QuantizeLinear"});
      changed = true;
    }
  }
  return changed;
}

}  // namespace keel
