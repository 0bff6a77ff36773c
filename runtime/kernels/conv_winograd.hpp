// 3x3 stride-1 Conv on NHWC activations as Winograd F(2x2, 3x3) (ukernels/winograd_ukernel.hpp):
// 2.25x fewer multiplications than the direct or implicit-GEMM kernels, for the layers that
// dominate ResNets. The weights are transformed (in float64) and packed at plan time.
#pragma once

#include <memory>

#include "graph/graph.hpp"
#include "kernels/conv_params.hpp"
#include "kernels/kernel.hpp"

namespace keel {

// Whether a conv (make_conv_nhwc's arguments; X NHWC) runs as Winograd: one group, 3x3 kernel,
// stride 1, no dilation, at least kWinogradMinInputs input and kWinogradMinOutputs output
// channels (fewer make GEMMs too small for the transforms to pay off), and enough tiles to
// share the transformed weights when these are large (conv_winograd.cpp).
constexpr int64_t kWinogradMinInputs = 64;
constexpr int64_t kWinogradMinOutputs = 32;
bool winograd_applies(const ConvShapes& cs, const Geometry3& g);

// Switched off for a whole model by ModelOptions::winograd = false (ExecutionOptions).

// The kernel for such a conv; with `residual`, input 3 (Y's shape) is added before the
// activation.
Result<std::unique_ptr<Kernel>> make_conv_winograd(PrepareContext& ctx, const ConvShapes& cs,
                                                   const Geometry3& g, const ConvActivation& act,
                                                   bool residual);

}  // namespace keel
