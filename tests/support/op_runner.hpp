// Runs one operator outside any model: builds a Node, prepares it through the kernel
// registry with the given inputs, allocates outputs and runs the kernel. Used by the kernel
// unit tests so every op is tested on its own against a scalar reference.
#pragma once

#include <string>
#include <utility>
#include <vector>

#include "support/prepared_op.hpp"

namespace keel::testing {

// Returns the outputs, or the factory's error.
Result<std::vector<Tensor>> run_op(const OpCall& call);

// Short names for the Attribute constructors, used throughout the kernel tests.
inline Attribute attr_int(int64_t v) { return Attribute::of_int(v); }
inline Attribute attr_float(float v) { return Attribute::of_float(v); }
inline Attribute attr_string(std::string v) { return Attribute::of_string(std::move(v)); }
inline Attribute attr_ints(std::vector<int64_t> v) { return Attribute::of_ints(std::move(v)); }
inline Attribute attr_floats(std::vector<float> v) { return Attribute::of_floats(std::move(v)); }

}  // namespace keel::testing
