// fuse_conv_pool (keel-only, not written by `keel fold`): a GlobalAveragePool of a Conv's
// output (a squeeze-excitation block's pooling after its depthwise conv) becomes the pooled
// result of a FusedConv (kernels/conv/pool_after.hpp). The NHWC depthwise and direct kernels then
// sum each output row while it is in cache, instead of a pass that reads the whole tensor back; the
// Conv's output 0 stays as it was for its other readers. Runs after fuse_conv_gate, which looks
// for the GlobalAveragePool node.
#include <string>

#include "passes/pass_util.hpp"

namespace keel {

bool fuse_conv_pool(Graph& graph, PassContext& ctx) {
  bool changed = false;
  for (Node* pool : graph.nodes()) {
    if (!is_op(pool, "GlobalAveragePool") || pool->inputs.size() != 1 || !pool->has_input(0)) {
      continue;
    }
    Node* conv = pool->inputs[0]->producer;
    // is_op: one output, so no pooled output yet. 4-D weights: the pooled output is [N, C, 1, 1].
    if (!is_op(conv, "Conv") || !conv->has_input(ConvOperand::kW) ||
        !conv->inputs[ConvOperand::kW]->is_fixed_constant() ||
        conv->inputs[ConvOperand::kW]->constant->shape().size() != 4) {
      continue;
    }
    Value* pooled = pool->outputs[0];
    const std::string pool_name = pool->name;
    graph.erase_node(pool);
    make_fused(*conv);
    conv->outputs.resize(ConvResult::kPooled, nullptr);
    conv->outputs.push_back(pooled);
    pooled->producer = conv;
    ctx.events.push_back({true, "fuse_conv_pool", conv->name, pool_name,
                          "the global average pool is the Conv's second output"});
    changed = true;
  }
  return changed;
}

}  // namespace keel
