// Load-time checks that need no input shapes.
#pragma once

#include "core/status.hpp"
#include "graph/graph.hpp"

namespace keel {

// Every node's (domain, op_type, opset) has a keel implementation. Reports every missing
// operator at once (with opset and the first nodes using it), not only the first one.
Status check_operators_supported(const Graph& graph);

}  // namespace keel
