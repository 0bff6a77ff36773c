// A depthwise Conv that absorbed the 1x1 expansion before it (passes/fuse_expand_depthwise.cpp,
// keel-only, NHWC): the inverted-residual block of MobileNetV2 and EfficientNet. Input 0 is the
// expansion's X [N, H, W, C_in], inputs 5 and 6 its weights [C, C_in, 1, 1] and optional bias,
// and its fused activation sits in the attributes with kExpandActivationPrefix; inputs 1 and 2
// stay the depthwise weights [C, 1, kH, kW] and bias. The expanded tensor (6x the block's
// channels, 1.2-4.8 MB per image at 56x56 and 112x112) then never goes through memory: each
// thread expands bands of input rows into a buffer that stays in L2 and runs the depthwise rows
// on it, keeping the rows a band shares with the next. An image whose expanded tensor fits L2
// is expanded whole instead, as the two separate convs did. A fused pooling (output 1,
// kernels/conv_pool.hpp) comes from the rows as they are written.
#pragma once

#include <memory>

#include "kernels/kernel.hpp"

namespace keel {

// Marks a depthwise Conv carrying its expansion (int attribute, 1).
inline constexpr char kExpandAttr[] = "_keel_expand";
// The expansion's fused activation: "_keel_expand_activation", "_keel_expand_min", ...
inline constexpr char kExpandActivationPrefix[] = "_keel_expand_";

Result<std::unique_ptr<Kernel>> make_conv_expand_depthwise(PrepareContext& ctx);

}  // namespace keel
