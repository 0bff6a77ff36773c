// Load-time checks that need no input shapes.
#pragma once

#include "core/status.hpp"
#include "graph/graph.hpp"

namespace keel {

// Every node's (domain, op_type, opset) has a keel implementation. Reports every missing
// operator at once (with opset and the first nodes using it), not only the first one.
Status check_operators_supported(const Graph& graph);

// Constant parameters that make an operator undefined: a BatchNormalization whose constant
// var + epsilon is not positive (or NaN) in some channel is refused by name, never clamped.
Status check_constant_parameters(const Graph& graph);

}  // namespace keel
