#include "graph/attribute.hpp"

#include <utility>

namespace keel {

Attribute Attribute::of_int(int64_t v) {
  Attribute a;
  a.kind = AttributeKind::kInt;
  a.i = v;
  return a;
}

Attribute Attribute::of_float(float v) {
  Attribute a;
  a.kind = AttributeKind::kFloat;
  a.f = v;
  return a;
}

Attribute Attribute::of_string(std::string v) {
  Attribute a;
  a.kind = AttributeKind::kString;
  a.s = std::move(v);
  return a;
}

Attribute Attribute::of_ints(std::vector<int64_t> v) {
  Attribute a;
  a.kind = AttributeKind::kInts;
  a.ints = std::move(v);
  return a;
}

Attribute Attribute::of_floats(std::vector<float> v) {
  Attribute a;
  a.kind = AttributeKind::kFloats;
  a.floats = std::move(v);
  return a;
}

}  // namespace keel
