// A Conv (standard or FusedConv, graph/fused_ops.hpp) read once into a validated descriptor:
// parse_conv is the only code that reads a Conv's attributes, operands and the passes'
// decisions; every implementation (conv_implementation.hpp) works from the descriptor.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "core/status.hpp"
#include "graph/layout.hpp"
#include "kernels/kernel.hpp"
#include "kernels/window_geometry.hpp"
#include "ukernels/activation.hpp"

namespace keel {

// The activation a fusion pass folded into the Conv (kernels/fused_activation.hpp).
using ConvActivation = ActParams;

// X, W, B and group of a Conv or ConvTranspose, validated by check_conv_inputs.
struct ConvShapes {
  int64_t batch = 0, cin = 0, cout = 0, group = 1, cin_g = 0, cout_g = 0;
  std::vector<int64_t> in_spatial, kernel;
  bool has_bias = false;
};

// Checks input count, dtypes, ranks and the X/W/B/group agreement. With x_layout kNhwc, X is
// [N, H, W, C] (rank 4 only); W and B keep their ONNX shapes.
Status check_conv_inputs(PrepareContext& ctx, bool transpose, Layout x_layout, ConvShapes& cs);

struct ConvDescriptor {
  ConvShapes shapes;  // with an expansion: the depthwise conv's (cin = its C, group = C)
  WindowGeometry window;
  Geometry3 g;                             // the window in 3-D (a 2-D conv: index 1 is H, 2 is W)
  Layout layout = Layout::kNchw;           // Y's, and X's unless x_layout says otherwise
  Layout x_layout = Layout::kNchw;         // NodeDecisions::input_layout
  ConvActivation act;                      // after the bias (and residual)
  Precision precision = Precision::kFp32;  // NodeDecisions::precision
  Shape x_shape;                           // as stored
  Shape y_shape;                           // the convolution's result, in `layout`
  Shape out_shape;                         // output 0: y_shape, or its broadcast with the residual
  bool const_w = false;                    // W known at plan time (packed then)
  // Parts fusions added (graph/fused_ops.hpp: ConvOperand, ConvResult).
  bool residual = false;  // R (residual_shape) added before the activation
  Shape residual_shape;
  bool gate = false;    // X's channels scaled per image by G
  bool pooled = false;  // output 1: Y's mean per image and channel
  bool expand = false;  // a 1x1 expansion of X (expand_cin channels) before this depthwise conv
  int64_t expand_cin = 0;
  bool const_expand_w = false;
  ConvActivation expand_act;

  bool nhwc() const { return layout == Layout::kNhwc; }
  bool x_nchw() const { return x_layout == Layout::kNchw; }
  // Kernel 1, stride 1, no padding along every spatial dim: "" ; else what differs
  // ("kernel [3,3]", "strides [2,2]", "pads [0,0,1,1]").
  std::string why_not_unit_window() const;
  // One input and one output channel per group.
  bool depthwise() const { return shapes.cin_g == 1 && shapes.cout_g == 1; }
};

// Reads and validates a Conv or FusedConv for the implementations; sets no outputs.
Result<ConvDescriptor> parse_conv(PrepareContext& ctx);

}  // namespace keel
