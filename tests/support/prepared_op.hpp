// One operator outside any model, prepared once through the kernel registry and runnable any
// number of times on the same inputs: the kernel unit tests (through run_op) and the kernel
// microbenchmarks both use it, so a benchmark times exactly the code the tests check.
#pragma once

#include <tbb/task_arena.h>

#include <map>
#include <memory>
#include <string>
#include <vector>

#include "core/aligned_buffer.hpp"
#include "core/status.hpp"
#include "core/tensor.hpp"
#include "graph/graph.hpp"
#include "kernels/kernel.hpp"

namespace keel::testing {

struct OpInput {
  Tensor tensor;          // empty_handle() for an omitted optional input
  bool constant = false;  // visible to the factory as a known value
};

struct OpCall {
  OpCall() = default;
  OpCall(std::string op, int op_opset = 17, std::map<std::string, Attribute> attrs = {},
         std::vector<OpInput> ins = {}, int outputs = 1, int arena_threads = 1)
      : op_type(std::move(op)),
        opset(op_opset),
        attributes(std::move(attrs)),
        inputs(std::move(ins)),
        num_outputs(outputs),
        threads(arena_threads) {}

  std::string op_type;
  int opset = 17;
  std::map<std::string, Attribute> attributes;
  std::vector<OpInput> inputs;
  int num_outputs = 1;
  int threads = 1;  // size of the task_arena the kernel runs in
  // What the load passes would have decided (layout, fused activation: graph/fused_ops.hpp);
  // a fused kind sets `domain` to kKeelDomain.
  NodeDecisions decisions;
  std::string domain;
  ExecutionOptions options;  // the plan request's (Winograd, a forced implementation)
};

// Makes `call` the fused kind of its standard op (Conv -> FusedConv, ...: graph/fused_ops.hpp),
// as a fusion pass does to a node.
void use_fused_kind(OpCall& call);

class PreparedOp {
 public:
  // Builds the node, runs the op's factory and allocates the outputs; the factory's error
  // otherwise. `call` is copied (tensors are shared handles, so inputs are not copied).
  static Result<std::unique_ptr<PreparedOp>> prepare(const OpCall& call);

  // Runs the kernel once in this op's task_arena, writing outputs(); what the kernel reported as
  // a run-time failure otherwise (core/run_failure.hpp).
  Status run();
  // An output the kernel aliases to an input is a copy of that input, made by prepare.
  const std::vector<Tensor>& outputs() const { return outputs_; }
  const char* kernel_name() const { return kernel_->name(); }
  // PrepareContext::dispatch: the choice among implementations and the declines before it.
  const std::string& dispatch() const { return dispatch_; }

 private:
  PreparedOp() = default;

  OpCall call_;
  Graph graph_;
  std::unique_ptr<Kernel> kernel_;
  std::string dispatch_;
  std::vector<Tensor> outputs_;
  std::vector<TensorView> in_views_, out_views_;
  AlignedBytes scratch_;
  std::unique_ptr<tbb::task_arena> arena_;
};

}  // namespace keel::testing
