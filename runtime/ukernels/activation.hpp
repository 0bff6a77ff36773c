// Activations that ukernels apply to values still in registers: the GEMM and convolution
// epilogues and the normalization scale-shift. Plain data only: this header is included by
// translation units compiled with AVX flags, so it must not define any inline function (the
// vector bodies are in activation_body.inc, the scalar one in activation.cpp).
#pragma once

#include <cstdint>

namespace keel {

enum class ActKind : int32_t {
  kNone = 0,
  kRelu,         // max(x, 0)
  kClip,         // min(max(x, lo), hi)
  kLeakyRelu,    // x < 0 ? alpha * x : x
  kHardSwish,    // x * min(max(x / 6 + 1/2, 0), 1)
  kHardSigmoid,  // min(max(alpha * x + beta, 0), 1)
  kSigmoid,      // 1 / (1 + exp(-x))
  kSilu,         // x * sigmoid(x) (Swish: a Sigmoid and a Mul in ONNX graphs)
  kGelu,         // x * (1 + erf(x / sqrt(2))) / 2
};

struct ActParams {
  ActKind kind = ActKind::kNone;
  float lo = 0.0f, hi = 0.0f;  // kClip
  float alpha = 0.0f;          // kLeakyRelu, kHardSigmoid
  float beta = 0.0f;           // kHardSigmoid
};

// The activation of one value, for scalar epilogues and edge paths (baseline code).
float activate_scalar(float v, const ActParams& p);

}  // namespace keel
