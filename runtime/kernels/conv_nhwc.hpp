// 2-D Conv on NHWC activations (graph/layout.hpp): the implementations make_conv dispatches
// to for a node whose layout is NHWC (graph/layout.hpp).
#pragma once

#include <memory>

#include "kernels/conv_params.hpp"
#include "kernels/kernel.hpp"

namespace keel {

enum class NhwcConvImpl { k1x1, kDepthwise, kWinograd, kDirect, kGemm };

// The implementation make_conv_nhwc picks for a conv (see conv_nhwc.cpp); Winograd only when
// `winograd` (ExecutionOptions::winograd).
NhwcConvImpl choose_nhwc_conv(const ConvShapes& cs, const Geometry3& g, Layout x_layout,
                              bool winograd);
// Whether that implementation can add a residual (input 3, Y's shape) in its epilogue.
bool nhwc_conv_adds_residual(NhwcConvImpl impl);
// Whether it takes a gate (input 4, kernels/conv_gate.hpp) into its weights: the 1x1 GEMM
// scales its packed W (C x M) once per image, less work than a pass over X (pixels x C)
// while M <= pixels.
bool nhwc_conv_gates_weights(NhwcConvImpl impl, const ConvShapes& cs, const Geometry3& g);
// Whether it pools its output (output 1, kernels/conv_pool.hpp) row by row as it goes.
bool nhwc_conv_pools_rows(NhwcConvImpl impl);

// Picks and prepares the implementation for a Conv whose inputs, geometry (2-D, in g's last
// two dims) and output shape [N, OH, OW, M] make_conv has validated and set; X is NHWC, or
// NCHW when x_layout says so (NodeDecisions::input_layout). Needs W constant. With `residual`,
// the residual operand (Y's shape, NHWC) is added before the activation; only where
// nhwc_conv_adds_residual. With `gate`, X's channels are scaled by the gate operand per image;
// only where nhwc_conv_gates_weights. With `pool`, the pooled result gets the mean of each
// output channel; only where nhwc_conv_pools_rows.
Result<std::unique_ptr<Kernel>> make_conv_nhwc(PrepareContext& ctx, const ConvShapes& cs,
                                               const Geometry3& g, const ConvActivation& act,
                                               Layout x_layout, bool residual, bool gate = false,
                                               bool pool = false);

}  // namespace keel
