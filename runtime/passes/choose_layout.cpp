// choose_layout (keel-only, never written by `keel fold`): runs a model's 2-D convolutions and
// the ops around them on NHWC data (graph/layout.hpp).
//
// A walk in topological order gives every rank-4 activation a storage layout. Convolutions
// with constant 4-D weights always run NHWC (their input is transposed once if it arrives
// NCHW, or read in place if it has at most kMaxStridedNchwChannels channels and is not a graph
// input); pooling and normalization ops run NHWC when their input already is; elementwise ops,
// Concat, Split, Reduce* and Pad keep NHWC by rewriting their axes or permuting their constant
// operands; a Transpose reading NHWC data absorbs the conversion into its perm. Every other op
// reads NCHW, through one Transpose per value, and graph outputs are converted back, so the model's
// inputs and outputs stay exactly as ONNX defines them. With input_layout NHWC the caller hands
// rank-4 inputs as NHWC (an image decoder's HWC buffer): no conversion at all when the first op is
// a Conv.
#include <algorithm>
#include <cstring>
#include <map>
#include <optional>
#include <set>

#include "graph/layout.hpp"
#include "passes/pass_util.hpp"

namespace keel {
namespace {

// NCHW axis -> NHWC position.
constexpr int64_t kToNhwc[4] = {0, 3, 1, 2};
const std::vector<int64_t> kPermToNhwc = {0, 2, 3, 1};
const std::vector<int64_t> kPermToNchw = {0, 3, 1, 2};

const std::set<std::string> kUnary = {"Relu",
                                      "Sigmoid",
                                      "Tanh",
                                      "Clip",
                                      "LeakyRelu",
                                      "HardSwish",
                                      "HardSigmoid",
                                      "Elu",
                                      "Selu",
                                      "Celu",
                                      "Softplus",
                                      "Softsign",
                                      "Gelu",
                                      "Mish",
                                      "Exp",
                                      "Log",
                                      "Abs",
                                      "Neg",
                                      "Sqrt",
                                      "Erf",
                                      "Identity",
                                      "Cast",
                                      "Floor",
                                      "Ceil",
                                      "Round",
                                      "Reciprocal",
                                      "Sign",
                                      "Not",
                                      "ThresholdedRelu",
                                      "Sin",
                                      "Cos",
                                      "IsNaN",
                                      "IsInf"};
const std::set<std::string> kBroadcasting = {
    "Add",        "Sub",   "Mul",     "Div",  "Pow",   "Max", "Min", "Sum", "Mean",
    "PRelu",      "Equal", "Greater", "Less", "Where", "And", "Or",  "Xor", "GreaterOrEqual",
    "LessOrEqual"};
const std::set<std::string> kNormalizations = {"BatchNormalization", "InstanceNormalization",
                                               "GroupNormalization", "LRN"};
const std::set<std::string> kPools = {"MaxPool", "AveragePool", "GlobalAveragePool",
                                      "GlobalMaxPool"};
const std::set<std::string> kReduces = {
    "ReduceMean", "ReduceMax", "ReduceMin",       "ReduceSum",    "ReduceProd",
    "ReduceL1",   "ReduceL2",  "ReduceSumSquare", "ReduceLogSum", "ReduceLogSumExp"};

// An op's int64 list from its constant `input` (newer opsets), or from attribute `attr` when
// `input` is null (older ones). False when the input is not a fixed int64 constant or the
// attribute cannot be read.
bool ints_from_input_or_attr(const Node& n, const Value* input, const char* attr,
                             std::vector<int64_t>* out) {
  if (input) {
    if (!input->is_fixed_constant() || input->constant->dtype() != DataType::kInt64) return false;
    const Tensor& t = *input->constant;
    out->assign(t.data_as<int64_t>(), t.data_as<int64_t>() + t.numel());
    return true;
  }
  auto a = n.attr_ints(attr);
  if (!a.is_ok()) return false;
  *out = *a;
  return true;
}

// Rank of `v` when the model declares it or it is a constant; -1 otherwise.
int64_t known_rank(const Value* v) {
  if (v->is_constant()) return static_cast<int64_t>(v->constant->shape().size());
  if (v->type.dims) return static_cast<int64_t>(v->type.dims->size());
  return -1;
}

// `t` (rank <= 4, broadcast against a rank-4 NCHW tensor) as the rank-4 NHWC constant that
// broadcasts the same way against the NHWC tensor; nullopt when it cannot be allocated.
std::optional<Tensor> permute_constant(const Tensor& t) {
  Shape s = t.shape();
  while (s.size() < 4) s.insert(s.begin(), 1);
  const size_t esize = dtype_size(t.dtype());
  const auto* src = static_cast<const std::byte*>(t.data());
  std::vector<std::byte> bytes(t.nbytes());
  for (int64_t n = 0; n < s[0]; ++n)
    for (int64_t h = 0; h < s[2]; ++h)
      for (int64_t w = 0; w < s[3]; ++w)
        for (int64_t c = 0; c < s[1]; ++c) {
          const int64_t from = ((n * s[1] + c) * s[2] + h) * s[3] + w;
          const int64_t to = ((n * s[2] + h) * s[3] + w) * s[1] + c;
          std::memcpy(&bytes[static_cast<size_t>(to) * esize],
                      src + static_cast<size_t>(from) * esize, esize);
        }
  auto r = Tensor::from_bytes(t.dtype(), {s[0], s[2], s[3], s[1]}, bytes.data(), bytes.size());
  if (!r.is_ok()) return std::nullopt;
  return std::move(*r);
}

// Whether int attribute `name` (default `fallback`) reads as `want`.
bool int_attr_is(const Node& n, const char* name, int64_t fallback, int64_t want) {
  auto v = n.attr_int(name, fallback);
  return v.is_ok() && *v == want;
}

bool is_perm(const Node& transpose, const std::vector<int64_t>& perm) {
  auto p = transpose.attr_ints("perm", {});
  return p.is_ok() && *p == perm;
}

int64_t normalize_axis(int64_t axis, int64_t rank) { return axis < 0 ? axis + rank : axis; }

class LayoutRewriter {
 public:
  // nhwc_ops: run convolutions NHWC (otherwise only NHWC inputs are converted where read).
  LayoutRewriter(Graph& graph, PassContext& ctx, bool nhwc_ops)
      : graph_(graph), ctx_(ctx), nhwc_ops_(nhwc_ops) {}

  Status run() {
    KEEL_ASSIGN_OR_RETURN(std::vector<Node*> order, graph_.topological_order());
    if (ctx_.options.input_layout == Layout::kNhwc) take_nhwc_inputs();
    for (Node* n : order) visit(n);
    restore_graph_outputs();
    for (Node* t : bypassed_) {
      if (t->outputs[0]->consumers.empty() && !t->outputs[0]->is_graph_output) {
        graph_.erase_node(t);
      }
    }
    return Status::ok();
  }

 private:
  bool is_nhwc(const Value* v) const { return v && nhwc_.count(v) > 0; }

  void mark(Node* n) { n->decisions.layout = Layout::kNhwc; }

  // Tags `v` as stored NHWC; its declared NCHW dims no longer describe the storage (a graph
  // output keeps them: it is converted back at the end).
  void tag(Value* v) {
    if (!v) return;
    nhwc_.insert(v);
    if (!v->is_graph_output) v->type.dims.reset();
  }

  Value* insert_transpose(Value* from, const std::vector<int64_t>& perm, const char* suffix) {
    Value* out = graph_.create_unique_value(from->name + suffix);
    out->type.dtype = from->type.dtype;
    Node* t = add_onnx_node(graph_, "Transpose", static_cast<int>(graph_.opset_imports[""]),
                            out->name, {from}, {out});
    t->attributes["perm"] = Attribute::of_ints(perm);
    return out;
  }

  // The NHWC copy of rank-4 NCHW value `v` (one per value). When `v` is itself
  // Transpose(u, perm 0,3,1,2) (a model going back from channels-last), that is u: read it.
  Value* as_nhwc(Value* v) {
    if (is_nhwc(v)) return v;
    auto it = to_nhwc_.find(v);
    if (it != to_nhwc_.end()) return it->second;
    if (Node* p = v->producer; p && p->op_type == "Transpose" && p->domain.empty() &&
                               p->has_input(0) && is_perm(*p, kPermToNchw)) {
      bypassed_.push_back(p);
      to_nhwc_[v] = p->inputs[0];
      return p->inputs[0];
    }
    Value* t = insert_transpose(v, kPermToNhwc, "_nhwc");
    tag(t);
    to_nhwc_[v] = t;
    return t;
  }

  // The NCHW copy of NHWC value `v` (one per value).
  Value* as_nchw(Value* v) {
    auto it = to_nchw_.find(v);
    if (it != to_nchw_.end()) return it->second;
    Value* t = insert_transpose(v, kPermToNchw, "_nchw");
    to_nchw_[v] = t;
    return t;
  }

  // The op reads NCHW: every NHWC input goes through a transpose.
  void fall_back(Node* n) {
    for (size_t i = 0; i < n->inputs.size(); ++i) {
      if (is_nhwc(n->inputs[i])) graph_.replace_input(n, i, as_nchw(n->inputs[i]));
    }
  }

  void visit(Node* n) {
    const bool any_nhwc =
        std::any_of(n->inputs.begin(), n->inputs.end(), [&](Value* v) { return is_nhwc(v); });
    // keel's fused kinds are visited as the standard operator they extend.
    if (!n->domain.empty() && n->domain != kKeelDomain) {
      fall_back(n);
      return;
    }
    const std::string op = onnx_op_type(*n);
    if (op == "Conv" && visit_conv(n)) return;
    if (any_nhwc && (kPools.count(op) || kNormalizations.count(op)) && visit_window_op(n)) return;
    if (any_nhwc && kUnary.count(op) && visit_unary(n)) return;
    if (any_nhwc && (op == "QuantizeLinear" || op == "DequantizeLinear") &&
        visit_per_tensor_quantization(n)) {
      return;
    }
    if (any_nhwc && kBroadcasting.count(op) && visit_broadcasting(n)) return;
    if (any_nhwc && op == "Concat" && visit_concat(n)) return;
    if (any_nhwc && op == "Split" && visit_split(n)) return;
    if (any_nhwc && op == "Transpose" && visit_transpose(n)) return;
    if (!any_nhwc && op == "Transpose" && visit_to_nchw_transpose(n)) return;
    if (any_nhwc && kReduces.count(op) && visit_reduce(n)) return;
    if (any_nhwc && op == "Pad" && visit_pad(n)) return;
    if (any_nhwc && op == "Shape" && visit_shape(n)) return;
    if (any_nhwc && op == "Slice" && visit_slice(n)) return;
    if (any_nhwc && op == "Reshape" && visit_channel_shuffle(n)) return;
    fall_back(n);
  }

  // The caller hands rank-4 inputs as NHWC: their declared dims are permuted (that is what
  // Model::inputs() reports) and they enter the walk already tagged.
  void take_nhwc_inputs() {
    for (Value* v : graph_.inputs) {
      if (!v->type.dims || v->type.dims->size() != 4 || v->is_constant()) continue;
      std::vector<Dim>& d = *v->type.dims;
      d = {d[0], d[2], d[3], d[1]};
      nhwc_.insert(v);
    }
  }

  // A 2-D Conv with constant weights: NHWC unless only the inputs are.
  bool visit_conv(Node* n) {
    if (!nhwc_ops_) return false;
    if (!n->has_input(ConvOperand::kX) || !n->has_input(ConvOperand::kW) ||
        !n->has_output(ConvResult::kY)) {
      return false;
    }
    const Value* w = n->inputs[ConvOperand::kW];
    if (!w->is_fixed_constant() || w->constant->shape().size() != 4) return false;
    const Value* x = n->inputs[ConvOperand::kX];
    if (!is_nhwc(x) && known_rank(x) != 4) {
      // The weights say 2-D; an input of unknown rank would be rejected by the kernel anyway.
      if (known_rank(x) != -1) return false;
    }
    // A fused residual (kernels/conv/residual_after.hpp) is added to the output as it is stored: it
    // must be NHWC too, so it needs a known rank of 4 when it is not NHWC already.
    const bool residual = has_conv_operand(*n, ConvOperand::kResidual);
    Value* r = residual ? n->inputs[ConvOperand::kResidual] : nullptr;
    if (residual && !is_nhwc(r) && known_rank(r) != 4) return false;
    if (reads_nchw_in_place(n)) {
      n->decisions.has_input_layout = true;
      n->decisions.input_layout = Layout::kNchw;
    } else {
      graph_.replace_input(n, ConvOperand::kX, as_nhwc(n->inputs[ConvOperand::kX]));
    }
    if (residual && !is_nhwc(r)) graph_.replace_input(n, ConvOperand::kResidual, as_nhwc(r));
    mark(n);
    tag(n->outputs[ConvResult::kY]);
    // A fused pooling (kernels/conv/pool_after.hpp).
    if (n->has_output(ConvResult::kPooled)) tag(n->outputs[ConvResult::kPooled]);
    return true;
  }

  // A conv on few channels reads an NCHW input that an op before it produced in place, strided,
  // unless an NHWC copy of it exists anyway. Not a graph input: the caller's image comes from
  // memory (the previous run's last layers evicted it), and strided reads of 3 planes from
  // memory ran the EfficientNet stem at 470-640 us against 48 us of transposition + 251 us
  // on NHWC (1 thread, 2026-12-02; whole models 1-5% faster, alternating runs).
  bool reads_nchw_in_place(const Node* n) const {
    Value* x = n->inputs[ConvOperand::kX];
    if (x->is_graph_input) return false;
    if (is_nhwc(x) || to_nhwc_.count(x) || known_rank(x) != 4) return false;
    auto group = n->attr_int("group", 1);
    return group.is_ok() && *group >= 1 &&
           n->inputs[ConvOperand::kW]->constant->shape()[1] * *group <= kMaxStridedNchwChannels;
  }

  // Pooling and normalization ops on NHWC data (their other inputs are per-channel).
  bool visit_window_op(Node* n) {
    if (!is_nhwc(n->inputs[0])) return false;
    for (size_t i = 1; i < n->inputs.size(); ++i) {
      if (is_nhwc(n->inputs[i])) return false;
    }
    // Optional extra outputs (MaxPool Indices, training-mode statistics) stay NCHW-only.
    for (size_t i = 1; i < n->outputs.size(); ++i) {
      const Value* o = n->outputs[i];
      if (o && (o->is_graph_output || !o->consumers.empty())) return false;
    }
    mark(n);
    tag(n->outputs[0]);
    return true;
  }

  bool visit_unary(Node* n) {
    if (!is_nhwc(n->inputs[0]) || n->outputs.size() != 1) return false;
    for (size_t i = 1; i < n->inputs.size(); ++i) {
      // Clip's bounds: scalars.
      const Value* v = n->inputs[i];
      if (v && (is_nhwc(v) || known_rank(v) != 0)) return false;
    }
    tag(n->outputs[0]);
    return true;
  }

  // QuantizeLinear / DequantizeLinear with one scale and zero point for the whole tensor (how
  // quantizers write activations) are elementwise; per-axis and blocked ones read NCHW.
  bool visit_per_tensor_quantization(Node* n) {
    if (!is_nhwc(n->inputs[0]) || n->outputs.size() != 1) return false;
    auto block = n->attr_int("block_size", 0);
    if (!block.is_ok() || *block != 0) return false;
    for (size_t i = 1; i < n->inputs.size(); ++i) {
      const Value* v = n->inputs[i];
      if (!v) continue;
      if (is_nhwc(v)) return false;
      const bool one_element =
          v->is_constant() && v->constant->numel() == 1 && v->constant->shape().size() <= 1;
      if (!one_element && known_rank(v) != 0) return false;
    }
    tag(n->outputs[0]);
    return true;
  }

  // Broadcasting ops: NHWC inputs, constants permuted to match, rank-0 values as they are.
  bool visit_broadcasting(Node* n) {
    if (n->outputs.size() != 1) return false;
    for (Value* v : n->inputs) {
      if (!v || is_nhwc(v)) continue;
      const int64_t rank = known_rank(v);
      if (rank == 0) continue;
      if (!v->is_fixed_constant() || rank > 4 || !permuted_constant(v)) return false;
    }
    for (size_t i = 0; i < n->inputs.size(); ++i) {
      Value* v = n->inputs[i];
      if (!v || is_nhwc(v) || known_rank(v) == 0) continue;
      graph_.replace_input(n, i, permuted_constant(v));
    }
    tag(n->outputs[0]);
    return true;
  }

  // The NHWC form of constant `v` (one per value); nullptr when it cannot be made.
  Value* permuted_constant(Value* v) {
    auto it = permuted_.find(v);
    if (it != permuted_.end()) return it->second;
    std::optional<Tensor> t = permute_constant(*v->constant);
    if (!t) return nullptr;
    Value* p = graph_.create_unique_value(v->name + "_nhwc");
    p->set_constant(std::move(*t));
    permuted_[v] = p;
    return p;
  }

  // Inputs that are NHWC, or rank-4 values converted to it.
  bool all_rank4(const Node* n) const {
    for (const Value* v : n->inputs) {
      if (!v || (!is_nhwc(v) && known_rank(v) != 4)) return false;
    }
    return true;
  }

  bool remap_axis_attr(Node* n, int64_t default_axis) {
    auto axis = n->attr_int("axis", default_axis);
    if (!axis.is_ok()) return false;
    const int64_t a = normalize_axis(*axis, 4);
    if (a < 0 || a > 3) return false;
    n->attributes["axis"] = Attribute::of_int(kToNhwc[a]);
    return true;
  }

  bool visit_concat(Node* n) {
    if (!all_rank4(n) || !n->has_attribute("axis")) return false;
    for (Value* v : n->inputs) {
      if (v->is_fixed_constant() && !permuted_constant(v)) return false;
    }
    if (!remap_axis_attr(n, 1)) return false;
    for (size_t i = 0; i < n->inputs.size(); ++i) {
      Value* v = n->inputs[i];
      if (is_nhwc(v)) continue;
      graph_.replace_input(n, i, v->is_fixed_constant() ? permuted_constant(v) : as_nhwc(v));
    }
    tag(n->outputs[0]);
    return true;
  }

  bool visit_split(Node* n) {
    if (!is_nhwc(n->inputs[0])) return false;
    for (size_t i = 1; i < n->inputs.size(); ++i) {
      if (n->inputs[i] && !n->inputs[i]->is_fixed_constant()) return false;
    }
    if (!remap_axis_attr(n, 0)) return false;
    for (Value* o : n->outputs) tag(o);
    return true;
  }

  // Transpose of NHWC data: fold the conversion into the perm; the output is ordinary.
  bool visit_transpose(Node* n) {
    auto perm = n->attr_ints("perm", {3, 2, 1, 0});
    if (!perm.is_ok() || perm->size() != 4) return false;
    std::vector<int64_t> physical(4);
    for (size_t i = 0; i < 4; ++i) {
      const int64_t p = (*perm)[i];
      if (p < 0 || p > 3) return false;
      physical[i] = kToNhwc[p];
    }
    if (physical == std::vector<int64_t>{0, 1, 2, 3}) {
      // Channels-last of NHWC data: the bytes are already in place.
      n->op_type = "Identity";
      n->attributes.erase("perm");
    } else {
      n->attributes["perm"] = Attribute::of_ints(physical);
    }
    return true;
  }

  // A model's own Transpose(0, 3, 1, 2) of a channels-last activation (ConvNeXt returning from
  // its Linear layers): its input bytes already are the NHWC storage of its output, so it
  // becomes an Identity whose output is NHWC, and the ops after it (layer scale, residual Add)
  // stay NHWC instead of converting it back.
  bool visit_to_nchw_transpose(Node* n) {
    if (!n->has_input(0) || n->inputs[0]->is_constant() || n->outputs.size() != 1 ||
        !is_perm(*n, kPermToNchw) || n->outputs[0]->is_graph_output) {
      return false;
    }
    n->op_type = "Identity";
    n->attributes.erase("perm");
    tag(n->outputs[0]);
    return true;
  }

  // Reduce over attribute axes (opset < 18) or constant axes (opset >= 18).
  bool visit_reduce(Node* n) {
    if (!is_nhwc(n->inputs[0]) || n->outputs.size() != 1) return false;
    auto keepdims = n->attr_int("keepdims", 1);
    if (!keepdims.is_ok()) return false;
    Value* axes_input = n->has_input(1) ? n->inputs[1] : nullptr;
    std::vector<int64_t> axes;
    if (!ints_from_input_or_attr(*n, axes_input, "axes", &axes)) return false;
    if (axes.empty()) return false;  // all axes or none (noop_with_empty_axes): leave it
    std::vector<bool> reduced(4, false);
    std::vector<int64_t> physical;
    for (int64_t a : axes) {
      a = normalize_axis(a, 4);
      if (a < 0 || a > 3) return false;
      reduced[static_cast<size_t>(a)] = true;
      physical.push_back(kToNhwc[a]);
    }
    // keepdims=0 drops dims: the kept ones must come out in the same order in both layouts,
    // which fails only when C and a spatial dim both stay.
    const bool same_order = reduced[1] || (reduced[2] && reduced[3]);
    if (*keepdims == 0 && !same_order) return false;
    if (axes_input) {
      Value* p = graph_.create_unique_value(axes_input->name + "_nhwc");
      p->set_constant(
          Tensor::from_vector<int64_t>({static_cast<int64_t>(physical.size())}, physical));
      graph_.replace_input(n, 1, p);
    } else {
      n->attributes["axes"] = Attribute::of_ints(physical);
    }
    if (*keepdims != 0) tag(n->outputs[0]);
    return true;
  }

  // Pad with constant pads (input from opset 11, attribute before) and no axes input: the pads
  // are permuted into NHWC order; every mode pads each dim independently of the others.
  bool visit_pad(Node* n) {
    if (!is_nhwc(n->inputs[0]) || n->outputs.size() != 1) return false;
    if (n->has_input(3)) return false;  // axes (opset 18): left to the fallback
    for (size_t i = 2; i < n->inputs.size(); ++i) {
      if (is_nhwc(n->inputs[i])) return false;
    }
    Value* pads_input = n->opset >= 11 && n->has_input(1) ? n->inputs[1] : nullptr;
    if (n->opset >= 11 && !pads_input) return false;
    std::vector<int64_t> pads;
    if (!ints_from_input_or_attr(*n, pads_input, "pads", &pads) || pads.size() != 8) return false;
    std::vector<int64_t> physical(8);
    for (int64_t a = 0; a < 4; ++a) {
      physical[static_cast<size_t>(kToNhwc[a])] = pads[static_cast<size_t>(a)];
      physical[static_cast<size_t>(kToNhwc[a] + 4)] = pads[static_cast<size_t>(a + 4)];
    }
    if (pads_input) {
      Value* p = graph_.create_unique_value(pads_input->name + "_nhwc");
      p->set_constant(Tensor::from_vector<int64_t>({8}, physical));
      graph_.replace_input(n, 1, p);
    } else {
      n->attributes["pads"] = Attribute::of_ints(physical);
    }
    tag(n->outputs[0]);
    return true;
  }

  // Shape of NHWC data (ShuffleNet computes every channel shuffle's target shape from one):
  // the shape of the storage, put back in NCHW order by a Gather of its four values, instead
  // of a transpose of the whole tensor.
  bool visit_shape(Node* n) {
    if (!is_nhwc(n->inputs[0]) || n->outputs.size() != 1 || !n->has_output(0)) return false;
    if (n->has_attribute("start") || n->has_attribute("end")) return false;
    Value* out = n->outputs[0];
    Value* storage = graph_.create_unique_value(out->name + "_nhwc");
    storage->type.dtype = DataType::kInt64;
    n->outputs[0] = storage;
    storage->producer = n;
    nchw_shapes_.insert(add_gather(storage, kPermToNchw, out));
    return true;
  }

  // A Gather (axis 0) of `from` at constant `indices` into `out`: reorders a shape vector.
  Node* add_gather(Value* from, const std::vector<int64_t>& indices, Value* out) {
    Value* idx = graph_.create_unique_value(out->name + "_indices");
    idx->set_constant(
        Tensor::from_vector<int64_t>({static_cast<int64_t>(indices.size())}, indices));
    auto node = std::make_unique<Node>();
    node->op_type = "Gather";
    node->opset = static_cast<int>(graph_.opset_imports[""]);
    node->name = out->name + "_gather";
    node->inputs = {from, idx};
    node->outputs = {out};
    return graph_.add_node(std::move(node));
  }

  // Slice along known axes (a constant input from opset 10, the attribute before; or, absent,
  // the first len(starts) axes with constant starts): the axes are remapped, starts, ends and
  // steps (per axis, possibly computed) stay as they are.
  bool visit_slice(Node* n) {
    if (!is_nhwc(n->inputs[0]) || n->outputs.size() != 1) return false;
    for (size_t i = 1; i < n->inputs.size(); ++i) {
      if (is_nhwc(n->inputs[i])) return false;
    }
    const bool inputs_form = n->opset >= 10;
    Value* axes_input = inputs_form && n->has_input(3) ? n->inputs[3] : nullptr;
    std::vector<int64_t> axes;
    if (axes_input || (!inputs_form && n->has_attribute("axes"))) {
      if (!ints_from_input_or_attr(*n, axes_input, "axes", &axes)) return false;
    } else {
      // Absent axes: one per start.
      std::vector<int64_t> starts;
      Value* starts_input = inputs_form && n->has_input(1) ? n->inputs[1] : nullptr;
      if (inputs_form && !starts_input) return false;
      if (!ints_from_input_or_attr(*n, starts_input, "starts", &starts)) return false;
      for (size_t i = 0; i < starts.size(); ++i) axes.push_back(static_cast<int64_t>(i));
    }
    std::vector<int64_t> physical;
    for (int64_t a : axes) {
      a = normalize_axis(a, 4);
      if (a < 0 || a > 3) return false;
      physical.push_back(kToNhwc[a]);
    }
    if (!inputs_form) {
      n->attributes["axes"] = Attribute::of_ints(physical);
    } else {
      Value* p = graph_.create_unique_value(n->name + "_axes_nhwc");
      p->set_constant(
          Tensor::from_vector<int64_t>({static_cast<int64_t>(physical.size())}, physical));
      if (n->inputs.size() < 4) n->inputs.resize(4, nullptr);
      graph_.replace_input(n, 3, p);
    }
    tag(n->outputs[0]);
    return true;
  }

  // The tensor `v` is the shape of: v = Shape(x), as the model wrote it or as visit_shape
  // rewrote it (a Gather of the storage's shape); nullptr otherwise.
  const Value* shape_source(const Value* v) const {
    const Node* p = v ? v->producer : nullptr;
    if (p && nchw_shapes_.count(p)) p = p->inputs[0]->producer;
    if (!is_op(p, "Shape") || p->has_attribute("start") || p->has_attribute("end")) return nullptr;
    return p->inputs[0];
  }

  // Whether `v` is Unsqueeze(Gather(Shape(x), axis), [0]): dim `axis` of x as a 1-element
  // tensor, the way exporters build a target shape from the input's dims.
  bool is_dim_of(const Value* v, const Value* x, int64_t axis) const {
    const Node* u = v ? v->producer : nullptr;
    if (!is_op(u, "Unsqueeze") || !u->has_input(0)) return false;
    std::vector<int64_t> unsqueeze_axes;
    if (!ints_from_input_or_attr(*u, u->opset >= 13 && u->has_input(1) ? u->inputs[1] : nullptr,
                                 "axes", &unsqueeze_axes) ||
        unsqueeze_axes != std::vector<int64_t>{0}) {
      return false;
    }
    const Node* g = u->inputs[0]->producer;
    if (!is_op(g, "Gather") || !g->has_input(1) || !int_attr_is(*g, "axis", 0, 0)) {
      return false;
    }
    const Value* index = g->inputs[1];
    if (!index->is_fixed_constant() || index->constant->numel() != 1 ||
        !index->constant->shape().empty() || index->constant->dtype() != DataType::kInt64) {
      return false;
    }
    return shape_source(g->inputs[0]) == x &&
           normalize_axis(index->constant->data_as<int64_t>()[0], 4) == axis;
  }

  // A Concat of `count` 1-element pieces whose pieces at `dims` positions are x's dims
  // (position -> NCHW axis of x).
  bool concat_of_dims(const Value* shape, const Value* x, size_t count,
                      const std::vector<std::pair<size_t, int64_t>>& dims) const {
    const Node* c = shape->producer;
    if (!is_op(c, "Concat") || c->inputs.size() != count || !int_attr_is(*c, "axis", -1, 0)) {
      return false;
    }
    for (auto [pos, axis] : dims) {
      if (!is_dim_of(c->inputs[pos], x, axis)) return false;
    }
    return true;
  }

  // `v` reordered by a Gather with constant `indices` (a shape vector into NHWC order).
  Value* gathered(Value* v, const std::vector<int64_t>& indices, const char* suffix) {
    Value* out = graph_.create_unique_value(v->name + suffix);
    out->type.dtype = DataType::kInt64;
    add_gather(v, indices, out);
    return out;
  }

  // ShuffleNet's channel shuffle of NHWC x, Reshape(x, [N, g, C/g, H, W]) -> Transpose(0, 2,
  // 1, 3, 4) -> Reshape([N, -1, H, W]), with both shapes built from x's own dims: in NHWC the
  // same permutation of channels is Reshape([N, H, W, g, C/g]) -> Transpose(0, 1, 2, 4, 3) ->
  // Reshape([N, H, W, -1]), one transpose instead of three. The shapes stay computed (the
  // batch may be dynamic) and are reordered by Gathers.
  bool visit_channel_shuffle(Node* r1) {
    Value* x = r1->inputs[0];
    if (!is_nhwc(x) || !r1->has_input(1) || !is_op(r1, "Reshape")) return false;
    if (!int_attr_is(*r1, "allowzero", 0, 0)) return false;
    Node* t = sole_consumer(r1->outputs[0]);
    if (!is_op(t, "Transpose") || !is_perm(*t, {0, 2, 1, 3, 4})) return false;
    Node* r2 = sole_consumer(t->outputs[0]);
    if (!is_op(r2, "Reshape") || r2->inputs[0] != t->outputs[0] || !r2->has_input(1) ||
        !int_attr_is(*r2, "allowzero", 0, 0)) {
      return false;
    }
    // Dims 0, 3, 4 of the 5-D shape and 0, 2, 3 of the 4-D one are x's N, H, W, so the other
    // dims split and rejoin C (the element counts force it).
    if (!concat_of_dims(r1->inputs[1], x, 5, {{0, 0}, {3, 2}, {4, 3}}) ||
        !concat_of_dims(r2->inputs[1], x, 4, {{0, 0}, {2, 2}, {3, 3}})) {
      return false;
    }
    graph_.replace_input(r1, 1, gathered(r1->inputs[1], {0, 3, 4, 1, 2}, "_nhwc"));
    t->attributes["perm"] = Attribute::of_ints({0, 1, 2, 4, 3});
    // The 5-D values in between are stored in the new order: their declared dims no longer hold.
    r1->outputs[0]->type.dims.reset();
    t->outputs[0]->type.dims.reset();
    graph_.replace_input(r2, 1, gathered(r2->inputs[1], {0, 2, 3, 1}, "_nhwc"));
    tag(r2->outputs[0]);
    return true;
  }

  // An NHWC graph output is produced under a new name and converted back into the original
  // value, which keeps its name and declared type.
  void restore_graph_outputs() {
    for (Value* out : graph_.outputs) {
      if (!is_nhwc(out) || !out->producer) continue;
      Node* producer = out->producer;
      Value* inner = graph_.create_unique_value(out->name + "_nhwc");
      inner->type.dtype = out->type.dtype;
      for (Value*& o : producer->outputs) {
        if (o == out) o = inner;
      }
      inner->producer = producer;
      out->producer = nullptr;
      for (Node* c : std::vector<Node*>(out->consumers)) {
        for (size_t i = 0; i < c->inputs.size(); ++i) {
          if (c->inputs[i] == out) graph_.replace_input(c, i, inner);
        }
      }
      nhwc_.insert(inner);
      nhwc_.erase(out);
      auto node = std::make_unique<Node>();
      node->op_type = "Transpose";
      node->opset = static_cast<int>(graph_.opset_imports[""]);
      node->name = inner->name + "_to_nchw";
      node->inputs = {inner};
      node->outputs = {out};
      node->attributes["perm"] = Attribute::of_ints(kPermToNchw);
      graph_.add_node(std::move(node));
    }
  }

  Graph& graph_;
  PassContext& ctx_;
  bool nhwc_ops_;
  std::set<const Value*> nhwc_;
  std::map<Value*, Value*> to_nhwc_, to_nchw_, permuted_;
  std::vector<Node*> bypassed_;        // model Transposes whose output is read through their input
  std::set<const Node*> nchw_shapes_;  // visit_shape's Gathers: NCHW shapes of NHWC values
};

// kAuto: NHWC when the model has a 2-D convolution with constant weights (CNNs: the NHWC
// kernels are the fast path; measured on every zoo model, 1.05-2x faster than NCHW, RegNet's
// grouped convolutions included since 2026-11-25), NCHW otherwise.
bool auto_prefers_nhwc(const Graph& graph) {
  for (const Node* n : graph.nodes()) {
    if (is_conv(n) && n->has_input(ConvOperand::kW) &&
        n->inputs[ConvOperand::kW]->is_fixed_constant() &&
        n->inputs[ConvOperand::kW]->constant->shape().size() == 4) {
      return true;
    }
  }
  return false;
}

}  // namespace

Status choose_layout(Graph& graph, PassContext& ctx) {
  const LayoutOption want = ctx.options.layout;
  const bool nhwc_ops =
      want == LayoutOption::kNhwc || (want == LayoutOption::kAuto && auto_prefers_nhwc(graph));
  if (!nhwc_ops && ctx.options.input_layout == Layout::kNchw) return Status::ok();
  return LayoutRewriter(graph, ctx, nhwc_ops).run();
}

}  // namespace keel
