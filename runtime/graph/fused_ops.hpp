// The seam between the load passes and the kernels: keel's own node kinds, which only passes
// create, the named roles of their operands, and the typed record of what the passes decided
// for a node. Kernels read these fields, never strings; a model file cannot reach them (the
// importer refuses the private domain and any attribute with the private prefix), and
// `keel fold` never writes them (it runs no fusion and exports standard ONNX only).
//
// A fused node keeps the opset of the standard operator it grew from (Node::opset), so its
// kernel reads the standard attributes with that operator's meaning.
#pragma once

#include <cstddef>

#include "core/api_types.hpp"       // Layout
#include "ukernels/activation.hpp"  // ActParams: plain data

namespace keel {

class Node;

// The domain of keel's fused node kinds (never imported from a file).
inline constexpr char kKeelDomain[] = "keel.private";
// The prefix keel once used for private attributes; a model carrying one is refused by name.
inline constexpr char kPrivateAttributePrefix[] = "_keel_";

// Fused node kinds (op_type in kKeelDomain) and the standard operator each extends.
inline constexpr char kFusedConv[] = "FusedConv";            // Conv
inline constexpr char kFusedMatMul[] = "FusedMatMul";        // MatMul with constant B
inline constexpr char kFusedBatchNorm[] = "FusedBatchNorm";  // BatchNormalization

// FusedConv operands: Conv's three, then what fusions add; an absent role is a null slot.
struct ConvOperand {
  enum : size_t {
    kX = 0,     // X (for an expansion: the expansion's input)
    kW = 1,     // W
    kBias = 2,  // B, optional
    kResidual,  // R added before the activation (kernels/conv/residual_after.hpp)
    kGate,      // G scaling X's channels per image (kernels/conv/gate_before.hpp)
    kExpandW,  // a 1x1 expansion run before this depthwise conv (kernels/conv/expand_depthwise.cpp)
    kExpandBias,  // its bias, optional
    kCount
  };
};
struct ConvResult {
  enum : size_t {
    kY = 0,
    kPooled,  // the global average pool of Y (kernels/conv/pool_after.hpp)
    kCount
  };
};
// FusedMatMul operands: MatMul's two, then a per-column bias added in the GEMM epilogue.
struct MatMulOperand {
  enum : size_t { kA = 0, kB = 1, kBias = 2, kCount };
};

// What the load passes decided for one node (any node: layout applies to standard ops too).
struct NodeDecisions {
  Layout layout = Layout::kNchw;
  // Conv only: X stays in this layout when it differs from `layout` (graph/layout.hpp).
  bool has_input_layout = false;
  Layout input_layout = Layout::kNchw;
  // Applied to the output in the kernel's epilogue (Conv, MatMul, BatchNormalization kinds).
  ActParams activation;
  // FusedConv with an expansion: the expansion's own activation.
  ActParams expand_activation;
  // Conv, Gemm, MatMul kinds: bfloat16 weights and products (passes/choose_precision.cpp).
  Precision precision = Precision::kFp32;
};

// A live standard Conv or a FusedConv.
bool is_conv(const Node* n);
// A FusedConv carrying an operand in `role` (ConvOperand).
bool has_conv_operand(const Node& n, size_t role);
// Turns a standard Conv, MatMul or BatchNormalization into its fused kind (no-op when it is one
// already); operands and attributes stay, the input list grows to `min_inputs` null slots.
void make_fused(Node& n, size_t min_inputs = 0);
// The standard operator a node implements: "Conv" for a FusedConv, its op_type otherwise
// (profiles and FLOP counts group by it).
const char* onnx_op_type(const Node& n);

}  // namespace keel
