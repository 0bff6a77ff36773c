// The protocol's tensor datatypes ("FP32", ...) and Triton's config types (TYPE_FP32) against
// keel's element types.
#pragma once

#include <optional>
#include <string>
#include <string_view>

#include "core/dtype.hpp"

namespace keel::serve {

// "FP32" -> kFloat32...; nullopt for a name the protocol does not define or keel cannot
// carry (BYTES: keel has no string tensors).
std::optional<DataType> datatype_from_name(std::string_view name);
// kFloat32 -> "FP32"; "" for a type the protocol cannot carry.
std::string datatype_name(DataType t);
// kFloat32 -> 11 (inference.DataType TYPE_FP32); 0 (TYPE_INVALID) when none.
int config_type(DataType t);
std::optional<DataType> datatype_from_config_type(int type);

}  // namespace keel::serve
