// The activation a fusion pass (passes/fuse_activation.cpp) folded into a Conv, Gemm-like or
// BatchNormalization node, recorded as keel-private attributes: _keel_activation (an ONNX op
// name, or "Silu" for Sigmoid-then-Mul), _keel_min/_keel_max (Clip), _keel_alpha/_keel_beta
// (LeakyRelu, HardSigmoid). The kernels apply it in their epilogue.
#pragma once

#include <string>

#include "kernels/kernel.hpp"
#include "ukernels/activation.hpp"

namespace keel {

// The attribute value naming `kind` ("Relu", "Silu", ...); "" for kNone.
const char* fused_activation_name(ActKind kind);

// kNone when the node carries no fused activation; INVALID_MODEL for an unknown name. `prefix`
// replaces "_keel_" in the attribute names (a second fused activation: kernels/conv_expand_dw.hpp).
Result<ActParams> read_fused_activation(const PrepareContext& ctx,
                                        const std::string& prefix = "_keel_");

}  // namespace keel
