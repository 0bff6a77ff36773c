#include "graph/validate.hpp"

#include <cstdio>
#include <map>
#include <tuple>

#include "graph/onnx_op_versions.hpp"
#include "kernels/registry.hpp"

namespace keel {

Status check_operators_supported(const Graph& graph) {
  // (domain, op, opset) -> node names
  std::map<std::tuple<std::string, std::string, int>, std::vector<std::string>> missing;
  for (const Node* n : graph.nodes()) {
    if (!KernelRegistry::global().find(n->domain, n->op_type, n->opset)) {
      missing[{n->domain, n->op_type, n->opset}].push_back(n->name);
    }
  }
  if (missing.empty()) return Status::ok();
  std::string msg =
      "the model uses " + std::to_string(missing.size()) + " operator(s) keel does not implement: ";
  bool first = true;
  for (const auto& [key, nodes] : missing) {
    const auto& [domain, op, opset] = key;
    msg += first ? "" : "; ";
    first = false;
    // A standard op is named with the version of its definition that applies ("Mod-28").
    const int since = domain.empty() ? onnx_since_version(op, opset) : 0;
    msg += (domain.empty() ? "" : domain + "::") + op +
           (since > 0 ? "-" + std::to_string(since) : "") + " (opset " + std::to_string(opset) +
           ", " + std::to_string(nodes.size()) + " node" + (nodes.size() > 1 ? "s" : "") + ": '" +
           nodes.front() + "'" + (nodes.size() > 1 ? ", ..." : "") + ")";
  }
  return unsupported(msg);
}

Status check_constant_parameters(const Graph& graph) {
  for (const Node* n : graph.nodes()) {
    if (!n->domain.empty() || n->op_type != "BatchNormalization" || n->inputs.size() < 5) continue;
    const Value* var = n->inputs[4];
    if (var == nullptr || !var->is_fixed_constant()) continue;
    const Tensor& v = *var->constant;
    if (v.dtype() != DataType::kFloat32 && v.dtype() != DataType::kFloat64) continue;
    KEEL_ASSIGN_OR_RETURN(float eps, n->attr_float("epsilon", 1e-5f));
    for (int64_t c = 0; c < v.numel(); ++c) {
      const double x = v.dtype() == DataType::kFloat32 ? static_cast<double>(v.data_as<float>()[c])
                                                       : v.data_as<double>()[c];
      const double sum = x + static_cast<double>(eps);
      if (!(sum > 0.0)) {
        char buf[64];
        std::snprintf(buf, sizeof buf, "%.9g", sum);
        return invalid_model("node '" + n->name + "' (BatchNormalization): var[" +
                             std::to_string(c) + "] + epsilon = " + buf +
                             " is not positive, so the normalization is undefined (keel does "
                             "not clamp it)");
      }
    }
  }
  return Status::ok();
}

}  // namespace keel
