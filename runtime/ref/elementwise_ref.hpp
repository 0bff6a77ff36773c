// Scalar double-precision references for the elementwise and math kernels (ground truth for
// tests): broadcasting by explicit index arithmetic, softmax and reductions by definition.
#pragma once

#include <cstdint>
#include <functional>
#include <string>
#include <vector>

#include "core/shape.hpp"

namespace keel::ref {

// out[i] = f(a[ia], b[ib]) with numpy broadcasting; `out_shape` must be the broadcast shape.
std::vector<double> broadcast_binary(const std::vector<double>& a, const Shape& a_shape,
                                     const std::vector<double>& b, const Shape& b_shape,
                                     const Shape& out_shape,
                                     const std::function<double(double, double)>& f);

// Flat index into a tensor of `in_shape` for output multi-index `out_index` (numpy broadcast).
int64_t broadcast_source_index(const std::vector<int64_t>& out_index, const Shape& in_shape);

// Softmax (or log-softmax) along `axis` (opset 13+); with `coerce_2d` the input is viewed as
// [prod(dims[:axis]), prod(dims[axis:])] as in opsets 1..12.
std::vector<double> softmax(const std::vector<double>& x, const Shape& shape, int64_t axis,
                            bool log, bool coerce_2d);

// Reduction of `kind` ("sum", "mean", "max", "min", "prod", "l1", "l2", "sum_square",
// "log_sum", "log_sum_exp") over the dims marked in `reduced`; output in row-major order of
// the kept dims (keepdims does not change the order).
std::vector<double> reduce(const std::vector<double>& x, const Shape& shape,
                           const std::vector<bool>& reduced, const std::string& kind);

}  // namespace keel::ref
