// The activation a fusion pass (passes/fuse_activation.cpp) folded into a Conv, MatMul or
// BatchNormalization node (their fused kinds), recorded as NodeDecisions::activation
// (graph/fused_ops.hpp). The kernels apply it in their epilogue.
#pragma once

#include "ukernels/activation.hpp"

namespace keel {

// The ONNX operator `kind` stands for ("Relu", "Silu" for Sigmoid-then-Mul, ...); "" for kNone.
const char* fused_activation_name(ActKind kind);

}  // namespace keel
