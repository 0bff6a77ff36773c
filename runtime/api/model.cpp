#include <chrono>
#include <cstdio>
#include <mutex>
#include <set>

#include "core/cpu_features.hpp"
#include "core/memory_budget.hpp"
#include "graph/graph.hpp"
#include "graph/validate.hpp"
#include "keel/keel.hpp"
#include "onnx/import_model.hpp"
#include "passes/pass.hpp"

namespace keel {

namespace {

double ms_since(std::chrono::steady_clock::time_point t0) {
  return std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0).count();
}

IoInfo describe_value(const Value& v) {
  IoInfo info;
  info.name = v.name;
  info.dtype = v.type.dtype;
  if (v.is_constant()) {
    info.dtype = v.constant->dtype();
    info.shape = v.constant->shape();
    return info;
  }
  if (!v.type.dims) {
    info.rank_known = false;
    return info;
  }
  for (const Dim& d : *v.type.dims) {
    info.shape.push_back(d.known() ? d.value : -1);
    info.dim_names.push_back(d.symbol);
  }
  return info;
}

}  // namespace

Model::~Model() = default;

int64_t Model::default_opset() const {
  auto it = graph_->opset_imports.find("");
  return it == graph_->opset_imports.end() ? 0 : it->second;
}

namespace {

// Runs a load under options.max_memory_bytes: what parsing and the passes keep alive counts.
template <class Load>
Result<std::shared_ptr<const Model>> load_within_budget(const ModelOptions& options, Load&& load) {
  MemoryBudget budget(options.max_memory_bytes, 0);
  Result<std::shared_ptr<const Model>> model = internal_error("not loaded");
  {
    MemoryBudgetScope scope(&budget);
    model = load();
  }
  if (budget.exceeded()) return budget.exceeded_status("loading the model");
  return model;
}

}  // namespace

Result<std::shared_ptr<const Model>> Model::load_file(const std::string& path,
                                                      const ModelOptions& options) {
  auto model = load_within_budget(options, [&]() -> Result<std::shared_ptr<const Model>> {
    const auto t0 = std::chrono::steady_clock::now();
    KEEL_ASSIGN_OR_RETURN(std::unique_ptr<Graph> graph, import_model_file(path));
    return finish_load(std::move(graph), options, ms_since(t0));
  });
  // Errors of the import already start with the path; the passes' and the budget's do not.
  const std::string quoted = "'" + path + "'";
  if (!model.is_ok() && model.status().message().rfind(quoted, 0) != 0) {
    return model.status().with_context(quoted);
  }
  return model;
}

Result<std::shared_ptr<const Model>> Model::load_bytes(const void* data, size_t size,
                                                       const ModelOptions& options) {
  return load_within_budget(options, [&]() -> Result<std::shared_ptr<const Model>> {
    const auto t0 = std::chrono::steady_clock::now();
    KEEL_ASSIGN_OR_RETURN(std::unique_ptr<Graph> graph, import_model_bytes(data, size, {}));
    return finish_load(std::move(graph), options, ms_since(t0));
  });
}

namespace {

// Says once per process, on stderr, when bfloat16 cannot be faster here.
void note_bf16_tier_once() {
  static std::once_flag once;
  std::call_once(once, [] {
    if (active_bf16_tier() != Bf16Tier::kEmulated) return;
    std::fprintf(stderr,
                 "keel: this CPU has no AVX512_BF16 or AMX (or KEEL_MAX_ISA caps them): bf16 runs "
                 "the same bfloat16 rounding on float32 instructions, not faster than fp32\n");
  });
}

}  // namespace

Result<std::shared_ptr<const Model>> Model::finish_load(std::unique_ptr<Graph> graph,
                                                        const ModelOptions& options,
                                                        double parse_ms) {
  const auto t0 = std::chrono::steady_clock::now();
  KEEL_RETURN_IF_ERROR(check_operators_supported(*graph));
  KEEL_RETURN_IF_ERROR(check_constant_parameters(*graph));
  PassContext passes;
  passes.options.fold = options.fold;
  passes.options.fold_overridable = options.fold_overridable;
  passes.options.runtime_fusions = options.runtime_fusions;
  passes.options.layout = options.layout;
  passes.options.input_layout = options.input_layout;
  passes.options.precision = options.precision;
  passes.options.fp32_ops = options.fp32_ops;
  KEEL_RETURN_IF_ERROR(run_load_passes(*graph, passes));
  std::shared_ptr<Model> model(new Model());
  model->fold_events_ = std::move(passes.events);
  model->precision_choices_ = std::move(passes.precision);
  if (options.precision == Precision::kBf16) note_bf16_tier_once();
  model->options_ = options;
  model->timings_.parse_ms = parse_ms;
  model->timings_.passes_ms = ms_since(t0);
  std::set<const void*> counted;  // constants may share storage
  for (const auto& v : graph->values()) {
    if (v->is_constant() && counted.insert(v->constant->data()).second) {
      model->weights_bytes_ += v->constant->nbytes();
    }
  }
  for (const Value* v : graph->inputs) model->inputs_.push_back(describe_value(*v));
  for (const Value* v : graph->outputs) model->outputs_.push_back(describe_value(*v));
  model->graph_ = std::move(graph);
  return std::shared_ptr<const Model>(std::move(model));
}

}  // namespace keel
