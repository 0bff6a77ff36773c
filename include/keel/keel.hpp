// keel C++ API: load a model once, run it from any number of threads.
//
//   auto model = keel::Model::load_file("resnet.onnx").value();
//   auto session = keel::Session::create(model, {.threads = 2}).value();
//   auto outputs = session->run({{"input", tensor}});
//
// Thread safety: a Model is immutable after loading and may be shared by any number of
// sessions and threads. Session::run may be called concurrently from many threads; each
// call gets its own activation memory. Errors come back as Status/Result, never as crashes.
#pragma once

#include <memory>
#include <string>
#include <vector>

#include "core/api_types.hpp"
#include "core/status.hpp"
#include "core/tensor.hpp"
#include "keel/version.hpp"

namespace keel {

class Graph;  // internal (see Model::graph)

struct ModelOptions {
  bool fold = true;               // fold BatchNorm and friends into neighbours at load
  bool fold_overridable = false;  // also fold initializers that are listed as graph inputs
  bool runtime_fusions = true;    // keel-only fusions; off when the graph is to be exported
  // Storage layout of activations inside the model (inputs and outputs are always as ONNX
  // declares them): NCHW, NHWC for 2-D convolutions and the ops around them, or auto: NHWC
  // for CNNs except those with small-group convolutions (rule in passes/choose_layout.cpp).
  LayoutOption layout = LayoutOption::kAuto;
  // kNhwc: rank-4 inputs are given as [N, H, W, C] (e.g. an image decoder's HWC buffer, fed
  // without a copy); inputs() then reports those shapes. Outputs stay as declared.
  Layout input_layout = Layout::kNchw;
  // Run 3x3 stride-1 convolutions with 64 or more channels in and out (NHWC layout) as
  // Winograd F(2x2, 3x3): 2.25x fewer multiplications, error against float64 within the
  // zoo's bound (tested per model). False: the direct and implicit-GEMM kernels only.
  bool winograd = true;
  // kBf16: convolutions and matrix products with constant weights run in bfloat16 (weights
  // rounded once after folding, float32 sums and epilogues; AMX or AVX512_BF16 where the CPU has
  // them, float32 instructions on the same rounded values elsewhere), except the nodes the
  // policy keeps in float32 (precision_choices() says which and why).
  Precision precision = Precision::kFp32;
  // Under kBf16: operator types kept in float32 ("Conv", "Gemm", "MatMul").
  std::vector<std::string> fp32_ops;
  // 0: no limit. Else the most memory the model may hold: its weights at load (a model whose
  // initializers and folded weights pass it is refused), and for each plan (a set of input
  // shapes) the weights plus packed weights, constants folded at plan time, one run's
  // activations and scratch. A plan that needs more fails with OUT_OF_MEMORY before its arena
  // is allocated. Concurrent runs of one plan each hold their own activations.
  size_t max_memory_bytes = 0;
};

// Name, element type and shape of a model input or output; -1 marks a dynamic dim.
struct IoInfo {
  std::string name;
  DataType dtype = DataType::kUndefined;
  std::vector<int64_t> shape;
  std::vector<std::string> dim_names;  // symbolic names ("batch"), empty when none
  bool rank_known = true;
};

struct LoadTimings {
  double parse_ms = 0;   // file -> graph
  double passes_ms = 0;  // graph rewrites (folding, cleanup)
};

class Model {
 public:
  static Result<std::shared_ptr<const Model>> load_file(const std::string& path,
                                                        const ModelOptions& options = {});
  static Result<std::shared_ptr<const Model>> load_bytes(const void* data, size_t size,
                                                         const ModelOptions& options = {});
  ~Model();

  const std::vector<IoInfo>& inputs() const { return inputs_; }
  const std::vector<IoInfo>& outputs() const { return outputs_; }
  // The loaded graph, for keel's own tools (tools/keel: fold, inspect): an internal type
  // (runtime/graph/graph.hpp) that is not installed, so applications see only its name.
  const Graph& graph() const { return *graph_; }
  const LoadTimings& timings() const { return timings_; }
  const ModelOptions& options() const { return options_; }
  // Every fold and every skip (with its reason) made at load.
  const std::vector<FoldEvent>& fold_events() const { return fold_events_; }
  int64_t default_opset() const;
  // Under Precision::kBf16: each node a bfloat16 kernel could run, and what it runs.
  const std::vector<PrecisionChoice>& precision_choices() const { return precision_choices_; }
  // Bytes the model's constants (initializers after folding) hold.
  size_t weights_bytes() const { return weights_bytes_; }

 private:
  Model() = default;
  static Result<std::shared_ptr<const Model>> finish_load(std::unique_ptr<Graph> graph,
                                                          const ModelOptions& options,
                                                          double parse_ms);
  std::unique_ptr<Graph> graph_;
  std::vector<IoInfo> inputs_, outputs_;
  LoadTimings timings_;
  ModelOptions options_;
  std::vector<FoldEvent> fold_events_;
  std::vector<PrecisionChoice> precision_choices_;
  size_t weights_bytes_ = 0;
};

struct SessionOptions {
  int threads = 0;  // threads of this session's arena; 0 = all cores
  // An application's own arena: a `tbb::task_arena*` (oneTBB), type-erased so that keel.hpp
  // does not include TBB. When set, every run (and planning) executes in that arena instead of
  // one the session creates, `threads` must be 0 or equal its max_concurrency(), and
  // Session::threads() reports its max_concurrency(). The caller owns the arena and keeps it
  // alive, and its concurrency unchanged, for the session's lifetime; sessions may share it.
  void* tbb_task_arena = nullptr;
};

struct NamedTensor {
  std::string name;
  Tensor tensor;
};

// One step of the execution plan made for a set of input shapes (profiling, tools).
// Absent optional inputs or outputs have dtype kUndefined and an empty shape.
struct StepInfo {
  std::string node_name;
  std::string op_type;
  std::string kernel;  // implementation name ("conv_nchw_im2col", ...)
  // For operators with several implementations: the choice and why each one before it in the
  // list declined ("conv_nhwc_gemm; declined: conv_nhwc_1x1: kernel [3,3]; ..."), else "".
  std::string dispatch;
  std::vector<std::vector<int64_t>> input_shapes, output_shapes;
  std::vector<DataType> input_dtypes, output_dtypes;
};

// When one executed step started and ended (std::chrono::steady_clock, nanoseconds since its
// epoch); `step` indexes the vector describe_plan returns.
struct StepTiming {
  int step = 0;
  int64_t start_ns = 0;
  int64_t end_ns = 0;
};

class Session {
 public:
  // Plans eagerly when every input dim is known, so shape errors surface here.
  static Result<std::unique_ptr<Session>> create(std::shared_ptr<const Model> model,
                                                 const SessionOptions& options = {});
  ~Session();

  // Runs the model; outputs in the model's output order. Thread-safe.
  Result<std::vector<Tensor>> run(const std::vector<NamedTensor>& feeds) const;
  // Same, writing output i into *outputs[i] (e.g. a Tensor::view over the caller's memory),
  // whose dtype and shape must equal the output's (checked before running: a rejected call
  // writes none of them): no output allocation. Thread-safe.
  Status run_into(const std::vector<NamedTensor>& feeds, const std::vector<Tensor*>& outputs) const;
  // Plans for these input shapes now (otherwise the first run with them does).
  Status prepare(const std::vector<NamedTensor>& example_feeds) const;

  // Profiling. run_profiled is run() that also appends one StepTiming per executed step to
  // `timings` (when not null); thread-safe like run(). describe_plan plans for these feeds
  // (if not done yet) and describes the steps a run with them executes, in order.
  Result<std::vector<Tensor>> run_profiled(const std::vector<NamedTensor>& feeds,
                                           std::vector<StepTiming>* timings) const;
  Result<std::vector<StepInfo>> describe_plan(const std::vector<NamedTensor>& feeds) const;
  // Median time, in microseconds, of an empty parallel loop over all of this session's
  // threads inside its task arena: the fork/join cost every parallel operator pays.
  double parallel_overhead_us(int samples = 1000) const;

  const Model& model() const { return *model_; }
  int threads() const;
  // Bytes of activation memory one run needs for the most recently planned shapes.
  size_t activation_bytes() const;

  struct Impl;  // internal

 private:
  Session() = default;
  std::shared_ptr<const Model> model_;
  std::unique_ptr<Impl> impl_;
};

}  // namespace keel
