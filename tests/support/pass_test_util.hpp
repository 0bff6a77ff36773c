// Building, loading and comparing the small models of the pass tests (tests/passes/): seeded
// initializers, Conv/BN builders, the folded and the plain model loaded side by side, and the
// fold events checked against the names and reasons each pass must report.
#pragma once

#include <gtest/gtest.h>
#include <unistd.h>

#include <algorithm>
#include <cmath>
#include <cstring>
#include <filesystem>
#include <map>
#include <random>
#include <string>
#include <vector>

#include "core/npy.hpp"
#include "graph/graph.hpp"
#include "keel/keel.hpp"
#include "onnx/export_model.hpp"
#include "onnx/import_model.hpp"
#include "passes/pass.hpp"
#include "support/model_builder.hpp"

namespace keel::testing {

namespace fs = std::filesystem;

constexpr double kRtol = 1e-5;  // of the output's scale

// ---------------------------------------------------------------------------------------------
// Building models

class Rng {
 public:
  explicit Rng(uint32_t seed) : gen_(seed) {}
  std::vector<float> uniform(int64_t n, float lo, float hi) {
    std::uniform_real_distribution<float> dist(lo, hi);
    std::vector<float> v(static_cast<size_t>(n));
    for (float& x : v) x = dist(gen_);
    return v;
  }

 private:
  std::mt19937 gen_;
};

inline int64_t product(const std::vector<int64_t>& dims) {
  int64_t n = 1;
  for (int64_t d : dims) n *= d;
  return n;
}

// A float32 initializer of `dims` with values uniform in [lo, hi].
inline void rand_init(ModelBuilder& b, Rng& rng, const std::string& name, std::vector<int64_t> dims,
                      float lo = -1.0f, float hi = 1.0f) {
  const int64_t n = product(dims);
  b.initializer(name, std::move(dims), rng.uniform(n, lo, hi));
}

inline void init_f64(ModelBuilder& b, const std::string& name, std::vector<int64_t> dims,
                     const std::vector<double>& values) {
  auto* t = b.proto().mutable_graph()->add_initializer();
  t->set_name(name);
  t->set_data_type(onnx::TensorProto_DataType_DOUBLE);
  for (int64_t d : dims) t->add_dims(d);
  for (double v : values) t->add_double_data(v);
}

// Lists an initializer as a graph input too (overridable at run time).
inline void list_as_input(ModelBuilder& b, const std::string& name, std::vector<int64_t> dims) {
  b.input(name, std::move(dims));
}

struct BnRanges {
  float mean_lo = -1.0f, mean_hi = 1.0f;
  float var_lo = 0.5f, var_hi = 2.0f;
  float beta_lo = -1.0f, beta_hi = 1.0f;
};

// BatchNormalization `name` (x -> y) over `channels` with random initializers name_scale,
// name_bias, name_mean, name_var and epsilon 1e-3 (unless `eps` < 0: no attribute).
inline onnx::NodeProto& add_bn(ModelBuilder& b, Rng& rng, const std::string& name,
                               const std::string& x, const std::string& y, int64_t channels,
                               float eps = 1e-3f, const BnRanges& r = {}) {
  rand_init(b, rng, name + "_scale", {channels}, -1.5f, 1.5f);
  rand_init(b, rng, name + "_bias", {channels}, r.beta_lo, r.beta_hi);
  rand_init(b, rng, name + "_mean", {channels}, r.mean_lo, r.mean_hi);
  rand_init(b, rng, name + "_var", {channels}, r.var_lo, r.var_hi);
  auto& n = b.node("BatchNormalization",
                   {x, name + "_scale", name + "_bias", name + "_mean", name + "_var"}, {y}, name);
  if (eps >= 0) set_attr(n, "epsilon", eps);
  return n;
}

// Conv `name` (x -> y) with a random weight name_w [dims] and, when `bias`, name_b.
inline onnx::NodeProto& add_conv(ModelBuilder& b, Rng& rng, const std::string& name,
                                 const std::string& x, const std::string& y,
                                 std::vector<int64_t> w_dims, bool bias,
                                 const std::string& op = "Conv", int64_t bias_len = -1) {
  const int64_t cout = bias_len > 0 ? bias_len : w_dims[0];
  rand_init(b, rng, name + "_w", w_dims);
  std::vector<std::string> inputs = {x, name + "_w"};
  if (bias) {
    rand_init(b, rng, name + "_b", {cout});
    inputs.push_back(name + "_b");
  }
  return b.node(op, inputs, {y}, name);
}

// ---------------------------------------------------------------------------------------------
// Loading, running, comparing

inline ModelOptions options(bool fold, bool runtime_fusions = true, bool fold_overridable = false) {
  ModelOptions o;
  o.fold = fold;
  o.runtime_fusions = runtime_fusions;
  o.fold_overridable = fold_overridable;
  return o;
}

// These tests inspect the folded graph itself: the default layout (auto) would add NHWC
// conversions around it, so it runs NCHW unless a test asks for a layout.
inline std::shared_ptr<const Model> load(const ModelBuilder& b, ModelOptions opts) {
  if (opts.layout == LayoutOption::kAuto) opts.layout = LayoutOption::kNchw;
  const std::string bytes = b.bytes();
  auto m = Model::load_bytes(bytes.data(), bytes.size(), opts);
  EXPECT_TRUE(m.is_ok()) << m.status().to_string();
  return m.is_ok() ? *m : nullptr;
}

// Seeded uniform [-1, 1] data for every runtime input.
inline std::vector<NamedTensor> random_feeds(const Model& m, uint32_t seed = 1234) {
  Rng rng(seed);
  std::vector<NamedTensor> feeds;
  for (const IoInfo& in : m.inputs()) {
    Tensor t = Tensor::allocate(DataType::kFloat32, in.shape).value();
    const auto v = rng.uniform(t.numel(), -1.0f, 1.0f);
    std::copy(v.begin(), v.end(), t.data_as<float>());
    feeds.push_back({in.name, std::move(t)});
  }
  return feeds;
}

inline Result<std::vector<Tensor>> run(const std::shared_ptr<const Model>& m,
                                       const std::vector<NamedTensor>& feeds) {
  KEEL_ASSIGN_OR_RETURN(auto session, Session::create(m, {}));
  return session->run(feeds);
}

// max |want - got| / max |want| (infinite on a shape or type mismatch).
inline double rel_error(const Tensor& want, const Tensor& got) {
  if (want.shape() != got.shape() || want.dtype() != DataType::kFloat32 ||
      got.dtype() != DataType::kFloat32) {
    return INFINITY;
  }
  double scale = 0, max_abs = 0;
  for (int64_t i = 0; i < want.numel(); ++i) {
    const double a = want.data_as<float>()[i], b = got.data_as<float>()[i];
    scale = std::max(scale, std::fabs(a));
    const double d = std::fabs(a - b);
    max_abs = std::isnan(d) ? INFINITY : std::max(max_abs, d);
  }
  return scale > 0 ? max_abs / scale : max_abs;
}

inline void expect_close(const std::vector<Tensor>& want, const std::vector<Tensor>& got) {
  ASSERT_EQ(want.size(), got.size());
  for (size_t i = 0; i < want.size(); ++i) {
    EXPECT_LE(rel_error(want[i], got[i]), kRtol) << "output " << i;
  }
}

inline int count_op(const Model& m, const std::string& op) {
  int n = 0;
  for (const Node* node : m.graph().nodes()) n += onnx_op_type(*node) == op;
  return n;
}

inline const Node* find_node(const Model& m, const std::string& name) {
  for (const Node* node : m.graph().nodes()) {
    if (node->name == name) return node;
  }
  return nullptr;
}

inline const FoldEvent* find_event(const Model& m, bool folded, const std::string& pass,
                                   const std::string& target, const std::string& source) {
  for (const FoldEvent& e : m.fold_events()) {
    if (e.folded == folded && e.pass == pass && e.target == target && e.source == source) {
      return &e;
    }
  }
  return nullptr;
}

inline std::string describe_events(const Model& m) {
  std::string s;
  for (const FoldEvent& e : m.fold_events()) {
    s += std::string(e.folded ? "  fold " : "  skip ") + e.pass + " " + e.target + " <- " +
         e.source + ": " + e.reason + "\n";
  }
  return s;
}

// The reason names `precondition`: it starts with it (producer side), or the part written by
// the consumer-side pass does.
inline bool names_precondition(const std::string& reason, const std::string& precondition) {
  return reason.rfind(precondition, 0) == 0 ||
         reason.find("into the following Conv: " + precondition) != std::string::npos;
}

struct Pair {
  std::shared_ptr<const Model> folded, plain;
};

// `b` loaded with `fold_opts` and with nothing folded or fused (the reference).
inline Pair load_pair(const ModelBuilder& b, const ModelOptions& fold_opts = {}) {
  return {load(b, fold_opts), load(b, options(false, false))};
}

inline void expect_same_outputs(const Pair& p) {
  ASSERT_TRUE(p.folded && p.plain);
  ASSERT_EQ(p.folded->outputs().size(), p.plain->outputs().size());
  for (size_t i = 0; i < p.plain->outputs().size(); ++i) {
    EXPECT_EQ(p.folded->outputs()[i].name, p.plain->outputs()[i].name);
  }
  const auto feeds = random_feeds(*p.plain);
  auto want = run(p.plain, feeds);
  ASSERT_TRUE(want.is_ok()) << want.status().to_string();
  auto got = run(p.folded, feeds);
  ASSERT_TRUE(got.is_ok()) << got.status().to_string();
  expect_close(*want, *got);
}

struct Expect {
  std::string producer;      // node that absorbs the BN (event target)
  std::string out;           // BN output value that must survive (empty: none to check)
  std::string pass;          // pass named by the fold event
  std::string out_producer;  // node producing `out` afterwards (default: `producer`)
  std::string bn = "bn";     // the BN node (event source)
};

inline Expect folded_into(const std::string& producer, const std::string& out,
                          const std::string& pass = "fold_batchnorm",
                          const std::string& out_producer = "") {
  return {producer, out, pass, out_producer};
}

// Positive case: the BN is gone, outputs match, `out` keeps its name, a fold event names both.
inline void expect_bn_folded(const ModelBuilder& b, const Expect& e,
                             const ModelOptions& opts = {}) {
  const Pair p = load_pair(b, opts);
  ASSERT_TRUE(p.folded && p.plain);
  expect_same_outputs(p);
  EXPECT_EQ(count_op(*p.folded, "BatchNormalization"),
            count_op(*p.plain, "BatchNormalization") - 1);
  const Node* left = find_node(*p.folded, e.bn);
  EXPECT_TRUE(!left || onnx_op_type(*left) != std::string("BatchNormalization"))
      << "BN '" << e.bn << "' left";
  EXPECT_NE(find_event(*p.folded, true, e.pass, e.producer, e.bn), nullptr)
      << describe_events(*p.folded);
  EXPECT_EQ(find_event(*p.folded, false, "fold_batchnorm", e.bn, ""), nullptr)
      << describe_events(*p.folded);
  if (!e.out.empty()) {
    const Value* v = p.folded->graph().find_value(e.out);
    ASSERT_NE(v, nullptr) << "value '" << e.out << "' is gone";
    ASSERT_NE(v->producer, nullptr);
    EXPECT_EQ(v->producer->name, e.out_producer.empty() ? e.producer : e.out_producer);
  }
}

enum class Runs { kYes, kNo };  // kNo: keel cannot run the unfolded BN either

// Negative case: the BN stays, outputs match, the skip reason names `precondition`.
inline void expect_bn_kept(const ModelBuilder& b, const std::string& bn,
                           const std::string& precondition, Runs runs = Runs::kYes,
                           const ModelOptions& opts = {}) {
  const Pair p = load_pair(b, opts);
  ASSERT_TRUE(p.folded && p.plain);
  EXPECT_EQ(count_op(*p.folded, "BatchNormalization"), count_op(*p.plain, "BatchNormalization"));
  const Node* kept = find_node(*p.folded, bn);
  ASSERT_NE(kept, nullptr);
  EXPECT_STREQ(onnx_op_type(*kept), "BatchNormalization");
  const FoldEvent* e = find_event(*p.folded, false, "fold_batchnorm", bn, "");
  ASSERT_NE(e, nullptr) << describe_events(*p.folded);
  EXPECT_TRUE(names_precondition(e->reason, precondition))
      << "reason '" << e->reason << "' does not name '" << precondition << "'";
  for (const FoldEvent& f : p.folded->fold_events()) {
    EXPECT_FALSE(f.folded && f.source == bn) << describe_events(*p.folded);
  }
  if (runs == Runs::kYes) {
    expect_same_outputs(p);
  } else {
    EXPECT_FALSE(Session::create(p.plain, {}).is_ok());
    EXPECT_FALSE(Session::create(p.folded, {}).is_ok());
  }
}

// x [x_dims] -> Conv(name "conv", weight [w_dims]) -> "c" -> BN "bn" -> "y".
inline ModelBuilder conv_bn(uint32_t seed, std::vector<int64_t> x_dims, std::vector<int64_t> w_dims,
                            bool bias, int64_t group = 1, const std::string& op = "Conv",
                            int opset = 17) {
  Rng rng(seed);
  ModelBuilder b(opset);
  b.input("x", x_dims);
  const int64_t cout = op == "Conv" ? w_dims[0] : w_dims[1] * group;
  auto& conv = add_conv(b, rng, "conv", "x", "c", w_dims, bias, op, cout);
  if (group != 1) set_attr(conv, "group", group);
  add_bn(b, rng, "bn", "c", "y", cout);
  b.output("y");
  return b;
}

// fuse_conv_gate (keel-only): a squeeze-excitation gate (GlobalAveragePool, 1x1 Conv, Relu, 1x1
// Conv, Sigmoid) multiplied into the input of a Conv runs in that Conv: in the NHWC 1x1 GEMM's
// weights while it has at most as many outputs as an image has pixels, else as X * G first.
struct GateCase {
  const char* name;
  std::vector<int64_t> x;       // [N, 16, H, W]
  std::vector<int64_t> proj_w;  // the gated conv's weights
  bool gate_first = false;      // Mul(g, a) instead of Mul(a, g)
  bool residual = false;        // the gated conv's output + a skip conv, then Relu
  const char* gate_act = "Sigmoid";
  int64_t gate_channels = 16;  // fc2's outputs (1: one value per image, not fused)
  std::vector<int64_t> fc1_pads = {0, 0, 0, 0};
  bool pool_other = false;  // the gate pools x, not the Mul's other operand
};

// `b` loaded with every fusion in `layout` and without folds or fusions; outputs compared.
inline Pair fused_pair_in(const ModelBuilder& b, LayoutOption layout) {
  ModelOptions fused = options(true, true);
  fused.layout = layout;
  Pair p = load_pair(b, fused);
  EXPECT_TRUE(p.folded && p.plain);
  if (p.folded && p.plain) expect_same_outputs(p);
  return p;
}

inline ModelBuilder se_block(uint32_t seed, const GateCase& c) {
  Rng rng(seed);
  ModelBuilder b;
  b.input("x", c.x);
  onnx::NodeProto& dw = add_conv(b, rng, "dw", "x", "a", {16, 1, 3, 3}, true);
  set_attr(dw, "pads", std::vector<int64_t>{1, 1, 1, 1});
  set_attr(dw, "group", int64_t{16});
  b.node("GlobalAveragePool", {c.pool_other ? "x" : "a"}, {"p"}, "pool");
  onnx::NodeProto& fc1 = add_conv(b, rng, "fc1", "p", "f1", {4, 16, 1, 1}, true);
  set_attr(fc1, "pads", c.fc1_pads);
  b.node("Relu", {"f1"}, {"r1"}, "relu1");
  add_conv(b, rng, "fc2", "r1", "f2", {c.gate_channels, 4, 1, 1}, true);
  b.node(c.gate_act, {"f2"}, {"g"}, "squash");
  b.node("Mul",
         c.gate_first ? std::vector<std::string>{"g", "a"} : std::vector<std::string>{"a", "g"},
         {"m"}, "gate");
  const int64_t k = c.proj_w[2];
  onnx::NodeProto& proj = add_conv(b, rng, "proj", "m", "y", c.proj_w, true);
  set_attr(proj, "pads", std::vector<int64_t>{k / 2, k / 2, k / 2, k / 2});
  if (!c.residual) {
    b.output("y");
    return b;
  }
  add_conv(b, rng, "skip", "x", "s", {c.proj_w[0], 16, 1, 1}, false);
  b.node("Add", {"y", "s"}, {"sum"}, "add");
  b.node("Relu", {"sum"}, {"out"}, "relu");
  b.output("out");
  return b;
}

}  // namespace keel::testing
