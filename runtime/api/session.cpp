#include <tbb/blocked_range.h>
#include <tbb/parallel_for.h>
#include <tbb/partitioner.h>
#include <tbb/task_arena.h>

#include <algorithm>
#include <chrono>
#include <cstdint>
#include <deque>
#include <map>
#include <mutex>
#include <set>
#include <thread>

#include "core/flush_denormals.hpp"
#include "core/memory_budget.hpp"
#include "exec/executor.hpp"
#include "exec/plan.hpp"
#include "graph/graph.hpp"
#include "keel/keel.hpp"

namespace keel {

namespace {

// A plan and the contexts (activation arenas) of the runs that use it. A run borrows a
// context and gives it back, so steady-state runs allocate nothing for activations.
struct PlanEntry {
  std::shared_ptr<Plan> plan;
  std::mutex pool_mutex;
  std::vector<std::unique_ptr<Context>> idle;
};

// Calls run(context) with a context borrowed from the entry's pool (a new one when none is
// idle) and gives it back after, whatever run returns.
template <class Run>
Status with_borrowed_context(PlanEntry& entry, Run&& run) {
  std::unique_ptr<Context> ctx;
  {
    std::lock_guard lock(entry.pool_mutex);
    if (!entry.idle.empty()) {
      ctx = std::move(entry.idle.back());
      entry.idle.pop_back();
    }
  }
  if (!ctx) {
    KEEL_ASSIGN_OR_RETURN(ctx, Context::create(*entry.plan));
  }
  const Status st = run(*ctx);
  std::lock_guard lock(entry.pool_mutex);
  entry.idle.push_back(std::move(ctx));
  return st;
}

}  // namespace

struct Session::Impl {
  // Runs in `external` when given (owned by the application), else in an arena of its own.
  Impl(int threads, tbb::task_arena* external)
      : own(external ? 1 : threads), arena(external ? *external : own), threads(threads) {}
  tbb::task_arena own;  // unused (never initialized, so no threads) when `external` is given
  tbb::task_arena& arena;
  int threads = 1;
  ExecutionOptions execution;  // from the model's options, for every plan
  size_t max_memory = 0;       // ModelOptions::max_memory_bytes
  size_t weights_bytes = 0;    // the model's, counted against max_memory by every plan
  mutable std::mutex mutex;    // guards the maps below
  std::map<std::string, std::shared_ptr<PlanEntry>> plans;  // key: input shapes (+ values)
  std::set<int> value_inputs;  // graph inputs whose values specialise the plan
  std::shared_ptr<PlanEntry> last;
};

Session::~Session() = default;

int Session::threads() const { return impl_->threads; }

size_t Session::activation_bytes() const {
  std::lock_guard lock(impl_->mutex);
  return impl_->last ? impl_->last->plan->scratch_offset + impl_->last->plan->scratch_bytes : 0;
}

namespace {

// Orders feeds like the graph inputs and checks names, dtypes and shapes against the model.
Result<std::vector<const Tensor*>> bind_feeds(const Model& model,
                                              const std::vector<NamedTensor>& feeds) {
  const auto& inputs = model.inputs();
  std::vector<const Tensor*> bound(inputs.size(), nullptr);
  for (const NamedTensor& f : feeds) {
    size_t i = 0;
    while (i < inputs.size() && inputs[i].name != f.name) ++i;
    if (i == inputs.size()) {
      std::string names;
      for (const auto& in : inputs) names += (names.empty() ? "'" : ", '") + in.name + "'";
      return invalid_argument("the model has no input named '" + f.name + "' (inputs: " + names +
                              ")");
    }
    if (bound[i]) return invalid_argument("input '" + f.name + "' is given twice");
    const IoInfo& info = inputs[i];
    const Tensor& t = f.tensor;
    if (t.empty_handle() || (t.data() == nullptr && t.numel() > 0)) {
      return invalid_argument("input '" + f.name + "' has no data");
    }
    if (info.dtype != DataType::kUndefined && t.dtype() != info.dtype) {
      return invalid_argument("input '" + f.name + "' has type " + dtype_name(t.dtype()) +
                              ", the model expects " + dtype_name(info.dtype));
    }
    if (info.rank_known) {
      bool ok = t.rank() == static_cast<int64_t>(info.shape.size());
      for (size_t d = 0; ok && d < info.shape.size(); ++d) {
        ok = info.shape[d] < 0 || info.shape[d] == t.shape()[d];
      }
      if (!ok) {
        std::string want = "[";
        for (size_t d = 0; d < info.shape.size(); ++d) {
          want += (d ? "," : "") + (info.shape[d] < 0
                                        ? (info.dim_names[d].empty() ? "?" : info.dim_names[d])
                                        : std::to_string(info.shape[d]));
        }
        return invalid_argument("input '" + f.name + "' has shape " + shape_to_string(t.shape()) +
                                ", the model expects " + want + "]");
      }
    }
    bound[i] = &t;
  }
  for (size_t i = 0; i < inputs.size(); ++i) {
    if (!bound[i]) return invalid_argument("input '" + inputs[i].name + "' is missing");
  }
  return bound;
}

// Kernels read elements as their type, so a view of misaligned bytes (a binary tensor after an
// HTTP request's JSON header, a buffer at an odd offset) is copied into aligned storage first.
Status align_inputs(std::vector<const Tensor*>& inputs, std::deque<Tensor>& copies) {
  for (const Tensor*& t : inputs) {
    const size_t esize = dtype_size(t->dtype());
    if (esize > 1 && reinterpret_cast<uintptr_t>(t->data()) % esize != 0) {
      KEEL_ASSIGN_OR_RETURN(Tensor copy, t->clone());
      copies.push_back(std::move(copy));
      t = &copies.back();
    }
  }
  return Status::ok();
}

std::string describe_shapes(const std::vector<const Tensor*>& inputs) {
  std::string out;
  for (const Tensor* t : inputs) out += (out.empty() ? "" : ", ") + shape_to_string(t->shape());
  return out;
}

std::string plan_key(const std::vector<const Tensor*>& inputs, const std::set<int>& value_inputs) {
  std::string key;
  for (size_t i = 0; i < inputs.size(); ++i) {
    key += dtype_name(inputs[i]->dtype()) + shape_to_string(inputs[i]->shape()) + ";";
    if (value_inputs.count(static_cast<int>(i))) {
      key.append(static_cast<const char*>(inputs[i]->data()), inputs[i]->nbytes());
      key += ";";
    }
  }
  return key;
}

}  // namespace

namespace {

// Before any placeholder is allocated: every declared input's size is representable and, with
// the weights, within max_memory_bytes.
Status check_declared_inputs_fit(const Model& model) {
  const size_t limit = model.options().max_memory_bytes;
  size_t total = model.weights_bytes();
  for (const IoInfo& in : model.inputs()) {
    auto n = checked_numel(in.shape);
    const size_t esize = dtype_size(in.dtype);
    if (!n || esize == 0 || static_cast<uint64_t>(*n) > (uint64_t{1} << 46) / esize) {
      return invalid_argument("input '" + in.name + "' declares shape " +
                              shape_to_string(in.shape) + ", too large to allocate");
    }
    const size_t bytes = static_cast<size_t>(*n) * esize;
    total += bytes;
    if (limit != 0 && total > limit) {
      return Status(StatusCode::kOutOfMemory,
                    "input '" + in.name + "' declares shape " + shape_to_string(in.shape) + " (" +
                        format_bytes(bytes) + "): with the weights and the inputs before it " +
                        "that passes max_memory_bytes (" + format_bytes(limit) + ")");
    }
  }
  return Status::ok();
}

}  // namespace

Result<std::unique_ptr<Session>> Session::create(std::shared_ptr<const Model> model,
                                                 const SessionOptions& options) {
  if (!model) return invalid_argument("Session::create: no model");
  if (options.threads < 0) return invalid_argument("threads must be >= 0");
  const int hw = static_cast<int>(std::max(1u, std::thread::hardware_concurrency()));
  int threads = options.threads == 0 ? hw : options.threads;
  auto* external = static_cast<tbb::task_arena*>(options.tbb_task_arena);
  if (external) {
    const int concurrency = external->max_concurrency();
    if (options.threads != 0 && options.threads != concurrency) {
      return invalid_argument("threads is " + std::to_string(options.threads) +
                              " but the given task arena has max_concurrency " +
                              std::to_string(concurrency) + " (pass 0 to use the arena's)");
    }
    threads = concurrency;
  }
  std::unique_ptr<Session> s(new Session());
  s->model_ = std::move(model);
  s->impl_ = std::make_unique<Impl>(threads, external);
  s->impl_->execution.winograd = s->model_->options().winograd;
  s->impl_->max_memory = s->model_->options().max_memory_bytes;
  s->impl_->weights_bytes = s->model_->weights_bytes();

  // Every input dim known: plan now, so a bad model fails at load, not at the first run.
  bool all_static = true;
  for (const IoInfo& in : s->model_->inputs()) {
    all_static = all_static && in.rank_known && in.dtype != DataType::kUndefined;
    for (int64_t d : in.shape) all_static = all_static && d >= 0;
  }
  if (all_static) {
    std::vector<NamedTensor> feeds;
    KEEL_RETURN_IF_ERROR(check_declared_inputs_fit(*s->model_));
    for (const IoInfo& in : s->model_->inputs()) {
      // Shape-only placeholders: only their shapes matter unless a value is needed.
      KEEL_ASSIGN_OR_RETURN(Tensor t, Tensor::allocate(in.dtype, in.shape));
      feeds.push_back({in.name, std::move(t)});
    }
    Status st = s->prepare(feeds);
    // A plan that needs input values cannot be made from placeholders; it is made per run.
    if (!st.is_ok()) return st;
  }
  return s;
}

namespace {

// Returns nullptr when the plan depends on input values and `placeholders` says the inputs
// carry no real data yet.
Result<std::shared_ptr<PlanEntry>> find_or_build_plan(Session::Impl& impl, const Graph& graph,
                                                      const std::vector<const Tensor*>& inputs,
                                                      bool placeholders) {
  // Each attempt may discover more inputs whose values the plan needs (one per factory call).
  for (size_t attempt = 0; attempt <= inputs.size(); ++attempt) {
    std::string key;
    {
      std::lock_guard lock(impl.mutex);
      if (placeholders && !impl.value_inputs.empty()) return std::shared_ptr<PlanEntry>();
      key = plan_key(inputs, impl.value_inputs);
      auto it = impl.plans.find(key);
      if (it != impl.plans.end()) {
        impl.last = it->second;
        return it->second;
      }
    }
    PlanRequest req;
    req.graph = &graph;
    req.max_threads = impl.threads;
    req.execution = impl.execution;
    {
      std::lock_guard lock(impl.mutex);
      for (size_t i = 0; i < inputs.size(); ++i) {
        PlanInput in;
        in.dtype = inputs[i]->dtype();
        in.shape = inputs[i]->shape();
        if (impl.value_inputs.count(static_cast<int>(i))) in.value = inputs[i];
        req.inputs.push_back(in);
      }
    }
    Result<PlanOutcome> outcome = internal_error("not planned");
    MemoryBudget budget(impl.max_memory, impl.weights_bytes);
    impl.arena.execute([&] {
      const ScopedFlushDenormals flush;  // core/flush_denormals.hpp
      MemoryBudgetScope scope(&budget);
      outcome = build_plan(req);
    });
    const std::string what = "the plan for input shapes " + describe_shapes(inputs);
    if (budget.exceeded()) return budget.exceeded_status(what);
    if (!outcome.is_ok()) {
      const Status& st = outcome.status();
      if (st.code() == StatusCode::kOutOfMemory) return st.with_context(what);
      // A plan made for a run's own shapes and values that cannot work (a Reshape target that
      // does not fit, a Range too large) is the caller's input, not the model, at fault.
      if (!placeholders && st.code() == StatusCode::kInvalidModel) {
        return Status(StatusCode::kInvalidArgument, st.message() + " (" + what + ")");
      }
      return st;
    }
    if (outcome->plan && impl.max_memory != 0) {
      const Plan& p = *outcome->plan;
      const size_t activations = p.scratch_offset + p.scratch_bytes;
      if (activations > impl.max_memory || budget.used() > impl.max_memory - activations) {
        return Status(StatusCode::kOutOfMemory,
                      what + " needs " + format_bytes(activations) +
                          " of activations and scratch per run on top of " +
                          format_bytes(budget.used()) +
                          " of weights and plan constants: more than max_memory_bytes (" +
                          format_bytes(impl.max_memory) + ")");
      }
    }
    if (!outcome->needs_input_values.empty()) {
      std::lock_guard lock(impl.mutex);
      for (int i : outcome->needs_input_values) impl.value_inputs.insert(i);
      if (placeholders) return std::shared_ptr<PlanEntry>();
      continue;  // re-plan with those inputs' values bound
    }
    auto entry = std::make_shared<PlanEntry>();
    entry->plan = std::move(outcome->plan);
    std::lock_guard lock(impl.mutex);
    auto [it, inserted] = impl.plans.emplace(key, entry);
    impl.last = it->second;
    return it->second;
  }
  return internal_error("planning did not converge on the inputs whose values it needs");
}

}  // namespace

Status Session::prepare(const std::vector<NamedTensor>& example_feeds) const {
  KEEL_ASSIGN_OR_RETURN(std::vector<const Tensor*> inputs, bind_feeds(*model_, example_feeds));
  // Example feeds are shape placeholders: a plan that depends on input values is made by
  // the first run instead.
  auto entry = find_or_build_plan(*impl_, model_->graph(), inputs, /*placeholders=*/true);
  return entry.is_ok() ? Status::ok() : entry.status();
}

namespace {

// Appends each step's timing to a caller's vector.
class TimingRecorder final : public StepObserver {
 public:
  explicit TimingRecorder(std::vector<StepTiming>* out) : out_(out) {}
  static int64_t ns(Clock::time_point t) {
    return std::chrono::duration_cast<std::chrono::nanoseconds>(t.time_since_epoch()).count();
  }
  void on_step(size_t step_index, Clock::time_point start, Clock::time_point end) override {
    out_->push_back({static_cast<int>(step_index), ns(start), ns(end)});
  }

 private:
  std::vector<StepTiming>* out_;
};

}  // namespace

Result<std::vector<Tensor>> Session::run(const std::vector<NamedTensor>& feeds) const {
  return run_profiled(feeds, nullptr);
}

Result<std::vector<Tensor>> Session::run_profiled(const std::vector<NamedTensor>& feeds,
                                                  std::vector<StepTiming>* timings) const {
  KEEL_ASSIGN_OR_RETURN(std::vector<const Tensor*> inputs, bind_feeds(*model_, feeds));
  std::deque<Tensor> aligned;
  KEEL_RETURN_IF_ERROR(align_inputs(inputs, aligned));
  KEEL_ASSIGN_OR_RETURN(std::shared_ptr<PlanEntry> entry,
                        find_or_build_plan(*impl_, model_->graph(), inputs, false));
  std::vector<Tensor> outputs;
  outputs.reserve(entry->plan->output_tensors.size());
  TimingRecorder recorder(timings);
  StepObserver* observer = timings ? &recorder : nullptr;
  KEEL_RETURN_IF_ERROR(with_borrowed_context(*entry, [&](Context& ctx) {
    Status st;
    impl_->arena.execute(
        [&] { st = execute_plan(*entry->plan, ctx, inputs, &outputs, nullptr, observer); });
    return st;
  }));
  return outputs;
}

Result<std::vector<StepInfo>> Session::describe_plan(const std::vector<NamedTensor>& feeds) const {
  KEEL_ASSIGN_OR_RETURN(std::vector<const Tensor*> inputs, bind_feeds(*model_, feeds));
  KEEL_ASSIGN_OR_RETURN(std::shared_ptr<PlanEntry> entry,
                        find_or_build_plan(*impl_, model_->graph(), inputs, false));
  const Plan& plan = *entry->plan;
  std::vector<StepInfo> steps;
  steps.reserve(plan.steps.size());
  for (const PlanStep& step : plan.steps) {
    StepInfo info;
    if (step.node) {
      info.node_name = step.node->name;
      info.op_type = onnx_op_type(*step.node);  // a fused kind as the operator it extends
    }
    info.kernel = step.kernel ? step.kernel->name() : "";
    info.dispatch = step.dispatch;
    for (int id : step.inputs) {
      info.input_shapes.push_back(id >= 0 ? plan.tensors[id].shape : Shape{});
      info.input_dtypes.push_back(id >= 0 ? plan.tensors[id].dtype : DataType::kUndefined);
    }
    for (int id : step.outputs) {
      info.output_shapes.push_back(id >= 0 ? plan.tensors[id].shape : Shape{});
      info.output_dtypes.push_back(id >= 0 ? plan.tensors[id].dtype : DataType::kUndefined);
    }
    steps.push_back(std::move(info));
  }
  return steps;
}

double Session::parallel_overhead_us(int samples) const {
  samples = std::max(samples, 1);
  const int threads = impl_->threads;
  std::vector<double> times(static_cast<size_t>(samples));
  impl_->arena.execute([&] {
    for (int i = 0; i < samples; ++i) {
      const auto start = std::chrono::steady_clock::now();
      tbb::parallel_for(
          tbb::blocked_range<int>(0, threads, 1), [](const tbb::blocked_range<int>&) {},
          tbb::static_partitioner());
      const auto end = std::chrono::steady_clock::now();
      times[static_cast<size_t>(i)] =
          std::chrono::duration<double, std::micro>(end - start).count();
    }
  });
  std::nth_element(times.begin(), times.begin() + samples / 2, times.end());
  return times[static_cast<size_t>(samples / 2)];
}

}  // namespace keel

namespace keel {

Status Session::run_into(const std::vector<NamedTensor>& feeds,
                         const std::vector<Tensor*>& outputs) const {
  if (outputs.size() != model_->outputs().size()) {
    return invalid_argument("run_into: " + std::to_string(outputs.size()) +
                            " output tensors given, the model has " +
                            std::to_string(model_->outputs().size()) + " outputs");
  }
  for (size_t o = 0; o < outputs.size(); ++o) {
    if (outputs[o] == nullptr || outputs[o]->empty_handle() ||
        (outputs[o]->data() == nullptr && outputs[o]->numel() > 0)) {
      return invalid_argument("run_into: output tensor " + std::to_string(o) + " has no data");
    }
  }
  KEEL_ASSIGN_OR_RETURN(std::vector<const Tensor*> inputs, bind_feeds(*model_, feeds));
  std::deque<Tensor> aligned;
  KEEL_RETURN_IF_ERROR(align_inputs(inputs, aligned));
  KEEL_ASSIGN_OR_RETURN(std::shared_ptr<PlanEntry> entry,
                        find_or_build_plan(*impl_, model_->graph(), inputs, false));
  // Check every output buffer before running, so a rejected call writes none of them.
  for (size_t o = 0; o < outputs.size(); ++o) {
    const PlannedTensor& want = entry->plan->tensors[entry->plan->output_tensors[o]];
    if (outputs[o]->dtype() != want.dtype || outputs[o]->shape() != want.shape) {
      return invalid_argument("run_into: output buffer " + std::to_string(o) + " has " +
                              dtype_name(outputs[o]->dtype()) +
                              shape_to_string(outputs[o]->shape()) + ", expected " +
                              dtype_name(want.dtype) + shape_to_string(want.shape));
    }
  }
  return with_borrowed_context(*entry, [&](Context& ctx) {
    Status st;
    impl_->arena.execute([&] { st = execute_plan(*entry->plan, ctx, inputs, nullptr, &outputs); });
    return st;
  });
}

}  // namespace keel
