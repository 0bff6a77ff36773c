// Runs one operator outside any model: builds a Node, prepares it through the kernel
// registry with the given inputs, allocates outputs and runs the kernel. Used by the kernel
// unit tests so every op is tested on its own against a scalar reference.
#pragma once

#include <map>
#include <string>
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

Attribute attr_int(int64_t v);
Attribute attr_float(float v);
Attribute attr_string(std::string v);
Attribute attr_ints(std::vector<int64_t> v);
Attribute attr_floats(std::vector<float> v);

}  // namespace keel::testing
