// Which definition of a standard ONNX operator a node means: the newest one (by the schemas'
// since_version) at or below the model's opset. The table is generated from the ONNX schemas
// (tools/dev/gen_onnx_op_versions.py), so a model whose opset is newer than the operators it
// uses loads, and an operator whose definition changed is named with its version.
#pragma once

#include <span>
#include <string_view>

namespace keel {

// The newest opset and IR version of the ONNX release the table was generated from.
int onnx_schemas_newest_opset();
int onnx_schemas_ir_version();

// since_version of the definition of default-domain `op_type` that applies at `opset`;
// 0 when the operator is not defined at that opset, -1 when ONNX has no such operator.
int onnx_since_version(std::string_view op_type, int opset);

// One attribute a definition declares; `type` is the onnx::AttributeProto::AttributeType number.
struct OpAttribute {
  std::string_view op;
  int since = 0;
  std::string_view name;
  int type = 0;
  bool required = false;
};

// The attributes of the definition (op_type, since_version), sorted by name; empty when it
// declares none.
std::span<const OpAttribute> onnx_attributes(std::string_view op_type, int since_version);

// How many inputs and outputs a definition takes (max 2147483647: variadic).
struct OpArity {
  std::string_view op;
  int since = 0;
  int min_inputs = 0, max_inputs = 0, min_outputs = 0, max_outputs = 0;
};

// The arity of the definition (op_type, since_version); nullptr when there is no such one.
const OpArity* onnx_arity(std::string_view op_type, int since_version);

}  // namespace keel
