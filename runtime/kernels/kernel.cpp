#include "kernels/kernel.hpp"

#include "graph/layout.hpp"

namespace keel {

PrepareContext::PrepareContext(const Node& n, std::vector<InputInfo> in, int threads,
                               ExecutionOptions opts)
    : node(n), inputs(std::move(in)), max_threads(threads), options(std::move(opts)) {
  const size_t nout = node.outputs.size();
  outputs.resize(nout);
  output_values.resize(nout);
  alias_of.assign(nout, -1);
  inplace_of.assign(nout, -1);
}

Status PrepareContext::invalid(const std::string& message) const {
  return invalid_model(node.describe() + ": " + message);
}

Status PrepareContext::unsupported_case(const std::string& message) const {
  return unsupported(node.describe() + ": " + message);
}

const Tensor* PrepareContext::require_value(size_t i) {
  if (!has_input(i)) return nullptr;
  if (inputs[i].value) return inputs[i].value;
  missing_values.push_back(i);
  return nullptr;
}

Status PrepareContext::require_value_status(size_t i) const {
  std::string name = i < node.inputs.size() && node.inputs[i] ? node.inputs[i]->name : "?";
  return unsupported(node.describe() + ": input " + std::to_string(i) + " ('" + name +
                     "') must be known when the model is planned (a constant, or computed from "
                     "input shapes only); data-dependent values are not supported");
}

Status PrepareContext::check_input(size_t i, std::initializer_list<DataType> allowed,
                                   int64_t min_rank, int64_t max_rank) const {
  if (!has_input(i)) return invalid("input " + std::to_string(i) + " is required but missing");
  const InputInfo& in = inputs[i];
  if (allowed.size() != 0) {
    bool ok = false;
    for (DataType t : allowed) ok = ok || t == in.dtype;
    if (!ok) {
      std::string list;
      for (DataType t : allowed) list += (list.empty() ? "" : "|") + dtype_name(t);
      return unsupported_case("input " + std::to_string(i) + " has type " + dtype_name(in.dtype) +
                              ", supported: " + list);
    }
  }
  const auto rank = static_cast<int64_t>(in.shape.size());
  if (rank < min_rank || rank > max_rank) {
    return invalid("input " + std::to_string(i) + " has rank " + std::to_string(rank) + " " +
                   shape_to_string(in.shape) + ", expected rank in [" + std::to_string(min_rank) +
                   ", " + std::to_string(max_rank) + "]");
  }
  return Status::ok();
}

void PrepareContext::set_output(size_t i, DataType dtype, Shape shape) {
  outputs[i].dtype = dtype;
  outputs[i].shape = std::move(shape);
}

Result<bool> runs_nhwc(const PrepareContext& ctx) {
  if (node_layout(ctx.node) != Layout::kNhwc) return false;
  if (!ctx.has_input(0) || ctx.input(0).shape.size() != 4) {
    return ctx.invalid(std::string("NHWC layout needs a rank-4 X, got ") +
                       (ctx.has_input(0) ? shape_to_string(ctx.input(0).shape) : "none"));
  }
  return true;
}

}  // namespace keel
