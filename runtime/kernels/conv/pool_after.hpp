// A Conv that absorbed the GlobalAveragePool reading its output (passes/fuse_conv_pool.cpp,
// keel-only): a FusedConv whose pooled result (graph/fused_ops.hpp) is the mean of Y per image and
// channel
// ([N, C, 1, 1], or [N, 1, 1, C] in NHWC). The NHWC depthwise and direct kernels sum each output
// row while it is still in cache (squeeze-excitation pooling after a depthwise conv, with no
// pass of its own over the tensor); every other kernel pools after the conv (this wrapper), at
// the cost the separate GlobalAveragePool had.
#pragma once

#include <memory>

#include "graph/layout.hpp"
#include "kernels/kernel.hpp"

namespace keel {

// Output 1 (batch x channels means over `pixels` per image) from per-row channel sums: row r of
// image n at row_sums[(n * rows + r) * channels]. Rows are summed in order, into each image's
// first row.
void pooled_means_from_rows(double* row_sums, int64_t batch, int64_t rows, int64_t pixels,
                            int64_t channels, float* means);

// Wraps `conv` (output 0 of batch x pixels x channels values in `layout`) so that output 1 is
// the mean of output 0 over its pixels, computed after the conv.
std::unique_ptr<Kernel> make_conv_pool_after(std::unique_ptr<Kernel> conv, int64_t batch,
                                             int64_t pixels, int64_t channels, Layout layout);

}  // namespace keel
