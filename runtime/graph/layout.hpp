// The physical layout of a node's activations. ONNX tensors are NCHW; the choose_layout pass
// (passes/choose_layout.cpp) may run layout-aware ops on NHWC data instead and records
// NodeDecisions::layout = kNhwc for each such node (graph/fused_ops.hpp). For such a node every
// activation input and output of rank 4 is stored [N, H, W, C] (its shape reads that way too);
// weights and per-channel parameters keep their ONNX shapes, and attributes that name spatial
// dims (pads, strides, kernel_shape) keep their ONNX meaning.
#pragma once

#include "core/api_types.hpp"  // Layout, LayoutOption
#include "core/status.hpp"
#include "graph/graph.hpp"

namespace keel {

// A Conv decided NHWC may also keep its X in NCHW (NodeDecisions::input_layout): X stays the
// model's NCHW tensor and the kernel reads it in place, strided. choose_layout does this for
// convolutions with at most kMaxStridedNchwChannels input channels (a stem on an RGB image), where
// the strided reads cost less than a transpose.
inline constexpr int64_t kMaxStridedNchwChannels = 4;

// The node's layout (NodeDecisions::layout).
inline Layout node_layout(const Node& node) { return node.decisions.layout; }

// The layout of the node's X (input 0): NodeDecisions::input_layout when set, else its layout.
inline Layout node_input_layout(const Node& node) {
  return node.decisions.has_input_layout ? node.decisions.input_layout : node.decisions.layout;
}

}  // namespace keel
