// Shared helpers of the elementwise and math kernels: dtype dispatch, float16/bfloat16 bit
// conversions, integer arithmetic without undefined behaviour.
#pragma once

#include <bit>
#include <cmath>
#include <cstdint>
#include <cstring>
#include <limits>
#include <type_traits>

#include "core/dtype.hpp"
#include "core/float16.hpp"

namespace keel {

// Storage types for the 16-bit floats (arithmetic happens in float).
struct Float16 {
  uint16_t bits;
};
struct BFloat16 {
  uint16_t bits;
};

// Calls fn.template operator()<T>() for the C++ type of `t`; returns false for types not in
// the chosen family. Families: floats (f32, f64), ints (8..64 bit, signed and unsigned).
template <typename F>
bool visit_float(DataType t, F&& fn) {
  switch (t) {
    case DataType::kFloat32: fn.template operator()<float>(); return true;
    case DataType::kFloat64: fn.template operator()<double>(); return true;
    default: return false;
  }
}

template <typename F>
bool visit_int(DataType t, F&& fn) {
  switch (t) {
    case DataType::kInt8: fn.template operator()<int8_t>(); return true;
    case DataType::kInt16: fn.template operator()<int16_t>(); return true;
    case DataType::kInt32: fn.template operator()<int32_t>(); return true;
    case DataType::kInt64: fn.template operator()<int64_t>(); return true;
    case DataType::kUint8: fn.template operator()<uint8_t>(); return true;
    case DataType::kUint16: fn.template operator()<uint16_t>(); return true;
    case DataType::kUint32: fn.template operator()<uint32_t>(); return true;
    case DataType::kUint64: fn.template operator()<uint64_t>(); return true;
    default: return false;
  }
}

template <typename F>
bool visit_numeric(DataType t, F&& fn) {
  return visit_float(t, fn) || visit_int(t, fn);
}

// Signed integer arithmetic that wraps like the unsigned type (no undefined overflow).
template <typename T>
inline T wrap_add(T a, T b) {
  if constexpr (std::is_integral_v<T>) {
    using U = std::make_unsigned_t<T>;
    return static_cast<T>(static_cast<U>(static_cast<U>(a) + static_cast<U>(b)));
  } else {
    return a + b;
  }
}
template <typename T>
inline T wrap_sub(T a, T b) {
  if constexpr (std::is_integral_v<T>) {
    using U = std::make_unsigned_t<T>;
    return static_cast<T>(static_cast<U>(static_cast<U>(a) - static_cast<U>(b)));
  } else {
    return a - b;
  }
}
template <typename T>
inline T wrap_mul(T a, T b) {
  if constexpr (std::is_integral_v<T>) {
    // Promote to at least unsigned int so small types do not multiply as signed int.
    using U = std::conditional_t<(sizeof(T) < sizeof(unsigned)), unsigned, std::make_unsigned_t<T>>;
    return static_cast<T>(static_cast<U>(a) * static_cast<U>(b));
  } else {
    return a * b;
  }
}

// Float to integer without undefined behaviour: truncates toward zero, saturates out-of-range
// values, NaN gives 0 (ONNX leaves these cases unspecified).
template <typename I, typename F>
inline I float_to_int(F v) {
  constexpr F lo = static_cast<F>(std::numeric_limits<I>::min());
  // 2^bits as F is exact; anything >= it is out of range.
  constexpr F hi = static_cast<F>(std::numeric_limits<I>::max()) + F(1) ==
                           static_cast<F>(std::numeric_limits<I>::max())
                       ? static_cast<F>(std::numeric_limits<I>::max())
                       : static_cast<F>(std::numeric_limits<I>::max()) + F(1);
  if (!(v >= lo)) return v != v ? I(0) : std::numeric_limits<I>::min();
  if (v >= hi) return std::numeric_limits<I>::max();
  return static_cast<I>(v);
}

// One value converted as ONNX Cast does: float -> int truncates toward zero and saturates,
// int -> int wraps, anything -> bool is "!= 0", float16 and bfloat16 round to nearest even.
template <typename D, typename S>
inline D convert_value(S v) {
  if constexpr (std::is_same_v<S, Float16>) {
    return convert_value<D>(half_bits_to_float(v.bits));
  } else if constexpr (std::is_same_v<S, BFloat16>) {
    return convert_value<D>(bfloat16_bits_to_float(v.bits));
  } else if constexpr (std::is_same_v<D, Float16>) {
    if constexpr (std::is_same_v<S, bool>) {
      return Float16{static_cast<uint16_t>(v ? 0x3C00 : 0)};
    } else {
      return Float16{half_bits_from_double(static_cast<double>(v))};
    }
  } else if constexpr (std::is_same_v<D, BFloat16>) {
    return BFloat16{bfloat16_bits_from_float(static_cast<float>(v))};
  } else if constexpr (std::is_same_v<D, bool>) {
    return v != S(0);
  } else if constexpr (std::is_integral_v<D> && std::is_floating_point_v<S>) {
    return float_to_int<D>(v);
  } else {
    return static_cast<D>(v);
  }
}

}  // namespace keel
