// 3x3 stride-1 Conv on NHWC activations as Winograd F(2x2, 3x3) (ukernels/winograd_ukernel.hpp):
// 2.25x fewer multiplications than the direct or implicit-GEMM kernels, for the layers that
// dominate ResNets. The weights are transformed (in float64) and packed at plan time.
#pragma once

#include <cstdint>

namespace keel {

// The implementation list's kConvNhwcWinograd (conv_implementation.hpp) takes a conv of one
// group, 3x3 kernel, stride 1, no dilation, at least kWinogradMinInputs input and
// kWinogradMinOutputs output channels (fewer make GEMMs too small for the transforms to pay
// off), and enough tiles to share the transformed weights when these are large; unless the
// execution options switch it off (ModelOptions::winograd = false).
constexpr int64_t kWinogradMinInputs = 64;
constexpr int64_t kWinogradMinOutputs = 32;

}  // namespace keel
