// Runs one operator outside any model: builds a Node, prepares it through the kernel
// registry with the given inputs, allocates outputs and runs the kernel. Used by the kernel
// unit tests so every op is tested on its own against a scalar reference.
#pragma once

#include <map>
#include <string>
#include <utility>
#include <vector>

#include "core/status.hpp"
#include "core/tensor.hpp"
#include "graph/graph.hpp"

namespace keel::testing {

struct OpInput {
  Tensor tensor;          // empty_handle() for an omitted optional input
  bool constant = false;  // visible to the factory as a known value
};

struct OpCall {
  std::string op_type;
  int opset = 17;
  std::map<std::string, Attribute> attributes;
  std::vector<OpInput> inputs;
  int num_outputs = 1;
  int threads = 1;  // size of the task_arena the kernel runs in
};

// Returns the outputs, or the factory's error.
Result<std::vector<Tensor>> run_op(const OpCall& call);

// Short names for the Attribute constructors, used throughout the kernel tests.
inline Attribute attr_int(int64_t v) { return Attribute::of_int(v); }
inline Attribute attr_float(float v) { return Attribute::of_float(v); }
inline Attribute attr_string(std::string v) { return Attribute::of_string(std::move(v)); }
inline Attribute attr_ints(std::vector<int64_t> v) { return Attribute::of_ints(std::move(v)); }
inline Attribute attr_floats(std::vector<float> v) { return Attribute::of_floats(std::move(v)); }

}  // namespace keel::testing
