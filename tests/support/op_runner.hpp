// Runs one operator outside any model: builds a Node, prepares it through the kernel
// registry with the given inputs, allocates outputs and runs the kernel. Used by the kernel
// unit tests so every op is tested on its own against a scalar reference.
#pragma once

#include <string>
#include <vector>

#include "support/prepared_op.hpp"

namespace keel::testing {

// Returns the outputs, or the factory's error.
Result<std::vector<Tensor>> run_op(const OpCall& call);

Attribute attr_int(int64_t v);
Attribute attr_float(float v);
Attribute attr_string(std::string v);
Attribute attr_ints(std::vector<int64_t> v);
Attribute attr_floats(std::vector<float> v);

}  // namespace keel::testing
