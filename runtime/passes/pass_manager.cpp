#include <set>
#include <tuple>

#include "passes/pass.hpp"

namespace keel {

Status run_load_passes(Graph& graph, PassContext& ctx) {
  if (ctx.options.runtime_fusions) lower_qlinear_ops(graph, ctx);
  if (ctx.options.fold) {
    // Folding one BN can expose another (Conv -> BN -> Conv -> BN chains): iterate.
    for (int round = 0; round < 64; ++round) {
      // First: the folds below see through Identity, Cast, Reshape... of initializers.
      bool changed = fold_constants(graph, ctx);
      changed = fold_batchnorm_into_producer(graph, ctx) || changed;
      changed = fold_batchnorm_into_consumer(graph, ctx) || changed;
      changed = fold_conv_mul_add(graph, ctx) || changed;
      if (!changed) break;
    }
    // The fused node is a standard ONNX op of the model's own opset and LayerNormalization-17
    // passes the ONNX checker, so `keel fold` writes this rewrite too (see the pass file).
    fuse_layernorm_pattern(graph, ctx);
    // One skip line per BatchNormalization that stays, with its last reason.
    for (const Node* n : graph.nodes()) {
      if (n->op_type != "BatchNormalization" || !n->domain.empty()) continue;
      auto it = ctx.bn_skip_reason.find(n->name);
      ctx.events.push_back({false, "fold_batchnorm", n->name, "",
                            it == ctx.bn_skip_reason.end() ? "no foldable neighbour" : it->second});
    }
    // Skips recorded once per round: keep the first of each.
    // A skip seen in an early round may have folded later: drop it then.
    std::set<std::tuple<bool, std::string, std::string, std::string>> seen;
    std::set<std::string> folded_sources;
    for (const FoldEvent& e : ctx.events) {
      if (e.folded) folded_sources.insert(e.source);
    }
    std::vector<FoldEvent> unique;
    for (FoldEvent& e : ctx.events) {
      if (e.folded) {
        unique.push_back(std::move(e));
      } else if (!folded_sources.count(e.source.empty() ? e.target : e.source) &&
                 seen.insert({e.folded, e.pass, e.target, e.source}).second) {
        unique.push_back(std::move(e));
      }
    }
    ctx.events = std::move(unique);
  }
  if (ctx.options.runtime_fusions) {
    fuse_gelu_pattern(graph, ctx);
    fuse_conv_add(graph, ctx);  // first: the activation after the Add then fuses too
    fuse_activation(graph, ctx);
    fuse_conv_gate(graph, ctx);  // the gate's convs carry their activations by now
    fuse_conv_pool(graph, ctx);  // last: fuse_conv_gate looks for the pooling node
  }
  graph.compact();
  // Last: the layout pass sees the final ops (a no-op for LayoutOption::kNchw).
  KEEL_RETURN_IF_ERROR(choose_layout(graph, ctx));
  if (ctx.options.runtime_fusions) fuse_expand_depthwise(graph, ctx);
  graph.compact();
  if (ctx.options.precision == Precision::kBf16) choose_precision(graph, ctx);
  return Status::ok();
}

}  // namespace keel
