// A depthwise Conv that absorbed the 1x1 expansion before it (passes/fuse_expand_depthwise.cpp,
// keel-only, NHWC): the inverted-residual block of MobileNetV2 and EfficientNet. X is the
// expansion's input [N, H, W, C_in], kExpandW and kExpandBias its weights [C, C_in, 1, 1] and
// optional bias, and its fused activation NodeDecisions::expand_activation; W and B stay the
// depthwise weights [C, 1, kH, kW] and bias (graph/fused_ops.hpp). The expanded tensor (6x the
// block's channels, 1.2-4.8 MB per image at 56x56 and 112x112) then never goes through memory: each
// thread expands bands of input rows into a buffer that stays in L2 and runs the depthwise rows
// on it, keeping the rows a band shares with the next. An image whose expanded tensor fits L2
// is expanded whole instead, as the two separate convs did. A fused pooling (the pooled result,
// kernels/conv_pool.hpp) comes from the rows as they are written.
#pragma once

#include <memory>

#include "kernels/kernel.hpp"

namespace keel {

// For a FusedConv with the ConvOperand::kExpandW operand.
Result<std::unique_ptr<Kernel>> make_conv_expand_depthwise(PrepareContext& ctx);

}  // namespace keel
