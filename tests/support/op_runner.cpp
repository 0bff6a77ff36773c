#include "support/op_runner.hpp"

#include <tbb/task_arena.h>

#include "kernels/registry.hpp"

namespace keel::testing {

Result<std::vector<Tensor>> run_op(const OpCall& call) {
  const OpRegistration* reg = KernelRegistry::global().find("", call.op_type, call.opset);
  if (!reg)
    return unsupported("no kernel for " + call.op_type + " at opset " + std::to_string(call.opset));

  Graph g;
  auto node = std::make_unique<Node>();
  node->name = "test_" + call.op_type;
  node->op_type = call.op_type;
  node->opset = call.opset;
  node->attributes = call.attributes;
  std::vector<InputInfo> infos;
  for (size_t i = 0; i < call.inputs.size(); ++i) {
    const OpInput& in = call.inputs[i];
    InputInfo info;
    if (in.tensor.empty_handle()) {
      node->inputs.push_back(nullptr);
    } else {
      node->inputs.push_back(g.get_or_create_value("in" + std::to_string(i)));
      info.present = true;
      info.dtype = in.tensor.dtype();
      info.shape = in.tensor.shape();
      if (in.constant) info.value = &in.tensor;
    }
    infos.push_back(info);
  }
  for (int i = 0; i < call.num_outputs; ++i) {
    node->outputs.push_back(g.get_or_create_value("out" + std::to_string(i)));
  }
  Node* n = g.add_node(std::move(node));

  PrepareContext ctx(*n, infos, call.threads);
  auto kernel = reg->factory(ctx);
  if (!kernel.is_ok()) return kernel.status();

  std::vector<Tensor> outputs;
  for (int i = 0; i < call.num_outputs; ++i) {
    if (ctx.output_values[i]) {
      outputs.push_back(*ctx.output_values[i]);
      continue;
    }
    if (ctx.alias_of[i] >= 0) {
      const Tensor& src = call.inputs[ctx.alias_of[i]].tensor;
      KEEL_ASSIGN_OR_RETURN(Tensor copy, src.clone());
      outputs.push_back(copy.reshaped(ctx.outputs[i].shape));
      continue;
    }
    if (ctx.outputs[i].dtype == DataType::kUndefined) {
      outputs.emplace_back();
      continue;
    }
    KEEL_ASSIGN_OR_RETURN(Tensor t, Tensor::allocate(ctx.outputs[i].dtype, ctx.outputs[i].shape));
    outputs.push_back(std::move(t));
  }

  std::vector<TensorView> in_views(call.inputs.size());
  for (size_t i = 0; i < call.inputs.size(); ++i) {
    const Tensor& t = call.inputs[i].tensor;
    if (t.empty_handle()) continue;
    in_views[i] = {const_cast<void*>(t.data()), t.dtype(), &t.shape(), t.numel()};
  }
  std::vector<TensorView> out_views(outputs.size());
  for (size_t i = 0; i < outputs.size(); ++i) {
    if (outputs[i].empty_handle()) continue;
    out_views[i] = {outputs[i].data(), outputs[i].dtype(), &outputs[i].shape(), outputs[i].numel()};
  }
  AlignedBytes scratch = allocate_aligned((*kernel)->scratch_bytes());
  KernelRun r;
  r.inputs = in_views.data();
  r.num_inputs = in_views.size();
  r.outputs = out_views.data();
  r.num_outputs = out_views.size();
  r.scratch = scratch.get();
  r.num_threads = call.threads;
  tbb::task_arena arena(call.threads);
  arena.execute([&] { (*kernel)->run(r); });
  return outputs;
}

}  // namespace keel::testing
