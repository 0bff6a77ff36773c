// Element types. Values equal ONNX TensorProto.DataType so conversion is a cast.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>

namespace keel {

enum class DataType : int32_t {
  kUndefined = 0,
  kFloat32 = 1,
  kUint8 = 2,
  kInt8 = 3,
  kUint16 = 4,
  kInt16 = 5,
  kInt32 = 6,
  kInt64 = 7,
  kString = 8,
  kBool = 9,
  kFloat16 = 10,
  kFloat64 = 11,
  kUint32 = 12,
  kUint64 = 13,
  kBFloat16 = 16,
};

// Bytes per element; 0 for types keel cannot hold in memory (string, unknown).
size_t dtype_size(DataType t);
// "float32", "int64", ... (ONNX types keel does not hold by their ONNX name, "dtype(99)" for
// values ONNX does not define).
std::string dtype_name(DataType t);
// True for the types keel stores and moves (kernels may support fewer).
bool dtype_is_supported(DataType t);
bool dtype_is_integer(DataType t);

template <typename T>
constexpr DataType dtype_of();
template <>
constexpr DataType dtype_of<float>() {
  return DataType::kFloat32;
}
template <>
constexpr DataType dtype_of<double>() {
  return DataType::kFloat64;
}
template <>
constexpr DataType dtype_of<int64_t>() {
  return DataType::kInt64;
}
template <>
constexpr DataType dtype_of<int32_t>() {
  return DataType::kInt32;
}
template <>
constexpr DataType dtype_of<int16_t>() {
  return DataType::kInt16;
}
template <>
constexpr DataType dtype_of<int8_t>() {
  return DataType::kInt8;
}
template <>
constexpr DataType dtype_of<uint8_t>() {
  return DataType::kUint8;
}
template <>
constexpr DataType dtype_of<uint16_t>() {
  return DataType::kUint16;
}
template <>
constexpr DataType dtype_of<uint32_t>() {
  return DataType::kUint32;
}
template <>
constexpr DataType dtype_of<uint64_t>() {
  return DataType::kUint64;
}
template <>
constexpr DataType dtype_of<bool>() {
  return DataType::kBool;
}

}  // namespace keel
