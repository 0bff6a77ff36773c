#include "exec/evaluate_node.hpp"

#include "core/aligned_buffer.hpp"
#include "core/run_failure.hpp"

namespace keel {

Result<std::vector<std::optional<Tensor>>> evaluate_node(const PrepareContext& ctx,
                                                         const Kernel& kernel,
                                                         const std::vector<const Tensor*>& inputs,
                                                         int threads) {
  const Node& node = ctx.node;
  std::vector<TensorView> in_views(node.inputs.size());
  for (size_t i = 0; i < node.inputs.size() && i < inputs.size(); ++i) {
    const Tensor* t = inputs[i];
    if (t) in_views[i] = {const_cast<void*>(t->data()), t->dtype(), &t->shape(), t->numel()};
  }
  std::vector<std::optional<Tensor>> results(node.outputs.size());
  std::vector<TensorView> out_views(node.outputs.size());
  bool must_run = false;
  for (size_t i = 0; i < node.outputs.size(); ++i) {
    if (!node.outputs[i]) continue;
    if (ctx.output_values[i]) {
      results[i] = *ctx.output_values[i];
    } else if (ctx.alias_of[i] >= 0) {
      const Tensor* src = inputs[static_cast<size_t>(ctx.alias_of[i])];
      if (!src) return internal_error(node.describe() + ": a view of an unknown input");
      results[i] = src->reshaped(ctx.outputs[i].shape);
    } else {
      if (ctx.outputs[i].dtype == DataType::kUndefined) continue;
      KEEL_ASSIGN_OR_RETURN(Tensor t, Tensor::allocate(ctx.outputs[i].dtype, ctx.outputs[i].shape));
      results[i] = std::move(t);
      must_run = true;
    }
    Tensor& r = *results[i];
    out_views[i] = {r.data(), r.dtype(), &r.shape(), r.numel()};
  }
  if (must_run) {
    AlignedBytes scratch = allocate_aligned(kernel.scratch_bytes());
    if (!scratch) return Status(StatusCode::kOutOfMemory, node.describe() + ": no scratch memory");
    KernelRun r;
    r.inputs = in_views.data();
    r.num_inputs = in_views.size();
    r.outputs = out_views.data();
    r.num_outputs = out_views.size();
    r.scratch = scratch.get();
    r.num_threads = threads;
    RunFailure failure;
    const ScopedRunFailure scope(&failure);
    kernel.run(r);
    if (failure.failed()) {
      return Status(failure.status().code(), node.describe() + ": " + failure.status().message());
    }
  }
  return results;
}

}  // namespace keel
