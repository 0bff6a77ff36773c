// Executor: runs a Plan with one Context (the activation arena of one in-flight run).
#pragma once

#include <chrono>
#include <cstddef>
#include <memory>
#include <vector>

#include "core/status.hpp"
#include "core/tensor.hpp"
#include "exec/plan.hpp"

namespace keel {

// Per-run memory for one plan. Not shared between concurrent runs; reused across runs.
class Context {
 public:
  static Result<std::unique_ptr<Context>> create(const Plan& plan);
  std::byte* arena() { return arena_.get(); }

  // Used by execute_plan: one view per plan tensor (rebound each run) and per-step arrays.
  std::vector<TensorView> views;
  std::vector<TensorView> step_inputs, step_outputs;

 private:
  AlignedBytes arena_;
};

// Profiling hook: told the start and end of every step execute_plan runs (index into
// plan.steps). Called on the thread that runs the plan, between steps.
class StepObserver {
 public:
  using Clock = std::chrono::steady_clock;
  virtual ~StepObserver() = default;
  virtual void on_step(size_t step_index, Clock::time_point start, Clock::time_point end) = 0;
};

// Runs the plan. `inputs` are the graph inputs in order (shapes already validated against the
// plan). Outputs are either copied into fresh tensors (`outputs`) or into caller-provided
// tensors of the right shape and dtype (`into`, no allocation). With an `observer`, each step
// is timed and reported; without one, no clock is read.
Status execute_plan(const Plan& plan, Context& context, const std::vector<const Tensor*>& inputs,
                    std::vector<Tensor>* outputs, const std::vector<Tensor*>* into = nullptr,
                    StepObserver* observer = nullptr);

}  // namespace keel
