#include "exec/executor.hpp"

#include <tbb/task_arena.h>

#include <cstring>

#include "core/flush_denormals.hpp"
#include "core/run_failure.hpp"

namespace keel {

Result<std::unique_ptr<Context>> Context::create(const Plan& plan) {
  auto ctx = std::make_unique<Context>();
  ctx->arena_ = allocate_aligned(plan.scratch_offset + plan.scratch_bytes);
  if (!ctx->arena_) {
    return Status(StatusCode::kOutOfMemory,
                  "cannot allocate " + std::to_string(plan.scratch_offset + plan.scratch_bytes) +
                      " bytes of activation memory");
  }
  ctx->views.resize(plan.tensors.size());
  size_t max_in = 0, max_out = 0;
  for (const PlanStep& s : plan.steps) {
    max_in = std::max(max_in, s.inputs.size());
    max_out = std::max(max_out, s.outputs.size());
  }
  ctx->step_inputs.resize(max_in);
  ctx->step_outputs.resize(max_out);
  return ctx;
}

Status execute_plan(const Plan& plan, Context& context, const std::vector<const Tensor*>& inputs,
                    std::vector<Tensor>* outputs, const std::vector<Tensor*>* into,
                    StepObserver* observer) {
  const ScopedFlushDenormals flush;  // core/flush_denormals.hpp
  std::byte* arena = context.arena();
  for (size_t id = 0; id < plan.tensors.size(); ++id) {
    const PlannedTensor& t = plan.tensors[id];
    void* data = nullptr;
    switch (t.kind) {
      case PlannedTensor::Kind::kArena: data = arena + t.offset; break;
      case PlannedTensor::Kind::kGraphInput:
        data = const_cast<void*>(inputs[t.input_index]->data());
        break;
      case PlannedTensor::Kind::kConstant: data = const_cast<void*>(t.constant->data()); break;
    }
    context.views[id] = {data, t.dtype, &t.shape, t.numel};
  }
  RunFailure failure;  // what a kernel can only find out from the data (core/run_failure.hpp)
  const ScopedRunFailure scope(&failure);
  KernelRun r;
  r.scratch = arena + plan.scratch_offset;
  r.num_threads = tbb::this_task_arena::max_concurrency();
  for (size_t s = 0; s < plan.steps.size(); ++s) {
    const PlanStep& step = plan.steps[s];
    for (size_t i = 0; i < step.inputs.size(); ++i) {
      context.step_inputs[i] = step.inputs[i] >= 0 ? context.views[step.inputs[i]] : TensorView{};
    }
    for (size_t i = 0; i < step.outputs.size(); ++i) {
      context.step_outputs[i] =
          step.outputs[i] >= 0 ? context.views[step.outputs[i]] : TensorView{};
    }
    r.inputs = context.step_inputs.data();
    r.num_inputs = step.inputs.size();
    r.outputs = context.step_outputs.data();
    r.num_outputs = step.outputs.size();
    if (observer) {
      const StepObserver::Clock::time_point start = StepObserver::Clock::now();
      step.kernel->run(r);
      observer->on_step(s, start, StepObserver::Clock::now());
    } else {
      step.kernel->run(r);
    }
    if (failure.failed()) {
      const Status& st = failure.status();
      return Status(st.code(), (step.node ? step.node->describe() + ": " : "") + st.message());
    }
  }
  for (size_t o = 0; o < plan.output_tensors.size(); ++o) {
    const TensorView& v = context.views[plan.output_tensors[o]];
    const size_t bytes = static_cast<size_t>(v.numel) * dtype_size(v.dtype);
    if (into) {
      Tensor* dst = (*into)[o];
      if (dst->dtype() != v.dtype || dst->shape() != *v.shape) {
        return invalid_argument("output buffer " + std::to_string(o) + " has " +
                                dtype_name(dst->dtype()) + shape_to_string(dst->shape()) +
                                ", expected " + dtype_name(v.dtype) + shape_to_string(*v.shape));
      }
      if (bytes) std::memcpy(dst->data(), v.data, bytes);
    } else {
      KEEL_ASSIGN_OR_RETURN(Tensor t, Tensor::from_bytes(v.dtype, *v.shape, v.data, bytes));
      outputs->push_back(std::move(t));
    }
  }
  return Status::ok();
}

}  // namespace keel
