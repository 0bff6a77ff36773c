// Plan: everything decided once for one set of concrete input shapes.
//
// Nodes in topological order, one prepared Kernel per node that has work to do, constants
// folded (any node whose inputs are all known runs at plan time: shape subgraphs vanish),
// and every activation given an offset in one arena by liveness (buffers whose lifetimes do
// not overlap share memory; elementwise outputs reuse an input that dies at that node;
// reshapes are views). A run then only binds inputs and calls kernels: no allocation.
#pragma once

#include <deque>
#include <memory>
#include <string>
#include <vector>

#include "core/status.hpp"
#include "core/tensor.hpp"
#include "graph/graph.hpp"
#include "kernels/kernel.hpp"

namespace keel {

struct PlannedTensor {
  enum class Kind { kArena, kGraphInput, kConstant };
  Kind kind = Kind::kArena;
  DataType dtype = DataType::kUndefined;
  Shape shape;
  int64_t numel = 0;
  size_t offset = 0;                 // kArena: byte offset in the arena (aliases included)
  int input_index = -1;              // kGraphInput: index into the run's inputs
  const Tensor* constant = nullptr;  // kConstant
  std::string name;
};

struct PlanStep {
  const Node* node = nullptr;
  std::unique_ptr<Kernel> kernel;
  std::vector<int> inputs;   // tensor ids; -1 for an absent optional input
  std::vector<int> outputs;  // tensor ids; -1 for an absent or unused output
  std::string dispatch;      // PrepareContext::dispatch: the choice among implementations
};

// The concrete input set a plan is built for.
struct PlanInput {
  DataType dtype = DataType::kUndefined;
  Shape shape;
  const Tensor* value = nullptr;  // set when the plan is specialised on this input's value
};

struct Plan {
  std::vector<PlannedTensor> tensors;
  std::vector<PlanStep> steps;
  std::vector<int> output_tensors;  // per graph output
  size_t arena_bytes = 0;           // activations
  size_t scratch_offset = 0;        // scratch region (shared by steps, they run in order)
  size_t scratch_bytes = 0;
  int kernels_folded = 0;        // nodes evaluated at plan time
  std::deque<Tensor> constants;  // folded values and specialised inputs (stable addresses)
};

struct PlanRequest {
  const Graph* graph = nullptr;
  std::vector<PlanInput> inputs;  // one per graph->inputs
  int max_threads = 1;
  ExecutionOptions execution;
};

struct PlanOutcome {
  std::shared_ptr<Plan> plan;
  // When planning needs the values of graph inputs (e.g. a Reshape whose shape is a graph
  // input), their indices: the caller re-plans with those values bound.
  std::vector<int> needs_input_values;
};

// Must be called inside the session's task arena (constant folding may run kernels).
Result<PlanOutcome> build_plan(const PlanRequest& request);

}  // namespace keel
