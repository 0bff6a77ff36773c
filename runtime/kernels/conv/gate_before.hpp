// A Conv that absorbed the squeeze-excitation gate before it (passes/fuse_conv_gate.cpp,
// keel-only): a FusedConv whose gate operand (graph/fused_ops.hpp) is G, one value per (image,
// input channel) (shape [N, C, 1, 1], or [N, 1, 1, C] when it was computed in NHWC: the same floats
// in the same order), and it computes conv(X * G), G broadcast over X's pixels. The NHWC 1x1 kernel
// scales its packed weights instead, once per image (W' = W diag(g), when that is less work than a
// pass over X: conv/nhwc_1x1.cpp); every other case multiplies X into scratch first (this wrapper),
// which costs what the separate Mul did.
#pragma once

#include <memory>

#include "kernels/conv/conv_descriptor.hpp"
#include "kernels/kernel.hpp"

namespace keel {

// Checks the gate against the conv's X: float32, batch x cin values, every other dim 1.
Status check_conv_gate(PrepareContext& ctx, const ConvShapes& cs);

// Wraps `conv` so that it reads X * G, computed into scratch first: X of `x_shape` in
// `x_layout`, G of x_shape[0] x channels values.
std::unique_ptr<Kernel> make_conv_gate_before(std::unique_ptr<Kernel> conv, const Shape& x_shape,
                                              Layout x_layout);

}  // namespace keel
