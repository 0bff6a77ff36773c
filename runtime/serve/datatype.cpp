#include "serve/datatype.hpp"

#include <array>

namespace keel::serve {

namespace {

struct Row {
  const char* name;
  DataType dtype;
  int config;  // inference.DataType
};

constexpr std::array<Row, 13> kRows = {{
    {"BOOL", DataType::kBool, 1},
    {"UINT8", DataType::kUint8, 2},
    {"UINT16", DataType::kUint16, 3},
    {"UINT32", DataType::kUint32, 4},
    {"UINT64", DataType::kUint64, 5},
    {"INT8", DataType::kInt8, 6},
    {"INT16", DataType::kInt16, 7},
    {"INT32", DataType::kInt32, 8},
    {"INT64", DataType::kInt64, 9},
    {"FP16", DataType::kFloat16, 10},
    {"FP32", DataType::kFloat32, 11},
    {"FP64", DataType::kFloat64, 12},
    {"BF16", DataType::kBFloat16, 14},
}};

}  // namespace

std::optional<DataType> datatype_from_name(std::string_view name) {
  for (const Row& r : kRows) {
    if (name == r.name) return r.dtype;
  }
  return std::nullopt;
}

std::string datatype_name(DataType t) {
  for (const Row& r : kRows) {
    if (r.dtype == t) return r.name;
  }
  return "";
}

int config_type(DataType t) {
  for (const Row& r : kRows) {
    if (r.dtype == t) return r.config;
  }
  return 0;
}

std::optional<DataType> datatype_from_config_type(int type) {
  for (const Row& r : kRows) {
    if (r.config == type) return r.dtype;
  }
  return std::nullopt;
}

}  // namespace keel::serve
