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

#include "core/status.hpp"
#include "core/tensor.hpp"
#include "keel/version.hpp"
#include "passes/pass.hpp"

namespace keel {

class Graph;

struct ModelOptions {
  bool fold = true;               // fold BatchNorm and friends into neighbours at load
  bool fold_overridable = false;  // also fold initializers that are listed as graph inputs
  bool runtime_fusions = true;    // keel-only fusions; off when the graph is to be exported
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
  const Graph& graph() const { return *graph_; }
  const LoadTimings& timings() const { return timings_; }
  // Every fold and every skip (with its reason) made at load.
  const std::vector<FoldEvent>& fold_events() const { return fold_events_; }
  int64_t default_opset() const;

 private:
  Model() = default;
  static Result<std::shared_ptr<const Model>> finish_load(std::unique_ptr<Graph> graph,
                                                          const ModelOptions& options,
                                                          double parse_ms);
  std::unique_ptr<Graph> graph_;
  std::vector<IoInfo> inputs_, outputs_;
  LoadTimings timings_;
  std::vector<FoldEvent> fold_events_;
};

struct SessionOptions {
  int threads = 0;  // threads of this session's arena; 0 = all cores
};

struct NamedTensor {
  std::string name;
  Tensor tensor;
};

class Session {
 public:
  // Plans eagerly when every input dim is known, so shape errors surface here.
  static Result<std::unique_ptr<Session>> create(std::shared_ptr<const Model> model,
                                                 const SessionOptions& options = {});
  ~Session();

  // Runs the model; outputs in the model's output order. Thread-safe.
  Result<std::vector<Tensor>> run(const std::vector<NamedTensor>& feeds) const;
  // Plans for these input shapes now (otherwise the first run with them does).
  Status prepare(const std::vector<NamedTensor>& example_feeds) const;

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
