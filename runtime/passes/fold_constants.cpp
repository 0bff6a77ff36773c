// fold_constants: a node whose inputs are all constant initializers is evaluated at load and
// its outputs become initializers, so the folds after it see through Identity, Cast, Reshape,
// Transpose and any other pure function of weights (PyTorch shares identical biases through
// Identity nodes; some exporters cast or reshape weights in the graph).
//
// The node is evaluated with keel's own kernel for it, exactly as a run would. Skipped, and
// left for the planner: nodes of other domains, nodes with no input, graph outputs,
// overridable initializers (unless fold_overridable), nodes the kernel refuses (their error
// surfaces at plan time, unchanged), and outputs larger than kMaxGrowth times the inputs and
// over kMinLimitBytes (an Expand or ConstantOfShape that would bloat the model).
// DequantizeLinear of weights folds only for the runtime (the float weights the convolution
// then packs); `keel fold` keeps a quantized model's weights quantized.
#include <cstdint>
#include <string>

#include "exec/evaluate_node.hpp"
#include "kernels/registry.hpp"
#include "passes/pass.hpp"
#include "passes/pass_util.hpp"

namespace keel {

namespace {

constexpr uint64_t kMaxGrowth = 4;
constexpr uint64_t kMinLimitBytes = uint64_t{1} << 20;

uint64_t tensor_bytes(const Tensor& t) {
  return static_cast<uint64_t>(t.numel()) * dtype_size(t.dtype());
}

}  // namespace

// CastLike(c, x) of a constant c reads only x's type: when the graph knows it, the node is
// Cast(c, to = that type), which folds like any pure function of constants. (PyTorch's
// unoptimized dynamo exports build a zero Conv bias as Expand(CastLike(0, input), ...).)
// Returns the Cast node, or nullptr when `node` is not such a CastLike.
Node* cast_like_as_cast(Graph& graph, Node* node, PassContext& ctx) {
  if (node->op_type != "CastLike" || node->inputs.size() != 2 || !node->has_input(0) ||
      !node->has_input(1) || !node->has_output(0)) {
    return nullptr;
  }
  std::string why;
  if (!foldable_constant(node->inputs[0], ctx, "input", &why)) return nullptr;
  const Value* like = node->inputs[1];
  const DataType to = like->is_constant() ? like->constant->dtype() : like->type.dtype;
  if (to == DataType::kUndefined || !dtype_is_supported(to)) return nullptr;
  Value* const constant = node->inputs[0];
  Value* const out = node->outputs[0];
  const std::string name = node->name;
  const int opset = node->opset;
  graph.erase_node(node);
  Node* cast = add_onnx_node(graph, "Cast", opset, name, {constant}, {out});
  cast->attributes["to"] = Attribute::of_int(static_cast<int64_t>(to));
  return cast;
}

bool fold_constants(Graph& graph, PassContext& ctx) {
  bool changed = false;
  for (Node* node : graph.nodes()) {
    if (node->erased || !node->domain.empty() || node->inputs.empty()) continue;
    if (Node* cast = cast_like_as_cast(graph, node, ctx)) {
      node = cast;
      changed = true;
    }
    if (!ctx.options.runtime_fusions && node->op_type == "DequantizeLinear") continue;
    std::vector<InputInfo> infos(node->inputs.size());
    std::vector<const Tensor*> values(node->inputs.size(), nullptr);
    bool all_constant = true, any_input = false;
    uint64_t input_bytes = 0;
    for (size_t i = 0; i < node->inputs.size() && all_constant; ++i) {
      const Value* v = node->inputs[i];
      if (!v) continue;
      std::string why;
      const Tensor* t = foldable_constant(v, ctx, "input", &why);
      if (!t) {
        all_constant = false;
        break;
      }
      any_input = true;
      infos[i] = {true, t->dtype(), t->shape(), t};
      values[i] = t;
      input_bytes += tensor_bytes(*t);
    }
    if (!all_constant || !any_input) continue;
    bool output_is_graph_output = false;
    for (const Value* out : node->outputs) output_is_graph_output |= out && out->is_graph_output;
    if (output_is_graph_output) continue;
    const OpRegistration* reg =
        KernelRegistry::global().find(node->domain, node->op_type, node->opset);
    if (!reg) continue;
    PrepareContext pc(*node, std::move(infos), /*max_threads=*/1);
    auto kernel = reg->factory(pc);
    if (!kernel.is_ok()) continue;
    const uint64_t limit = std::max(kMinLimitBytes, kMaxGrowth * input_bytes);
    bool too_large = false, all_produced = true;
    for (size_t i = 0; i < node->outputs.size(); ++i) {
      if (!node->outputs[i]) continue;
      const TensorInfo& info = pc.outputs[i];
      if (info.dtype == DataType::kUndefined && !pc.output_values[i]) {
        all_produced = all_produced && node->outputs[i]->consumers.empty();
        continue;
      }
      auto n = checked_numel(info.shape);
      if (!n || static_cast<uint64_t>(*n) * dtype_size(info.dtype) > limit) too_large = true;
    }
    if (too_large || !all_produced) continue;
    auto results = evaluate_node(pc, **kernel, values, /*threads=*/1);
    if (!results.is_ok()) continue;
    std::string first_output;
    for (size_t i = 0; i < node->outputs.size(); ++i) {
      Value* out = node->outputs[i];
      if (!out || !(*results)[i]) continue;
      out->set_constant(std::move(*(*results)[i]));
      if (first_output.empty()) first_output = out->name;
    }
    graph.erase_node(node);
    ctx.events.push_back({true, "fold_constants", first_output, node->name,
                          node->op_type + " of constants evaluated at load"});
    changed = true;
  }
  return changed;
}

}  // namespace keel
