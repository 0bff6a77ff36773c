// Runs one prepared node on inputs whose values are known, outside any plan: the planner
// folds nodes whose inputs are all constants with it, and the fold_constants pass turns pure
// functions of initializers into initializers at load.
#pragma once

#include <optional>
#include <vector>

#include "core/status.hpp"
#include "core/tensor.hpp"
#include "kernels/kernel.hpp"

namespace keel {

// `ctx` and `kernel` come from the node's factory; inputs[i] is the value of input slot i
// (nullptr when absent, or unknown for a node whose outputs are all known, like Shape). One
// result per output slot; nullopt for an absent output or one the kernel does not produce.
// Outputs that alias an input share its memory.
Result<std::vector<std::optional<Tensor>>> evaluate_node(const PrepareContext& ctx,
                                                         const Kernel& kernel,
                                                         const std::vector<const Tensor*>& inputs,
                                                         int threads);

}  // namespace keel
