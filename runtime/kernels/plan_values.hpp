// Values a kernel needs at plan time: small integer or float tensors known then (shapes, axes,
// pads, scales), a scalar encoded in any stored dtype, and axes checked and normalised.
#pragma once

#include <cstdint>
#include <optional>
#include <vector>

#include "core/shape.hpp"
#include "core/tensor.hpp"
#include "kernels/kernel.hpp"

namespace keel {

// The elements of an int32/int64 tensor as int64; nullopt for other dtypes.
std::optional<std::vector<int64_t>> read_int_values(const Tensor& t);
// The elements of a float32/float64/float16 tensor as double; nullopt for other dtypes.
std::optional<std::vector<double>> read_float_values(const Tensor& t);
// The value of a one-element tensor of any numeric dtype (bool: 0/1) as double.
std::optional<double> read_scalar_as_double(const Tensor& t);

// `v` converted to `dtype` (float16/bfloat16 rounded to nearest even, integers truncated
// toward zero and wrapped as a static_cast would) written to `bytes` (dtype_size bytes).
void encode_scalar(double v, DataType dtype, void* bytes);

// Axes normalised into [0, rank); INVALID_MODEL naming the node for an out-of-range or repeated
// axis.
Result<std::vector<int64_t>> normalize_axes(PrepareContext& ctx, const std::vector<int64_t>& axes,
                                            int64_t rank);

}  // namespace keel
