// A Conv that absorbed the Add after it (passes/fuse_conv_add.cpp, keel-only): a FusedConv whose
// residual operand (graph/fused_ops.hpp) is the Add's other operand R, and it computes act(conv(X)
// + bias + R), the activation being the one fused after the Add (kernels/fused_activation.hpp). R's
// shape is only known at plan time: when it equals Y's and the kernel is a GEMM, the epilogue adds
// it while the tile is in registers; any other case (a broadcast R, an R that widens the output,
// the direct and NCHW kernels) runs the conv without activation and then one pass that adds R and
// activates.
#pragma once

#include <memory>

#include "kernels/kernel.hpp"
#include "ukernels/activation.hpp"

namespace keel {

// Wraps `conv` (conv(X) + bias of shape conv_shape, no activation) into the second-pass form:
// Y (out_shape, the broadcast of conv_shape and R's shape) = act(conv + R).
std::unique_ptr<Kernel> make_conv_residual_after(std::unique_ptr<Kernel> conv,
                                                 const Shape& conv_shape, const Shape& r_shape,
                                                 const Shape& out_shape, const ActParams& act);

}  // namespace keel
