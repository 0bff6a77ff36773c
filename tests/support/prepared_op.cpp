#include "support/prepared_op.hpp"

#include "core/run_failure.hpp"
#include "kernels/registry.hpp"

namespace keel::testing {

void use_fused_kind(OpCall& call) {
  Node n;
  n.op_type = call.op_type;
  n.domain = call.domain;
  make_fused(n);
  call.op_type = n.op_type;
  call.domain = n.domain;
}

Result<std::unique_ptr<PreparedOp>> PreparedOp::prepare(const OpCall& call) {
  const OpRegistration* reg = KernelRegistry::global().find(call.domain, call.op_type, call.opset);
  if (!reg)
    return unsupported("no kernel for " + call.op_type + " at opset " + std::to_string(call.opset));

  std::unique_ptr<PreparedOp> op(new PreparedOp());
  op->call_ = call;
  auto node = std::make_unique<Node>();
  node->name = "test_" + call.op_type;
  node->op_type = call.op_type;
  node->opset = call.opset;
  node->domain = call.domain;
  node->attributes = call.attributes;
  node->decisions = call.decisions;
  std::vector<InputInfo> infos;
  for (size_t i = 0; i < op->call_.inputs.size(); ++i) {
    const OpInput& in = op->call_.inputs[i];
    InputInfo info;
    if (in.tensor.empty_handle()) {
      node->inputs.push_back(nullptr);
    } else {
      node->inputs.push_back(op->graph_.get_or_create_value("in" + std::to_string(i)));
      info.present = true;
      info.dtype = in.tensor.dtype();
      info.shape = in.tensor.shape();
      if (in.constant) info.value = &in.tensor;
    }
    infos.push_back(info);
  }
  for (int i = 0; i < call.num_outputs; ++i) {
    node->outputs.push_back(op->graph_.get_or_create_value("out" + std::to_string(i)));
  }
  Node* n = op->graph_.add_node(std::move(node));

  PrepareContext ctx(*n, infos, call.threads, call.options);
  KEEL_ASSIGN_OR_RETURN(op->kernel_, reg->factory(ctx));
  op->dispatch_ = ctx.dispatch;

  for (int i = 0; i < call.num_outputs; ++i) {
    if (ctx.output_values[i]) {
      op->outputs_.push_back(*ctx.output_values[i]);
      continue;
    }
    if (ctx.alias_of[i] >= 0) {
      const Tensor& src = op->call_.inputs[ctx.alias_of[i]].tensor;
      KEEL_ASSIGN_OR_RETURN(Tensor copy, src.clone());
      op->outputs_.push_back(copy.reshaped(ctx.outputs[i].shape));
      continue;
    }
    if (ctx.outputs[i].dtype == DataType::kUndefined) {
      op->outputs_.emplace_back();
      continue;
    }
    KEEL_ASSIGN_OR_RETURN(Tensor t, Tensor::allocate(ctx.outputs[i].dtype, ctx.outputs[i].shape));
    op->outputs_.push_back(std::move(t));
  }

  op->in_views_.resize(op->call_.inputs.size());
  for (size_t i = 0; i < op->call_.inputs.size(); ++i) {
    const Tensor& t = op->call_.inputs[i].tensor;
    if (t.empty_handle()) continue;
    op->in_views_[i] = {const_cast<void*>(t.data()), t.dtype(), &t.shape(), t.numel()};
  }
  op->out_views_.resize(op->outputs_.size());
  for (size_t i = 0; i < op->outputs_.size(); ++i) {
    Tensor& t = op->outputs_[i];
    if (t.empty_handle()) continue;
    op->out_views_[i] = {t.data(), t.dtype(), &t.shape(), t.numel()};
  }
  op->scratch_ = allocate_aligned(op->kernel_->scratch_bytes());
  op->arena_ = std::make_unique<tbb::task_arena>(call.threads);
  return op;
}

Status PreparedOp::run() {
  KernelRun r;
  r.inputs = in_views_.data();
  r.num_inputs = in_views_.size();
  r.outputs = out_views_.data();
  r.num_outputs = out_views_.size();
  r.scratch = scratch_.get();
  r.num_threads = call_.threads;
  RunFailure failure;
  arena_->execute([&] {
    const ScopedRunFailure scope(&failure);
    kernel_->run(r);
  });
  return failure.failed() ? failure.status() : Status::ok();
}

}  // namespace keel::testing
