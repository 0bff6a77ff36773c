#include "kernels/plan_values.hpp"

#include <cmath>
#include <cstring>
#include <set>
#include <string>

#include "core/float16.hpp"

namespace keel {

std::optional<std::vector<int64_t>> read_int_values(const Tensor& t) {
  std::vector<int64_t> v(static_cast<size_t>(t.numel()));
  if (t.dtype() == DataType::kInt64) {
    if (!v.empty()) std::memcpy(v.data(), t.data(), v.size() * sizeof(int64_t));
  } else if (t.dtype() == DataType::kInt32) {
    const auto* p = t.data_as<int32_t>();
    for (size_t i = 0; i < v.size(); ++i) v[i] = p[i];
  } else {
    return std::nullopt;
  }
  return v;
}

std::optional<std::vector<double>> read_float_values(const Tensor& t) {
  std::vector<double> v(static_cast<size_t>(t.numel()));
  switch (t.dtype()) {
    case DataType::kFloat32:
      for (size_t i = 0; i < v.size(); ++i) v[i] = t.data_as<float>()[i];
      break;
    case DataType::kFloat64:
      for (size_t i = 0; i < v.size(); ++i) v[i] = t.data_as<double>()[i];
      break;
    case DataType::kFloat16:
      for (size_t i = 0; i < v.size(); ++i) v[i] = half_bits_to_float(t.data_as<uint16_t>()[i]);
      break;
    default: return std::nullopt;
  }
  return v;
}

std::optional<double> read_scalar_as_double(const Tensor& t) {
  if (t.numel() != 1) return std::nullopt;
  const void* p = t.data();
  switch (t.dtype()) {
    case DataType::kFloat32: return *static_cast<const float*>(p);
    case DataType::kFloat64: return *static_cast<const double*>(p);
    case DataType::kFloat16: return half_bits_to_float(*static_cast<const uint16_t*>(p));
    case DataType::kInt8: return *static_cast<const int8_t*>(p);
    case DataType::kInt16: return *static_cast<const int16_t*>(p);
    case DataType::kInt32: return *static_cast<const int32_t*>(p);
    case DataType::kInt64: return static_cast<double>(*static_cast<const int64_t*>(p));
    case DataType::kUint8: return *static_cast<const uint8_t*>(p);
    case DataType::kUint16: return *static_cast<const uint16_t*>(p);
    case DataType::kUint32: return *static_cast<const uint32_t*>(p);
    case DataType::kUint64: return static_cast<double>(*static_cast<const uint64_t*>(p));
    case DataType::kBool: return *static_cast<const uint8_t*>(p) ? 1.0 : 0.0;
    default: return std::nullopt;
  }
}

namespace {

template <typename T>
void store(void* bytes, T v) {
  std::memcpy(bytes, &v, sizeof(T));
}

// Saturates to int64 first so the cast is defined for any double, then wraps like C++.
int64_t to_int64(double v) {
  if (std::isnan(v)) return 0;
  if (v >= 9.2233720368547758e18) return INT64_MAX;
  if (v <= -9.2233720368547758e18) return INT64_MIN;
  return static_cast<int64_t>(v);
}

}  // namespace

void encode_scalar(double v, DataType dtype, void* bytes) {
  switch (dtype) {
    case DataType::kFloat32: store(bytes, static_cast<float>(v)); break;
    case DataType::kFloat64: store(bytes, v); break;
    case DataType::kFloat16: store(bytes, half_bits_from_float(static_cast<float>(v))); break;
    case DataType::kBFloat16: {
      const auto f = static_cast<float>(v);
      uint32_t x;
      std::memcpy(&x, &f, 4);
      const uint16_t b = std::isnan(f)
                             ? static_cast<uint16_t>((x >> 16) | 0x40u)
                             : static_cast<uint16_t>((x + 0x7fffu + ((x >> 16) & 1u)) >> 16);
      store(bytes, b);
      break;
    }
    case DataType::kBool: store(bytes, static_cast<uint8_t>(v != 0.0 ? 1 : 0)); break;
    case DataType::kInt8: store(bytes, static_cast<int8_t>(to_int64(v))); break;
    case DataType::kInt16: store(bytes, static_cast<int16_t>(to_int64(v))); break;
    case DataType::kInt32: store(bytes, static_cast<int32_t>(to_int64(v))); break;
    case DataType::kInt64: store(bytes, to_int64(v)); break;
    case DataType::kUint8: store(bytes, static_cast<uint8_t>(to_int64(v))); break;
    case DataType::kUint16: store(bytes, static_cast<uint16_t>(to_int64(v))); break;
    case DataType::kUint32: store(bytes, static_cast<uint32_t>(to_int64(v))); break;
    case DataType::kUint64:
      store(bytes, v >= 9.2233720368547758e18 ? static_cast<uint64_t>(v)
                                              : static_cast<uint64_t>(to_int64(v)));
      break;
    default: break;
  }
}

Result<std::vector<int64_t>> normalize_axes(PrepareContext& ctx, const std::vector<int64_t>& axes,
                                            int64_t rank) {
  std::vector<int64_t> out;
  std::set<int64_t> seen;
  for (int64_t a : axes) {
    auto n = normalize_axis(a, rank);
    if (!n) {
      return ctx.invalid("axis " + std::to_string(a) + " is out of range for rank " +
                         std::to_string(rank));
    }
    if (!seen.insert(*n).second) return ctx.invalid("axis " + std::to_string(a) + " is repeated");
    out.push_back(*n);
  }
  return out;
}

}  // namespace keel
