// fuse_conv_add (keel-only, not written by `keel fold`): a residual connection. A Conv whose
// output feeds only an Add of another computed tensor R becomes a FusedConv with R as its
// residual operand and the Add's
// output as its own (kernels/conv/residual_after.hpp); fuse_activation, which runs next, then moves
// the activation after the Add into the same node. The convolution's GEMM adds R while each output
// tile is in registers, so the block's sum and its Relu cost no pass over memory of their own.
// Constant addends are fold_conv_mul_add's (they become the bias). R's shape is only known at
// plan time: the kernel also handles an R that broadcasts, so the rewrite never depends on it.
// Acyclic by construction: R is an input of the Add, and the conv's output has no other reader,
// so R cannot depend on the conv.
#include "passes/pass_util.hpp"

namespace keel {

bool fuse_conv_add(Graph& graph, PassContext& ctx) {
  bool changed = false;
  for (Node* conv : graph.nodes()) {
    if (!is_op(conv, "Conv") || has_conv_operand(*conv, ConvOperand::kResidual) ||
        conv->decisions.activation.kind != ActKind::kNone || !conv->has_input(ConvOperand::kX) ||
        !conv->has_input(ConvOperand::kW) || conv->inputs.size() > ConvOperand::kResidual) {
      continue;
    }
    Node* add = sole_consumer(conv->outputs[0]);
    // Before opset 7 an Add may broadcast by its own rule (broadcast, axis); the fused kernel
    // broadcasts the numpy way only.
    if (!is_op(add, "Add") || add->opset < 7) continue;
    Value* r = other_input(add, conv->outputs[0]);
    if (r == nullptr || r->is_constant()) continue;
    make_fused(*conv, ConvOperand::kResidual + 1);
    graph.replace_input(conv, ConvOperand::kResidual, r);
    const std::string add_name = add->name;
    absorb_output(graph, conv, add);
    ctx.events.push_back({true, "fuse_conv_add", conv->name, add_name,
                          "the residual Add runs in the Conv's epilogue"});
    changed = true;
  }
  return changed;
}

}  // namespace keel
