#include "support/op_runner.hpp"

namespace keel::testing {

Result<std::vector<Tensor>> run_op(const OpCall& call) {
  KEEL_ASSIGN_OR_RETURN(std::unique_ptr<PreparedOp> op, PreparedOp::prepare(call));
  KEEL_RETURN_IF_ERROR(op->run());
  return op->outputs();
}

}  // namespace keel::testing
