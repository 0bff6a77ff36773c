// Node attributes as ONNX defines them (the subset of kinds keel executes).
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "core/tensor.hpp"

namespace keel {

enum class AttributeKind {
  kFloat,
  kInt,
  kString,
  kTensor,
  kFloats,
  kInts,
  kStrings,
  kGraph,
  kOther
};

const char* attribute_kind_name(AttributeKind kind);

struct Attribute {
  AttributeKind kind = AttributeKind::kOther;
  float f = 0.0f;
  int64_t i = 0;
  std::string s;
  Tensor t;
  std::vector<float> floats;
  std::vector<int64_t> ints;
  std::vector<std::string> strings;

  // Attributes of one kind, for passes and tests that write nodes.
  static Attribute of_int(int64_t v);
  static Attribute of_float(float v);
  static Attribute of_string(std::string v);
  static Attribute of_ints(std::vector<int64_t> v);
  static Attribute of_floats(std::vector<float> v);
};

}  // namespace keel
