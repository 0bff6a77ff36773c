#include "graph/validate.hpp"

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

}  // namespace keel
