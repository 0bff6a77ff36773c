// fuse_conv_add (keel-only, not written by `keel fold`): a residual connection. A Conv whose
// output feeds only an Add of another computed tensor R takes R as its input 3 and the Add's
// output as its own (kernels/conv_residual.hpp); fuse_activation, which runs next, then moves the
// activation after the Add into the same node. The convolution's GEMM adds R while each output
// tile is in registers, so the block's sum and its Relu cost no pass over memory of their own.
// Constant addends are fold_conv_mul_add's (they become the bias). R's shape is only known at
// plan time: the kernel also handles an R that broadcasts, so the rewrite never depends on it.
// Acyclic by construction: R is an input of the Add, and the conv's output has no other reader,
// so R cannot depend on the conv.
#include "kernels/conv_residual.hpp"
#include "passes/pass_util.hpp"

namespace keel {

bool fuse_conv_add(Graph& graph, PassContext& ctx) {
  bool changed = false;
  for (Node* conv : graph.nodes()) {
    if (!is_op(conv, "Conv") || conv->has_attribute(kResidualAttr) ||
        conv->has_attribute("_keel_activation") || !conv->has_input(0) || !conv->has_input(1) ||
        conv->inputs.size() > 3) {
      continue;
    }
    Node* add = sole_consumer(conv->outputs[0]);
    // Before opset 7 an Add may broadcast by its own rule (broadcast, axis); the fused kernel
    // broadcasts the numpy way only.
    if (!is_op(add, "Add") || add->opset < 7) continue;
    Value* r = other_input(add, conv->outputs[0]);
    if (r == nullptr || r->is_constant()) continue;
    conv->inputs.resize(3, nullptr);  // an absent bias keeps its slot
    conv->inputs.push_back(nullptr);
    graph.replace_input(conv, 3, r);
    conv->attributes[kResidualAttr] = Attribute::of_int(1);
    const std::string add_name = add->name;
    absorb_output(graph, conv, add);
    ctx.events.push_back({true, "fuse_conv_add", conv->name, add_name,
                          "the residual Add runs in the Conv's epilogue"});
    changed = true;
  }
  return changed;
}

}  // namespace keel
