#include "support/op_runner.hpp"

namespace keel::testing {

Attribute attr_int(int64_t v) {
  Attribute a;
  a.kind = AttributeKind::kInt;
  a.i = v;
  return a;
}
Attribute attr_float(float v) {
  Attribute a;
  a.kind = AttributeKind::kFloat;
  a.f = v;
  return a;
}
Attribute attr_string(std::string v) {
  Attribute a;
  a.kind = AttributeKind::kString;
  a.s = std::move(v);
  return a;
}
Attribute attr_ints(std::vector<int64_t> v) {
  Attribute a;
  a.kind = AttributeKind::kInts;
  a.ints = std::move(v);
  return a;
}
Attribute attr_floats(std::vector<float> v) {
  Attribute a;
  a.kind = AttributeKind::kFloats;
  a.floats = std::move(v);
  return a;
}

Result<std::vector<Tensor>> run_op(const OpCall& call) {
  KEEL_ASSIGN_OR_RETURN(std::unique_ptr<PreparedOp> op, PreparedOp::prepare(call));
  op->run();
  return op->outputs();
}

}  // namespace keel::testing
