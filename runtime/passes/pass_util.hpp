// Helpers shared by the folding passes: reading constants as double, cloning shared weights,
// and the BatchNormalization preconditions.
#pragma once

#include <optional>
#include <string>
#include <vector>

#include "graph/graph.hpp"
#include "passes/pass.hpp"

namespace keel {

// The constant behind `v` when a pass may fold it: a fixed initializer, or an overridable one
// when the options allow. Otherwise nullptr and `why` says which.
const Tensor* foldable_constant(const Value* v, const PassContext& ctx, const std::string& role,
                                std::string* why);
// Values of a float16/float32/float64 tensor as double; nullopt for other types.
std::optional<std::vector<double>> to_doubles(const Tensor& t);
// The value of input `slot` of `node`, cloned into a fresh constant when any other node, a
// graph input or a graph output also uses it (so scaling it cannot change anything else).
Value* own_constant(Graph& graph, Node* node, size_t slot);
// Replaces the constant of `v` with float32 `values` (rounded once) of `shape`.
void set_float_constant(Value* v, const Shape& shape, const std::vector<double>& values);
// The constant weights, group and optional bias of a Conv or ConvTranspose that a fold may
// rewrite: float32 W of rank >= 3 (Conv [C_out, C_in/group, k...], ConvTranspose
// [C_in, C_out/group, k...]), a valid group, a float32 bias of C_out values when present.
// Otherwise nullopt and the failed precondition ("constant weights", "weights", "group",
// "constant bias", "bias") in `why`.
struct ConvConstants {
  const Tensor* w = nullptr;
  const Tensor* b = nullptr;  // nullptr when the node has no bias
  int64_t group = 1;
  int64_t in_channels = 0, out_channels = 0;
  int64_t taps = 1;  // product of the kernel dims
};
std::optional<ConvConstants> conv_constants(const Node& node, const PassContext& ctx,
                                            std::string* why);
// Sets input `slot` of `node` (a bias) to float32 `values`: the node's own copy of an existing
// constant is overwritten, or a new constant is created and wired in when the input is absent.
void set_bias(Graph& graph, Node* node, size_t slot, const std::vector<double>& values);
// True when `v` feeds exactly one node input and is not a graph output.
bool single_use(const Value* v);
// True when any of the node's optional outputs from index 1 on is used.
bool extra_outputs_used(const Node& node);

// y = x * scale[c] + shift[c] per channel, computed in double: scale = gamma / sqrt(var + eps),
// shift = beta - mean * scale.
struct BatchNormAffine {
  std::vector<double> scale, shift;
};
// Checks every precondition of folding `bn` (inference mode, spatial, constant parameters of
// length `channels`, eps, var + eps > 0, finite results); on failure returns nullopt and the
// reason, naming the failed precondition.
std::optional<BatchNormAffine> batchnorm_affine(const Node& bn, int64_t channels,
                                                const PassContext& ctx, std::string* why);
// Moves `bn`'s output to `producer` (which keeps the BN's output name) and erases `bn`.
void absorb_output(Graph& graph, Node* producer, Node* bn);

// A new node of the default domain, `op` at `opset`, named `name`, reading `inputs` and writing
// `outputs` (producers and consumers wired).
Node* add_onnx_node(Graph& graph, const std::string& op, int opset, const std::string& name,
                    std::vector<Value*> inputs, std::vector<Value*> outputs);

// Rank of a value when the model declares it (value_info, inputs, outputs), else -1.
int64_t declared_rank(const Value* v);
// A live node implementing standard `op` (its fused kind too: graph/fused_ops.hpp) with exactly
// one (present) output.
bool is_op(const Node* n, const char* op);
// The one node reading `v` (once), when `v` is not a graph output either.
Node* sole_consumer(const Value* v);
// The other input of a two-input node that reads `v` in one of its two slots.
Value* other_input(const Node* n, const Value* v);
// The value of a foldable constant with exactly one element, as double.
std::optional<double> scalar_constant(const Value* v, const PassContext& ctx);

}  // namespace keel
