// The contract between the planner and every operator implementation.
//
// At plan time (input shapes known) the planner builds a PrepareContext for a node and calls
// the op's factory. The factory validates attributes, input dtypes and shapes, fills in the
// output types, and returns a Kernel: an immutable object whose run() is called once per
// inference (concurrently from several runs, hence const). Kernels see raw memory only. What
// only the data of a run can reveal (an index out of range in a run-time tensor, an allocation
// failing inside a kernel) a kernel reports with report_run_failure (core/run_failure.hpp); the
// run then fails with that error, naming the node.
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "core/status.hpp"
#include "core/tensor.hpp"
#include "graph/graph.hpp"

namespace keel {

struct TensorInfo {
  DataType dtype = DataType::kUndefined;
  Shape shape;
};

// What a kernel knows about one input at plan time.
struct InputInfo {
  bool present = false;  // false for an omitted optional input
  DataType dtype = DataType::kUndefined;
  Shape shape;
  const Tensor* value = nullptr;  // known value (initializer or folded constant), else nullptr
};

// How implementations are chosen at plan time: options of the run, not decisions in the graph
// (the planner hands them to every factory).
struct ExecutionOptions {
  bool winograd = true;  // 3x3 convolutions may run as Winograd (ModelOptions::winograd)
  // Tests and benchmarks: the Conv implementation to use, by name ("" = the first that
  // supports the conv in the ordered list, kernels/conv/conv_implementation.hpp). A forced
  // implementation that does not support a conv is an error naming its reason.
  std::string conv_implementation;
};

class PrepareContext {
 public:
  PrepareContext(const Node& node, std::vector<InputInfo> inputs, int max_threads,
                 ExecutionOptions options = {});

  const Node& node;
  std::vector<InputInfo> inputs;  // one per node input slot
  int max_threads = 1;
  ExecutionOptions options;

  // Filled by the factory: one per node output slot (absent optional outputs may stay
  // kUndefined, the planner only checks outputs that are used).
  std::vector<TensorInfo> outputs;
  // Optional: the output's value is known now (e.g. Shape). Then run() is never called
  // for this node and the value becomes a plan constant.
  std::vector<std::optional<Tensor>> output_values;
  // Output i is a reinterpretation of input alias_of[i]'s bytes (Reshape, Squeeze, ...):
  // the planner gives it the same memory and never calls run() for it. -1 otherwise.
  std::vector<int> alias_of;
  // Output i may be written over input inplace_of[i] when that input dies at this node
  // (elementwise ops that read each element before writing it). -1 otherwise.
  std::vector<int> inplace_of;
  // Set by require_value() when a value is needed but unknown.
  std::vector<size_t> missing_values;
  // Set by factories that choose among implementations: the choice and why the ones before it
  // declined (printed with KEEL_VERBOSE=dispatch, shown by `keel bench --profile`).
  std::string dispatch;

  size_t num_inputs() const { return inputs.size(); }
  bool has_input(size_t i) const { return i < inputs.size() && inputs[i].present; }
  const InputInfo& input(size_t i) const { return inputs[i]; }
  int opset() const { return node.opset; }

  // Error helpers: messages name the node and the op.
  Status invalid(const std::string& message) const;           // INVALID_MODEL
  Status unsupported_case(const std::string& message) const;  // UNSUPPORTED
  // The value of input i when it is known at plan time; otherwise records it in
  // missing_values and returns nullptr (the factory then returns require_value_status()).
  const Tensor* require_value(size_t i);
  Status require_value_status(size_t i) const;

  // Checks: input i present, dtype in `allowed` (empty = any), rank in [min_rank, max_rank].
  Status check_input(size_t i, std::initializer_list<DataType> allowed, int64_t min_rank = 0,
                     int64_t max_rank = 64) const;
  void set_output(size_t i, DataType dtype, Shape shape);
};

// True when the node runs on NHWC data (graph/layout.hpp); X (input 0) must then be rank 4.
Result<bool> runs_nhwc(const PrepareContext& ctx);

// Memory handed to run(): a typed view over an input or output.
struct TensorView {
  void* data = nullptr;  // nullptr for an absent optional input/output
  DataType dtype = DataType::kUndefined;
  const Shape* shape = nullptr;
  int64_t numel = 0;

  template <typename T>
  T* as() const {
    return static_cast<T*>(data);
  }
  int64_t dim(size_t i) const { return (*shape)[i]; }
  int64_t rank() const { return static_cast<int64_t>(shape->size()); }
};

struct KernelRun {
  const TensorView* inputs = nullptr;
  size_t num_inputs = 0;
  const TensorView* outputs = nullptr;
  size_t num_outputs = 0;
  void* scratch = nullptr;  // scratch_bytes() bytes, 64-byte aligned, private to this run
  int num_threads = 1;      // threads of the session arena the run executes in

  const TensorView& in(size_t i) const { return inputs[i]; }
  const TensorView& out(size_t i) const { return outputs[i]; }
};

class Kernel {
 public:
  virtual ~Kernel() = default;
  virtual void run(const KernelRun& r) const = 0;
  // Implementation name for profiles and messages: "conv2d_nchw_im2col", "add_broadcast".
  virtual const char* name() const = 0;
  virtual size_t scratch_bytes() const { return 0; }
};

// A kernel for nodes whose outputs are all aliases or known values (nothing to run).
class NoOpKernel final : public Kernel {
 public:
  void run(const KernelRun&) const override {}
  const char* name() const override { return "noop"; }
};

using KernelFactory = Result<std::unique_ptr<Kernel>> (*)(PrepareContext& ctx);

}  // namespace keel
