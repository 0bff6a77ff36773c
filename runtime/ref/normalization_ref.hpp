// Scalar references for the normalization kernels: plain loops, double everywhere, exact
// two-pass statistics. Ground truth for tests; never used to run a model.
// Every function takes a row-major float32 tensor `x` of shape `shape` and returns y in double.
#pragma once

#include <cstdint>
#include <vector>

#include "core/shape.hpp"

namespace keel::ref {

// Inference BatchNormalization; parameters have length shape[1].
std::vector<double> batchnorm(const float* x, const Shape& shape, const float* scale,
                              const float* bias, const float* mean, const float* var, double eps);

// LayerNormalization over axes [axis, rank). scale/bias are already expanded to the normalized
// shape (length prod(shape[axis:])), bias may be null. mean/inv_std (may be null) get one value
// per row.
std::vector<double> layernorm(const float* x, const Shape& shape, int64_t axis, const float* scale,
                              const float* bias, double eps, std::vector<double>* mean = nullptr,
                              std::vector<double>* inv_std = nullptr);

// RMSNormalization over axes [axis, rank); scale expanded to the normalized shape.
std::vector<double> rmsnorm(const float* x, const Shape& shape, int64_t axis, const float* scale,
                            double eps);

// InstanceNormalization: per (n, c) plane, scale/bias of length C.
std::vector<double> instancenorm(const float* x, const Shape& shape, const float* scale,
                                 const float* bias, double eps);

// GroupNormalization: statistics per (n, group); scale/bias per channel (length C, opset 21)
// or per group (length num_groups, opset 18).
std::vector<double> groupnorm(const float* x, const Shape& shape, int64_t num_groups,
                              const float* scale, const float* bias, double eps, bool per_channel);

// LRN across channels.
std::vector<double> lrn(const float* x, const Shape& shape, int64_t size, double alpha, double beta,
                        double bias);

// MeanVarianceNormalization over `axes` (non-negative): (x - mean) / (sqrt(var) + 1e-9).
std::vector<double> mvn(const float* x, const Shape& shape, const std::vector<int64_t>& axes);

}  // namespace keel::ref
