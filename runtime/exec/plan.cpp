#include "exec/plan.hpp"

#include <algorithm>
#include <numeric>
#include <unordered_map>

#include "core/memory_budget.hpp"
#include "core/verbose.hpp"
#include "exec/evaluate_node.hpp"
#include "kernels/registry.hpp"

namespace keel {

namespace {

size_t tensor_bytes(const PlannedTensor& t) {
  return static_cast<size_t>(t.numel) * dtype_size(t.dtype);
}

// A buffer is one arena allocation shared by a tensor, its views and its in-place successors.
struct Buffer {
  size_t bytes = 0;
  int first_step = 0;  // written by this step
  int last_step = 0;   // last read (steps.size() when it holds a graph output)
  bool holds_output = false;
  size_t offset = 0;
};

class Planner {
 public:
  explicit Planner(const PlanRequest& request) : req_(request), plan_(std::make_shared<Plan>()) {}

  Result<PlanOutcome> run() {
    const Graph& g = *req_.graph;
    KEEL_RETURN_IF_ERROR(bind_graph_inputs(g));
    KEEL_ASSIGN_OR_RETURN(std::vector<Node*> order, g.topological_order());
    for (Node* node : order) {
      KEEL_RETURN_IF_ERROR(plan_node(*node));
      if (!needs_values_.empty()) {
        PlanOutcome outcome;
        outcome.needs_input_values = needs_values_;
        return outcome;
      }
    }
    for (Value* out : g.outputs) {
      auto it = tensor_of_.find(out);
      if (it == tensor_of_.end()) {
        return invalid_model("graph output '" + out->name + "' is not computed by the graph");
      }
      plan_->output_tensors.push_back(it->second);
    }
    assign_memory();
    PlanOutcome outcome;
    outcome.plan = std::move(plan_);
    return outcome;
  }

 private:
  int add_tensor(PlannedTensor t) {
    plan_->tensors.push_back(std::move(t));
    alias_root_.push_back(static_cast<int>(plan_->tensors.size()) - 1);
    producer_step_.push_back(-1);
    return static_cast<int>(plan_->tensors.size()) - 1;
  }

  int add_constant(const Value* v, const Tensor& value) {
    PlannedTensor t;
    t.kind = PlannedTensor::Kind::kConstant;
    t.dtype = value.dtype();
    t.shape = value.shape();
    t.numel = value.numel();
    t.constant = &value;
    t.name = v ? v->name : "";
    return add_tensor(std::move(t));
  }

  Status bind_graph_inputs(const Graph& g) {
    if (req_.inputs.size() != g.inputs.size()) {
      return internal_error("plan request has " + std::to_string(req_.inputs.size()) +
                            " inputs, the graph " + std::to_string(g.inputs.size()));
    }
    for (size_t i = 0; i < g.inputs.size(); ++i) {
      const PlanInput& in = req_.inputs[i];
      if (in.value) {
        plan_->constants.push_back(*in.value);
        tensor_of_[g.inputs[i]] = add_constant(g.inputs[i], plan_->constants.back());
        continue;
      }
      PlannedTensor t;
      t.kind = PlannedTensor::Kind::kGraphInput;
      t.dtype = in.dtype;
      t.shape = in.shape;
      t.numel = numel(in.shape);
      t.input_index = static_cast<int>(i);
      t.name = g.inputs[i]->name;
      tensor_of_[g.inputs[i]] = add_tensor(std::move(t));
    }
    for (const auto& v : g.values()) {
      if (v->is_constant() && !tensor_of_.count(v.get())) {
        tensor_of_[v.get()] = add_constant(v.get(), *v->constant);
      }
    }
    return Status::ok();
  }

  const Tensor* constant_value(int id) const {
    const PlannedTensor& t = plan_->tensors[id];
    return t.kind == PlannedTensor::Kind::kConstant ? t.constant : nullptr;
  }

  Status plan_node(const Node& node) {
    const OpRegistration* reg =
        KernelRegistry::global().find(node.domain, node.op_type, node.opset);
    if (!reg) {
      return unsupported(node.describe() + ": no implementation for opset " +
                         std::to_string(node.opset));
    }
    std::vector<InputInfo> infos(node.inputs.size());
    std::vector<int> input_ids(node.inputs.size(), -1);
    bool all_constant = true;
    for (size_t i = 0; i < node.inputs.size(); ++i) {
      const Value* v = node.inputs[i];
      if (!v) continue;
      auto it = tensor_of_.find(v);
      if (it == tensor_of_.end()) {
        return internal_error(node.describe() + ": input '" + v->name + "' has not been planned");
      }
      const PlannedTensor& t = plan_->tensors[it->second];
      infos[i].present = true;
      infos[i].dtype = t.dtype;
      infos[i].shape = t.shape;
      infos[i].value = constant_value(it->second);
      all_constant = all_constant && infos[i].value != nullptr;
      input_ids[i] = it->second;
    }

    PrepareContext ctx(node, std::move(infos), req_.max_threads, req_.execution);
    auto kernel = reg->factory(ctx);
    if (!kernel.is_ok()) {
      for (size_t slot : ctx.missing_values) {
        const Value* v = node.inputs[slot];
        const PlannedTensor& t = plan_->tensors[input_ids[slot]];
        if (v && t.kind == PlannedTensor::Kind::kGraphInput) needs_values_.push_back(t.input_index);
      }
      if (!needs_values_.empty()) return Status::ok();
      return kernel.status();
    }
    KEEL_RETURN_IF_ERROR(check_outputs(node, ctx));

    bool all_outputs_known = true;
    for (size_t i = 0; i < node.outputs.size(); ++i) {
      if (node.outputs[i] && !ctx.output_values[i] && ctx.alias_of[i] < 0)
        all_outputs_known = false;
    }
    if (all_constant || (all_outputs_known && all_alias_sources_constant(ctx, input_ids))) {
      return fold_node(node, ctx, **kernel, input_ids);
    }

    if (!ctx.dispatch.empty() && verbose_enabled(VerboseTopic::kDispatch)) {
      verbose_print(VerboseTopic::kDispatch, node.describe() + ": " + ctx.dispatch);
    }
    PlanStep step;
    step.node = &node;
    step.inputs = input_ids;
    step.dispatch = std::move(ctx.dispatch);
    const int step_index = static_cast<int>(plan_->steps.size());
    for (size_t i = 0; i < node.outputs.size(); ++i) {
      const Value* v = node.outputs[i];
      if (!v) {
        step.outputs.push_back(-1);
        continue;
      }
      const TensorInfo& info = ctx.outputs[i];
      if (ctx.output_values[i] && ctx.alias_of[i] < 0 && is_noop(**kernel)) {
        plan_->constants.push_back(*ctx.output_values[i]);
        tensor_of_[v] = add_constant(v, plan_->constants.back());
        step.outputs.push_back(-1);
        continue;
      }
      PlannedTensor t;
      t.kind = PlannedTensor::Kind::kArena;
      t.dtype = info.dtype;
      t.shape = info.shape;
      t.numel = numel(info.shape);
      t.name = v->name;
      const int id = add_tensor(std::move(t));
      if (ctx.alias_of[i] >= 0) {
        const int src = input_ids[ctx.alias_of[i]];
        const PlannedTensor& s = plan_->tensors[src];
        if (tensor_bytes(s) != tensor_bytes(plan_->tensors[id])) {
          return internal_error(node.describe() + ": a view output must have its input's size");
        }
        alias_root_[id] = alias_root_[src];
        // A view of an input or a constant points at the same memory.
        plan_->tensors[id].kind = plan_->tensors[alias_root_[id]].kind;
        plan_->tensors[id].input_index = plan_->tensors[alias_root_[id]].input_index;
        plan_->tensors[id].constant = plan_->tensors[alias_root_[id]].constant;
      } else {
        producer_step_[id] = step_index;
        if (ctx.inplace_of[i] >= 0)
          inplace_hints_.push_back({step_index, id, input_ids[ctx.inplace_of[i]]});
      }
      tensor_of_[v] = id;
      step.outputs.push_back(id);
    }
    plan_->scratch_bytes = std::max(plan_->scratch_bytes, (*kernel)->scratch_bytes());
    step.kernel = std::move(*kernel);
    // A node whose outputs are all views has nothing to run.
    if (!is_noop(*step.kernel)) plan_->steps.push_back(std::move(step));
    return Status::ok();
  }

  static bool is_noop(const Kernel& k) { return dynamic_cast<const NoOpKernel*>(&k) != nullptr; }

  bool all_alias_sources_constant(const PrepareContext& ctx,
                                  const std::vector<int>& input_ids) const {
    for (size_t i = 0; i < ctx.alias_of.size(); ++i) {
      if (ctx.alias_of[i] >= 0 && !constant_value(input_ids[ctx.alias_of[i]])) return false;
    }
    return true;
  }

  Status check_outputs(const Node& node, const PrepareContext& ctx) {
    for (size_t i = 0; i < node.outputs.size(); ++i) {
      if (!node.outputs[i]) continue;
      const TensorInfo& info = ctx.outputs[i];
      if (info.dtype == DataType::kUndefined && !ctx.output_values[i]) {
        if (node.outputs[i]->consumers.empty() && !node.outputs[i]->is_graph_output) continue;
        return unsupported(node.describe() + ": output " + std::to_string(i) + " ('" +
                           node.outputs[i]->name + "') is not produced by keel's implementation");
      }
      if (!ctx.output_values[i]) {
        auto n = checked_numel(info.shape);
        if (!n || static_cast<uint64_t>(*n) * dtype_size(info.dtype) > (uint64_t{1} << 40)) {
          return invalid_argument(node.describe() + ": output '" + node.outputs[i]->name +
                                  "' would have shape " + shape_to_string(info.shape) +
                                  ", too large");
        }
        // Refused here, before later nodes spend time preparing for it (core/memory_budget.hpp).
        const size_t bytes = static_cast<size_t>(*n) * dtype_size(info.dtype);
        if (!memory_budget_allows(bytes)) {
          return Status(StatusCode::kOutOfMemory,
                        node.describe() + ": output '" + node.outputs[i]->name + "' of shape " +
                            shape_to_string(info.shape) + " (" + format_bytes(bytes) +
                            ") does not fit in what max_memory_bytes leaves");
        }
      }
    }
    return Status::ok();
  }

  // Evaluates a node whose inputs are all known; its outputs become plan constants.
  Status fold_node(const Node& node, const PrepareContext& ctx, const Kernel& kernel,
                   const std::vector<int>& input_ids) {
    std::vector<const Tensor*> values(node.inputs.size(), nullptr);
    for (size_t i = 0; i < node.inputs.size(); ++i) {
      // Nodes whose outputs are all known (Shape) may have inputs without values.
      if (input_ids[i] >= 0) values[i] = plan_->tensors[input_ids[i]].constant;
    }
    KEEL_ASSIGN_OR_RETURN(auto results, evaluate_node(ctx, kernel, values, req_.max_threads));
    for (size_t i = 0; i < node.outputs.size(); ++i) {
      if (!results[i]) continue;
      plan_->constants.push_back(std::move(*results[i]));
      tensor_of_[node.outputs[i]] = add_constant(node.outputs[i], plan_->constants.back());
    }
    ++plan_->kernels_folded;
    return Status::ok();
  }

  void assign_memory() {
    const int nsteps = static_cast<int>(plan_->steps.size());
    auto& tensors = plan_->tensors;
    // One buffer per arena root.
    std::unordered_map<int, int> buffer_of_root;
    std::vector<Buffer> buffers;
    std::vector<int> buffer_of(tensors.size(), -1);
    for (size_t id = 0; id < tensors.size(); ++id) {
      const int root = alias_root_[id];
      if (tensors[root].kind != PlannedTensor::Kind::kArena) continue;
      auto it = buffer_of_root.find(root);
      if (it == buffer_of_root.end()) {
        Buffer b;
        b.bytes = round_up(std::max<size_t>(tensor_bytes(tensors[root]), 1), kTensorAlignment);
        b.first_step = producer_step_[root];
        b.last_step = b.first_step;
        buffers.push_back(b);
        it = buffer_of_root.emplace(root, static_cast<int>(buffers.size()) - 1).first;
      }
      buffer_of[id] = it->second;
    }
    auto note_use = [&](int id, int step) {
      if (id >= 0 && buffer_of[id] >= 0) {
        Buffer& b = buffers[buffer_of[id]];
        b.last_step = std::max(b.last_step, step);
      }
    };
    for (int s = 0; s < nsteps; ++s) {
      for (int id : plan_->steps[s].inputs) note_use(id, s);
    }
    for (int id : plan_->output_tensors) {
      if (id >= 0 && buffer_of[id] >= 0) {
        buffers[buffer_of[id]].last_step = nsteps;
        buffers[buffer_of[id]].holds_output = true;
      }
    }
    // Views share their source's buffer, so reads of a view extend the source's lifetime.

    // In place: an output may take over an input buffer that is last read by its own step.
    std::vector<int> merged_into(buffers.size());
    std::iota(merged_into.begin(), merged_into.end(), 0);
    auto find = [&](int b) {
      while (merged_into[b] != b) b = merged_into[b];
      return b;
    };
    for (const InplaceHint& h : inplace_hints_) {
      if (buffer_of[h.input] < 0 || buffer_of[h.output] < 0) continue;
      const int bin = find(buffer_of[h.input]);
      const int bout = find(buffer_of[h.output]);
      if (bin == bout) continue;
      Buffer& in = buffers[bin];
      Buffer& out = buffers[bout];
      if (in.last_step != h.step || in.holds_output || in.bytes != out.bytes) continue;
      in.last_step = out.last_step;
      in.holds_output = out.holds_output;
      merged_into[bout] = bin;
    }

    // Offsets: largest buffers first, each at the lowest offset free during its lifetime.
    std::vector<int> order;
    for (size_t b = 0; b < buffers.size(); ++b) {
      if (find(static_cast<int>(b)) == static_cast<int>(b)) order.push_back(static_cast<int>(b));
    }
    std::stable_sort(order.begin(), order.end(),
                     [&](int a, int b) { return buffers[a].bytes > buffers[b].bytes; });
    std::vector<int> placed;
    size_t arena = 0;
    for (int b : order) {
      Buffer& cur = buffers[b];
      std::vector<std::pair<size_t, size_t>> busy;
      for (int p : placed) {
        const Buffer& o = buffers[p];
        if (o.first_step <= cur.last_step && cur.first_step <= o.last_step) {
          busy.emplace_back(o.offset, o.offset + o.bytes);
        }
      }
      std::sort(busy.begin(), busy.end());
      size_t offset = 0;
      for (const auto& [lo, hi] : busy) {
        if (offset + cur.bytes <= lo) break;
        offset = std::max(offset, hi);
      }
      cur.offset = offset;
      arena = std::max(arena, offset + cur.bytes);
      placed.push_back(b);
    }
    for (size_t id = 0; id < tensors.size(); ++id) {
      if (buffer_of[id] >= 0) tensors[id].offset = buffers[find(buffer_of[id])].offset;
    }
    plan_->arena_bytes = arena;
    plan_->scratch_offset = round_up(arena, kTensorAlignment);
  }

  struct InplaceHint {
    int step;
    int output;
    int input;
  };

  const PlanRequest& req_;
  std::shared_ptr<Plan> plan_;
  std::unordered_map<const Value*, int> tensor_of_;
  std::vector<int> alias_root_;     // per tensor: the tensor whose memory it uses
  std::vector<int> producer_step_;  // per tensor: the step writing it (-1: none)
  std::vector<InplaceHint> inplace_hints_;
  std::vector<int> needs_values_;
};

}  // namespace

Result<PlanOutcome> build_plan(const PlanRequest& request) { return Planner(request).run(); }

}  // namespace keel
