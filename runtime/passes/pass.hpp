// Load-time graph rewrites. A pass scans the graph, rewrites what it can prove exact, and
// records every fold and every skip (with its reason) so `keel fold` can report them.
#pragma once

#include <map>
#include <string>
#include <vector>

#include "core/api_types.hpp"  // FoldEvent
#include "core/status.hpp"
#include "graph/graph.hpp"
#include "graph/layout.hpp"

namespace keel {

struct PassOptions {
  bool fold = true;               // fold BatchNorm / per-channel Mul/Add into linear neighbours
  bool fold_overridable = false;  // initializers listed as graph inputs may be folded too
  bool runtime_fusions = true;    // keel-only fusions (not standard ONNX); off for `keel fold`
  // Storage layout of activations (keel-only: kNchw for a graph that is to be exported).
  LayoutOption layout = LayoutOption::kNchw;
  // How the caller stores rank-4 graph inputs (kNhwc: [N, H, W, C]; keel-only as well).
  Layout input_layout = Layout::kNchw;
  // Under kBf16 choose_precision marks the nodes that run bfloat16 (keel-only as well).
  Precision precision = Precision::kFp32;
  std::vector<std::string> fp32_ops;  // operator types kept float32 under kBf16
};

struct PassContext {
  PassOptions options;
  std::vector<FoldEvent> events;
  // Last reason each BatchNormalization node could not be folded (reported at the end for
  // the ones that remain).
  std::map<std::string, std::string> bn_skip_reason;
  std::vector<PrecisionChoice> precision;  // choose_precision's decisions
};

// Runs the load-time passes to a fixed point.
Status run_load_passes(Graph& graph, PassContext& ctx);

// Individual passes: each returns true when it changed the graph.
// QLinearConv / QLinearMatMul -> DequantizeLinear, Conv / MatMul, QuantizeLinear (keel-only: the
// QOperator form of a quantized model as its QDQ form). Runs first.
bool lower_qlinear_ops(Graph& graph, PassContext& ctx);
// Evaluates nodes whose inputs are all constant initializers; their outputs become ones.
bool fold_constants(Graph& graph, PassContext& ctx);
bool fold_batchnorm_into_producer(Graph& graph, PassContext& ctx);
bool fold_batchnorm_into_consumer(Graph& graph, PassContext& ctx);
bool fold_conv_mul_add(Graph& graph, PassContext& ctx);
// An activation (kernels/fused_activation.hpp) after a remaining BatchNormalization, a Conv or
// a MatMul with constant B (which also takes a following per-column bias Add).
bool fuse_activation(Graph& graph, PassContext& ctx);
// Conv -> Add of a computed tensor (a residual connection) -> one Conv with that tensor as a
// fourth input, added in its epilogue (kernels/conv/residual_after.hpp). Runs before
// fuse_activation.
bool fuse_conv_add(Graph& graph, PassContext& ctx);
// Mul(x, g) -> Conv, g a squeeze-excitation gate computed from GlobalAveragePool(x) -> one Conv
// reading x with g as a fifth input (kernels/conv/gate_before.hpp). Runs after fuse_activation.
bool fuse_conv_gate(Graph& graph, PassContext& ctx);
// GlobalAveragePool of a Conv's output -> the Conv's second output (kernels/conv/pool_after.hpp).
// Runs after fuse_conv_gate.
bool fuse_conv_pool(Graph& graph, PassContext& ctx);
// Decomposed exact GELU (Div, Erf, Add, Mul, Mul) -> one Gelu node (keel-only below opset 20).
bool fuse_gelu_pattern(Graph& graph, PassContext& ctx);
// Decomposed LayerNorm / RMSNorm subgraphs -> LayerNormalization (opset >= 17) or
// RMSNormalization (opset >= 23) of the model's opset (standard ONNX: runs with folding).
bool fuse_layernorm_pattern(Graph& graph, PassContext& ctx);
// NHWC 1x1 expansion -> depthwise Conv -> one node (kernels/conv/expand_depthwise.cpp). Runs after
// choose_layout (both convs must be NHWC).
bool fuse_expand_depthwise(Graph& graph, PassContext& ctx);
// Under options.precision kBf16: marks each Conv (NHWC, one group, constant 2-D weights), Gemm
// (constant 2-D B) and MatMul (constant 2-D or activation B) that runs bfloat16
// (NodeDecisions::precision), keeping in
// float32 the first convolution on a graph input, the last parametric nodes before each graph
// output and the operator types in options.fp32_ops. Runs last.
void choose_precision(Graph& graph, PassContext& ctx);
// Runs 2-D convolutions and the ops around them on NHWC data when options.layout asks for it
// (kAuto: by the rule in the pass file); graph inputs and outputs stay NCHW.
Status choose_layout(Graph& graph, PassContext& ctx);

}  // namespace keel
