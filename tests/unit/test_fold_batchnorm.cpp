// Load-time folding passes on tiny hand-built graphs: for every pattern and every
// precondition, a positive case (the BatchNormalization or Mul/Add disappears, the outputs
// match the unfolded model, the names survive, an event names both nodes) and a negative case
// (the node stays, the outputs still match, the skip reason names the failed precondition).
// Also: the committed models folded the way `keel fold` does, exported and loaded again.
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
namespace {

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

int64_t product(const std::vector<int64_t>& dims) {
  int64_t n = 1;
  for (int64_t d : dims) n *= d;
  return n;
}

// A float32 initializer of `dims` with values uniform in [lo, hi].
void rand_init(ModelBuilder& b, Rng& rng, const std::string& name, std::vector<int64_t> dims,
               float lo = -1.0f, float hi = 1.0f) {
  const int64_t n = product(dims);
  b.initializer(name, std::move(dims), rng.uniform(n, lo, hi));
}

void init_f64(ModelBuilder& b, const std::string& name, std::vector<int64_t> dims,
              const std::vector<double>& values) {
  auto* t = b.proto().mutable_graph()->add_initializer();
  t->set_name(name);
  t->set_data_type(onnx::TensorProto_DataType_DOUBLE);
  for (int64_t d : dims) t->add_dims(d);
  for (double v : values) t->add_double_data(v);
}

// Lists an initializer as a graph input too (overridable at run time).
void list_as_input(ModelBuilder& b, const std::string& name, std::vector<int64_t> dims) {
  b.input(name, std::move(dims));
}

struct BnRanges {
  float mean_lo = -1.0f, mean_hi = 1.0f;
  float var_lo = 0.5f, var_hi = 2.0f;
  float beta_lo = -1.0f, beta_hi = 1.0f;
};

// BatchNormalization `name` (x -> y) over `channels` with random initializers name_scale,
// name_bias, name_mean, name_var and epsilon 1e-3 (unless `eps` < 0: no attribute).
onnx::NodeProto& add_bn(ModelBuilder& b, Rng& rng, const std::string& name, const std::string& x,
                        const std::string& y, int64_t channels, float eps = 1e-3f,
                        const BnRanges& r = {}) {
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
onnx::NodeProto& add_conv(ModelBuilder& b, Rng& rng, const std::string& name, const std::string& x,
                          const std::string& y, std::vector<int64_t> w_dims, bool bias,
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

ModelOptions options(bool fold, bool runtime_fusions = true, bool fold_overridable = false) {
  ModelOptions o;
  o.fold = fold;
  o.runtime_fusions = runtime_fusions;
  o.fold_overridable = fold_overridable;
  return o;
}

// These tests inspect the folded graph itself: the default layout (auto) would add NHWC
// conversions around it, so it runs NCHW unless a test asks for a layout.
std::shared_ptr<const Model> load(const ModelBuilder& b, ModelOptions opts) {
  if (opts.layout == LayoutOption::kAuto) opts.layout = LayoutOption::kNchw;
  const std::string bytes = b.bytes();
  auto m = Model::load_bytes(bytes.data(), bytes.size(), opts);
  EXPECT_TRUE(m.is_ok()) << m.status().to_string();
  return m.is_ok() ? *m : nullptr;
}

// Seeded uniform [-1, 1] data for every runtime input.
std::vector<NamedTensor> random_feeds(const Model& m, uint32_t seed = 1234) {
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

Result<std::vector<Tensor>> run(const std::shared_ptr<const Model>& m,
                                const std::vector<NamedTensor>& feeds) {
  KEEL_ASSIGN_OR_RETURN(auto session, Session::create(m, {}));
  return session->run(feeds);
}

// max |want - got| / max |want| (infinite on a shape or type mismatch).
double rel_error(const Tensor& want, const Tensor& got) {
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

void expect_close(const std::vector<Tensor>& want, const std::vector<Tensor>& got) {
  ASSERT_EQ(want.size(), got.size());
  for (size_t i = 0; i < want.size(); ++i) {
    EXPECT_LE(rel_error(want[i], got[i]), kRtol) << "output " << i;
  }
}

int count_op(const Model& m, const std::string& op) {
  int n = 0;
  for (const Node* node : m.graph().nodes()) n += onnx_op_type(*node) == op;
  return n;
}

const Node* find_node(const Model& m, const std::string& name) {
  for (const Node* node : m.graph().nodes()) {
    if (node->name == name) return node;
  }
  return nullptr;
}

const FoldEvent* find_event(const Model& m, bool folded, const std::string& pass,
                            const std::string& target, const std::string& source) {
  for (const FoldEvent& e : m.fold_events()) {
    if (e.folded == folded && e.pass == pass && e.target == target && e.source == source) {
      return &e;
    }
  }
  return nullptr;
}

std::string describe_events(const Model& m) {
  std::string s;
  for (const FoldEvent& e : m.fold_events()) {
    s += std::string(e.folded ? "  fold " : "  skip ") + e.pass + " " + e.target + " <- " +
         e.source + ": " + e.reason + "\n";
  }
  return s;
}

// The reason names `precondition`: it starts with it (producer side), or the part written by
// the consumer-side pass does.
bool names_precondition(const std::string& reason, const std::string& precondition) {
  return reason.rfind(precondition, 0) == 0 ||
         reason.find("into the following Conv: " + precondition) != std::string::npos;
}

struct Pair {
  std::shared_ptr<const Model> folded, plain;
};

// `b` loaded with `fold_opts` and with nothing folded or fused (the reference).
Pair load_pair(const ModelBuilder& b, const ModelOptions& fold_opts = {}) {
  return {load(b, fold_opts), load(b, options(false, false))};
}

void expect_same_outputs(const Pair& p) {
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

Expect folded_into(const std::string& producer, const std::string& out,
                   const std::string& pass = "fold_batchnorm",
                   const std::string& out_producer = "") {
  return {producer, out, pass, out_producer};
}

// Positive case: the BN is gone, outputs match, `out` keeps its name, a fold event names both.
void expect_bn_folded(const ModelBuilder& b, const Expect& e, const ModelOptions& opts = {}) {
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
void expect_bn_kept(const ModelBuilder& b, const std::string& bn, const std::string& precondition,
                    Runs runs = Runs::kYes, const ModelOptions& opts = {}) {
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
ModelBuilder conv_bn(uint32_t seed, std::vector<int64_t> x_dims, std::vector<int64_t> w_dims,
                     bool bias, int64_t group = 1, const std::string& op = "Conv", int opset = 17) {
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

// ---------------------------------------------------------------------------------------------
// fold_batchnorm: Conv -> BN

TEST(FoldConvBn, WithBias) {
  ModelBuilder b = conv_bn(1, {1, 3, 7, 7}, {4, 3, 3, 3}, true);
  expect_bn_folded(b, folded_into("conv", "y"));
}

TEST(FoldConvBn, WithoutBiasCreatesOne) {
  ModelBuilder b = conv_bn(2, {2, 3, 6, 6}, {5, 3, 3, 3}, false);
  expect_bn_folded(b, folded_into("conv", "y"));
  auto m = load(b, {});
  ASSERT_TRUE(m);
  const Node* conv = find_node(*m, "conv");
  ASSERT_NE(conv, nullptr);
  ASSERT_TRUE(conv->has_input(2));
  ASSERT_TRUE(conv->inputs[2]->is_constant());
  EXPECT_EQ(conv->inputs[2]->constant->shape(), (Shape{5}));
}

TEST(FoldConvBn, GroupedConv) {
  ModelBuilder b = conv_bn(3, {1, 4, 6, 6}, {6, 2, 3, 3}, true, 2);
  expect_bn_folded(b, folded_into("conv", "y"));
}

TEST(FoldConvBn, DepthwiseConv) {
  ModelBuilder b = conv_bn(4, {1, 4, 6, 6}, {4, 1, 3, 3}, false, 4);
  expect_bn_folded(b, folded_into("conv", "y"));
}

TEST(FoldConvBn, Conv1d) {
  ModelBuilder b = conv_bn(5, {2, 3, 11}, {5, 3, 3}, true);
  expect_bn_folded(b, folded_into("conv", "y"));
}

TEST(FoldConvBn, Conv3d) {
  ModelBuilder b = conv_bn(6, {1, 2, 4, 5, 5}, {3, 2, 3, 3, 3}, false);
  expect_bn_folded(b, folded_into("conv", "y"));
}

TEST(FoldConvBn, ConvWithPaddingAndStrides) {
  ModelBuilder b = conv_bn(7, {1, 3, 8, 8}, {4, 3, 3, 3}, true);
  auto& conv = *b.proto().mutable_graph()->mutable_node(0);
  set_attr(conv, "pads", std::vector<int64_t>{1, 1, 1, 1});
  set_attr(conv, "strides", std::vector<int64_t>{2, 2});
  expect_bn_folded(b, folded_into("conv", "y"));
}

TEST(FoldConvBn, IntermediateBnKeepsTheNameConsumedDownstream) {
  Rng rng(8);
  ModelBuilder b;
  b.input("x", {1, 3, 6, 6});
  add_conv(b, rng, "conv", "x", "c", {4, 3, 3, 3}, true);
  add_bn(b, rng, "bn", "c", "bn_out", 4);
  b.node("Relu", {"bn_out"}, {"y"}, "relu");
  b.output("y");
  // Without runtime fusions: fuse_conv_activation would absorb the Relu into the Conv.
  expect_bn_folded(b, folded_into("conv", "bn_out"), options(true, false));
  auto m = load(b, options(true, false));
  ASSERT_TRUE(m);
  const Node* relu = find_node(*m, "relu");
  ASSERT_NE(relu, nullptr);
  EXPECT_EQ(relu->inputs[0]->name, "bn_out");
}

// ---------------------------------------------------------------------------------------------
// fold_batchnorm: ConvTranspose -> BN

TEST(FoldConvTransposeBn, Group1) {
  ModelBuilder b = conv_bn(10, {1, 3, 4, 4}, {3, 5, 3, 3}, true, 1, "ConvTranspose");
  set_attr(*b.proto().mutable_graph()->mutable_node(0), "strides", std::vector<int64_t>{2, 2});
  expect_bn_folded(b, folded_into("conv", "y"));
}

TEST(FoldConvTransposeBn, Group2) {
  ModelBuilder b = conv_bn(11, {1, 4, 4, 4}, {4, 3, 3, 3}, false, 2, "ConvTranspose");
  expect_bn_folded(b, folded_into("conv", "y"));
}

TEST(FoldConvTransposeBn, Group2WithBias) {
  ModelBuilder b = conv_bn(12, {2, 4, 3, 3}, {4, 3, 2, 2}, true, 2, "ConvTranspose");
  expect_bn_folded(b, folded_into("conv", "y"));
}

// ---------------------------------------------------------------------------------------------
// fold_batchnorm: Gemm -> BN

ModelBuilder gemm_bn(uint32_t seed, bool trans_b, const std::vector<int64_t>& c_dims, float alpha,
                     float beta) {
  Rng rng(seed);
  ModelBuilder b;
  b.input("a", {3, 5});
  rand_init(b, rng, "w", trans_b ? std::vector<int64_t>{4, 5} : std::vector<int64_t>{5, 4});
  std::vector<std::string> inputs = {"a", "w"};
  if (!c_dims.empty()) {
    rand_init(b, rng, "c", c_dims);
    inputs.push_back("c");
  }
  auto& gemm = b.node("Gemm", inputs, {"g"}, "gemm");
  if (trans_b) set_attr(gemm, "transB", int64_t{1});
  if (alpha != 1.0f) set_attr(gemm, "alpha", alpha);
  if (beta != 1.0f) set_attr(gemm, "beta", beta);
  add_bn(b, rng, "bn", "g", "y", 4);
  b.output("y");
  return b;
}

TEST(FoldGemmBn, TransposesAlphaBetaAndBias) {
  uint32_t seed = 20;
  for (bool trans_b : {false, true}) {
    for (const auto& c_dims : {std::vector<int64_t>{}, std::vector<int64_t>{4},
                               std::vector<int64_t>{1, 4}, std::vector<int64_t>{1}}) {
      for (auto [alpha, beta] : {std::pair{1.0f, 1.0f}, std::pair{1.7f, 0.6f}}) {
        SCOPED_TRACE("transB=" + std::to_string(trans_b) + " C rank " +
                     std::to_string(c_dims.size()) + (c_dims.empty() ? " (none)" : "") +
                     " alpha=" + std::to_string(alpha) + " beta=" + std::to_string(beta));
        ModelBuilder b = gemm_bn(seed++, trans_b, c_dims, alpha, beta);
        expect_bn_folded(b, folded_into("gemm", "y"));
      }
    }
  }
}

TEST(FoldGemmBn, CWithARowDimensionStays) {
  ModelBuilder b = gemm_bn(30, false, {3, 4}, 1.0f, 1.0f);
  expect_bn_kept(b, "bn", "bias");
}

// ---------------------------------------------------------------------------------------------
// fold_batchnorm: MatMul -> BN (the BN becomes an Add of the shift, keeping the BN's name)

TEST(FoldMatMulBn, ConstantBRank2A) {
  Rng rng(40);
  ModelBuilder b;
  b.input("a", {3, 5});
  rand_init(b, rng, "w", {5, 4});
  b.node("MatMul", {"a", "w"}, {"m"}, "mm");
  add_bn(b, rng, "bn", "m", "y", 4);
  b.output("y");
  // Without runtime fusions (keel fold): the Add stays (with fusions it becomes the MatMul's
  // epilogue bias, see FuseMatMulEpilogue).
  expect_bn_folded(b, folded_into("mm", "y", "fold_batchnorm", "bn"), options(true, false));
  auto m = load(b, options(true, false));
  ASSERT_TRUE(m);
  EXPECT_EQ(count_op(*m, "Add"), 1);
  EXPECT_EQ(count_op(*m, "MatMul"), 1);
}

TEST(FoldMatMulBn, LegacyOpset6AddBroadcastsTheShift) {
  // Before opset 7 Add broadcasts only with broadcast=1: the Add that replaces the BN needs it.
  Rng rng(43);
  ModelBuilder b(6, 3);
  b.input("a", {3, 5});
  rand_init(b, rng, "w", {5, 4});
  b.node("MatMul", {"a", "w"}, {"m"}, "mm");
  add_bn(b, rng, "bn", "m", "y", 4);
  b.output("y");
  expect_bn_folded(b, folded_into("mm", "y", "fold_batchnorm", "bn"), options(true, false));
}

TEST(FoldMatMulBn, Rank3AStays) {
  // [2, 3, 5] x [5, 4] -> [2, 3, 4]: the BN channel axis is 1 (3), not the columns of B.
  Rng rng(41);
  ModelBuilder b;
  b.input("a", {2, 3, 5});
  rand_init(b, rng, "w", {5, 4});
  b.node("MatMul", {"a", "w"}, {"m"}, "mm");
  add_bn(b, rng, "bn", "m", "y", 3);
  b.output("y");
  expect_bn_kept(b, "bn", "rank");
}

TEST(FoldMatMulBn, NonConstantBStays) {
  Rng rng(42);
  ModelBuilder b;
  b.input("a", {3, 5});
  b.input("w", {5, 4});
  b.node("MatMul", {"a", "w"}, {"m"}, "mm");
  add_bn(b, rng, "bn", "m", "y", 4);
  b.output("y");
  expect_bn_kept(b, "bn", "constant weights");
}

// ---------------------------------------------------------------------------------------------
// fold_batchnorm_into_consumer: BN -> Conv

// x [1, 4, 7, 7] -> BN "bn" -> "t" -> Conv "conv" (weight [6, 4/group, 3, 3]) -> "y".
ModelBuilder bn_conv(uint32_t seed, bool pad, const BnRanges& r = {}, int64_t group = 1,
                     bool bias = true) {
  Rng rng(seed);
  ModelBuilder b;
  b.input("x", {1, 4, 7, 7});
  add_bn(b, rng, "bn", "x", "t", 4, 1e-3f, r);
  auto& conv = add_conv(b, rng, "conv", "t", "y", {6, 4 / group, 3, 3}, bias);
  if (group != 1) set_attr(conv, "group", group);
  if (pad) set_attr(conv, "pads", std::vector<int64_t>{1, 1, 1, 1});
  b.output("y");
  return b;
}

TEST(FoldBnConv, WithoutPaddingFolds) {
  ModelBuilder b = bn_conv(50, false);
  expect_bn_folded(b, folded_into("conv", "y", "fold_batchnorm_into_consumer"));
  auto m = load(b, {});
  ASSERT_TRUE(m);
  EXPECT_EQ(find_node(*m, "conv")->inputs[0]->name, "x");
}

TEST(FoldBnConv, GroupedConsumerWithoutBiasFolds) {
  ModelBuilder b = bn_conv(51, false, {}, 2, false);
  expect_bn_folded(b, folded_into("conv", "y", "fold_batchnorm_into_consumer"));
}

TEST(FoldBnConv, WithPaddingStays) {
  ModelBuilder b = bn_conv(52, true);
  expect_bn_kept(b, "bn", "padding");
}

TEST(FoldBnConv, AutoPadSameStays) {
  ModelBuilder b = bn_conv(53, false);
  set_attr(*b.proto().mutable_graph()->mutable_node(1), "auto_pad", std::string("SAME_UPPER"));
  expect_bn_kept(b, "bn", "padding");
}

TEST(FoldBnConv, WithPaddingButZeroShiftFolds) {
  BnRanges zero_shift;
  zero_shift.mean_lo = zero_shift.mean_hi = 0.0f;
  zero_shift.beta_lo = zero_shift.beta_hi = 0.0f;
  ModelBuilder b = bn_conv(54, true, zero_shift);
  expect_bn_folded(b, folded_into("conv", "y", "fold_batchnorm_into_consumer"));
}

TEST(FoldBnConv, NonConstantConsumerWeightsStay) {
  Rng rng(55);
  ModelBuilder b;
  b.input("x", {1, 4, 7, 7});
  b.input("w", {6, 4, 3, 3});
  add_bn(b, rng, "bn", "x", "t", 4);
  b.node("Conv", {"t", "w"}, {"y"}, "conv");
  b.output("y");
  expect_bn_kept(b, "bn", "constant weights");
}

// ---------------------------------------------------------------------------------------------
// fold_conv_mul_add: Conv -> Mul -> Add with per-channel constants

TEST(FoldConvMulAdd, PerChannelMulAndAddFold) {
  Rng rng(60);
  ModelBuilder b;
  b.input("x", {1, 3, 6, 6});
  add_conv(b, rng, "conv", "x", "c", {4, 3, 3, 3}, true);
  rand_init(b, rng, "s", {1, 4, 1, 1}, 0.5f, 2.0f);
  rand_init(b, rng, "t", {4, 1, 1});
  b.node("Mul", {"c", "s"}, {"m"}, "mul");
  b.node("Add", {"t", "m"}, {"y"}, "add");  // constant first: either side folds
  b.output("y");
  const Pair p = load_pair(b);
  ASSERT_TRUE(p.folded && p.plain);
  expect_same_outputs(p);
  EXPECT_EQ(count_op(*p.folded, "Mul"), 0);
  EXPECT_EQ(count_op(*p.folded, "Add"), 0);
  EXPECT_NE(find_event(*p.folded, true, "fold_conv_mul_add", "conv", "mul"), nullptr)
      << describe_events(*p.folded);
  EXPECT_NE(find_event(*p.folded, true, "fold_conv_mul_add", "conv", "add"), nullptr)
      << describe_events(*p.folded);
  const Value* y = p.folded->graph().find_value("y");
  ASSERT_NE(y, nullptr);
  ASSERT_NE(y->producer, nullptr);
  EXPECT_EQ(y->producer->name, "conv");
}

TEST(FoldConvMulAdd, ScalarMulWithoutBiasFolds) {
  Rng rng(61);
  ModelBuilder b;
  b.input("x", {1, 3, 6, 6});
  add_conv(b, rng, "conv", "x", "c", {4, 3, 3, 3}, false);
  b.initializer("s", {}, {1.75f});
  b.node("Mul", {"c", "s"}, {"y"}, "mul");
  b.output("y");
  const Pair p = load_pair(b);
  expect_same_outputs(p);
  EXPECT_EQ(count_op(*p.folded, "Mul"), 0);
  EXPECT_NE(find_event(*p.folded, true, "fold_conv_mul_add", "conv", "mul"), nullptr);
}

TEST(FoldConvMulAdd, SingleValueOfHigherRankStays) {
  // [1, 1, 1, 1, 1] holds one value but makes the rank-4 conv output rank 5.
  Rng rng(64);
  ModelBuilder b;
  b.input("x", {1, 3, 6, 6});
  add_conv(b, rng, "conv", "x", "c", {4, 3, 3, 3}, true);
  b.initializer("s", {1, 1, 1, 1, 1}, {1.5f});
  b.node("Mul", {"c", "s"}, {"y"}, "mul");
  b.output("y");
  const Pair p = load_pair(b);
  expect_same_outputs(p);
  EXPECT_EQ(count_op(*p.folded, "Mul"), 1);
  const FoldEvent* e = find_event(*p.folded, false, "fold_conv_mul_add", "conv", "mul");
  ASSERT_NE(e, nullptr) << describe_events(*p.folded);
  EXPECT_NE(e->reason.find("broadcasts beyond the conv output"), std::string::npos) << e->reason;
}

// Opset 6: x [4, 3, 6, 6] -> Conv -> [4, 4, 4, 4] -> Mul(s [s_dims], broadcast=1, axis) -> y.
ModelBuilder legacy_conv_mul(uint32_t seed, std::vector<int64_t> s_dims, int64_t axis) {
  Rng rng(seed);
  ModelBuilder b(6, 3);
  b.input("x", {4, 3, 6, 6});
  add_conv(b, rng, "conv", "x", "c", {4, 3, 3, 3}, true);
  const int64_t n = product(s_dims);
  b.initializer("s", std::move(s_dims), rng.uniform(n, 0.5f, 2.0f));
  auto& mul = b.node("Mul", {"c", "s"}, {"y"}, "mul");
  set_attr(mul, "broadcast", int64_t{1});
  if (axis >= 0) set_attr(mul, "axis", axis);
  b.output("y");
  return b;
}

TEST(FoldConvMulAdd, LegacyBroadcastAxis) {
  // [4] at axis 1 scales the channels: folds.
  {
    const Pair p = load_pair(legacy_conv_mul(65, {4}, 1));
    expect_same_outputs(p);
    EXPECT_EQ(count_op(*p.folded, "Mul"), 0) << describe_events(*p.folded);
    EXPECT_NE(find_event(*p.folded, true, "fold_conv_mul_add", "conv", "mul"), nullptr);
  }
  // [4, 1, 1] at axis 0 scales the batch (numpy alignment would say channels): stays.
  {
    const Pair p = load_pair(legacy_conv_mul(66, {4, 1, 1}, 0));
    expect_same_outputs(p);
    EXPECT_EQ(count_op(*p.folded, "Mul"), 1);
    const FoldEvent* e = find_event(*p.folded, false, "fold_conv_mul_add", "conv", "mul");
    ASSERT_NE(e, nullptr) << describe_events(*p.folded);
    EXPECT_NE(e->reason.find("not per channel"), std::string::npos) << e->reason;
  }
  // [4, 1, 1] with the default (trailing) axis: per channel, folds.
  {
    const Pair p = load_pair(legacy_conv_mul(67, {4, 1, 1}, -1));
    expect_same_outputs(p);
    EXPECT_EQ(count_op(*p.folded, "Mul"), 0) << describe_events(*p.folded);
  }
}

TEST(FoldConvMulAdd, MulByVectorOnTheLastAxisStays) {
  // Conv output [1, 4, 2, 4]: a [4] constant broadcasts along W, not the channels.
  Rng rng(62);
  ModelBuilder b;
  b.input("x", {1, 3, 4, 6});
  add_conv(b, rng, "conv", "x", "c", {4, 3, 3, 3}, true);
  rand_init(b, rng, "s", {4}, 0.5f, 2.0f);
  b.node("Mul", {"c", "s"}, {"y"}, "mul");
  b.output("y");
  const Pair p = load_pair(b);
  expect_same_outputs(p);
  EXPECT_EQ(count_op(*p.folded, "Mul"), 1);
  const FoldEvent* e = find_event(*p.folded, false, "fold_conv_mul_add", "conv", "mul");
  ASSERT_NE(e, nullptr) << describe_events(*p.folded);
  EXPECT_NE(e->reason.find("not per channel"), std::string::npos) << e->reason;
}

TEST(FoldConvMulAdd, ConvOutputWithTwoConsumersStays) {
  Rng rng(63);
  ModelBuilder b;
  b.input("x", {1, 3, 6, 6});
  add_conv(b, rng, "conv", "x", "c", {4, 3, 3, 3}, true);
  rand_init(b, rng, "s", {1, 4, 1, 1});
  b.node("Mul", {"c", "s"}, {"y"}, "mul");
  b.node("Relu", {"c"}, {"r"}, "relu");
  b.output("y");
  b.output("r");
  const Pair p = load_pair(b);
  expect_same_outputs(p);
  EXPECT_EQ(count_op(*p.folded, "Mul"), 1);
  const FoldEvent* e = find_event(*p.folded, false, "fold_conv_mul_add", "conv", "mul");
  ASSERT_NE(e, nullptr) << describe_events(*p.folded);
  EXPECT_TRUE(names_precondition(e->reason, "single consumer")) << e->reason;
}

// ---------------------------------------------------------------------------------------------
// Graph structure around the BN

TEST(FoldStructure, ChainedConvBnConvBnBothFold) {
  Rng rng(70);
  ModelBuilder b;
  b.input("x", {1, 3, 8, 8});
  add_conv(b, rng, "conv1", "x", "c1", {4, 3, 3, 3}, false);
  add_bn(b, rng, "bn1", "c1", "a", 4);
  add_conv(b, rng, "conv2", "a", "c2", {5, 4, 3, 3}, true);
  add_bn(b, rng, "bn2", "c2", "y", 5);
  b.output("y");
  const Pair p = load_pair(b);
  ASSERT_TRUE(p.folded && p.plain);
  expect_same_outputs(p);
  EXPECT_EQ(count_op(*p.plain, "BatchNormalization"), 2);
  EXPECT_EQ(count_op(*p.folded, "BatchNormalization"), 0);
  EXPECT_NE(find_event(*p.folded, true, "fold_batchnorm", "conv2", "bn2"), nullptr)
      << describe_events(*p.folded);
  const Value* y = p.folded->graph().find_value("y");
  ASSERT_TRUE(y && y->producer);
  EXPECT_EQ(y->producer->name, "conv2");
  EXPECT_NE(find_event(*p.folded, true, "fold_batchnorm", "conv1", "bn1"), nullptr)
      << describe_events(*p.folded);
  const Node* conv2 = find_node(*p.folded, "conv2");
  ASSERT_NE(conv2, nullptr);
  EXPECT_EQ(conv2->inputs[0]->name, "a");
  EXPECT_EQ(conv2->inputs[0]->producer->name, "conv1");
}

TEST(FoldStructure, ConvOutputWithTwoConsumersStays) {
  Rng rng(71);
  ModelBuilder b;
  b.input("x", {1, 3, 6, 6});
  add_conv(b, rng, "conv", "x", "c", {4, 3, 3, 3}, true);
  add_bn(b, rng, "bn", "c", "y", 4);
  b.node("Relu", {"c"}, {"r"}, "relu");
  b.output("y");
  b.output("r");
  expect_bn_kept(b, "bn", "single consumer");
}

TEST(FoldStructure, BnOutputThatIsAGraphOutputFoldsIntoItsProducer) {
  Rng rng(72);
  ModelBuilder b;
  b.input("x", {1, 3, 6, 6});
  add_conv(b, rng, "conv", "x", "c", {4, 3, 3, 3}, true);
  add_bn(b, rng, "bn", "c", "b", 4);
  b.node("Relu", {"b"}, {"r"}, "relu");
  b.output("b");
  b.output("r");
  expect_bn_folded(b, folded_into("conv", "b"));
  auto m = load(b, {});
  ASSERT_TRUE(m);
  ASSERT_EQ(m->outputs().size(), 2u);
  EXPECT_EQ(m->outputs()[0].name, "b");
  EXPECT_EQ(m->outputs()[1].name, "r");
  ASSERT_EQ(m->graph().outputs.size(), 2u);
  EXPECT_EQ(m->graph().outputs[0]->name, "b");
  EXPECT_EQ(m->graph().outputs[0]->producer->name, "conv");
}

TEST(FoldStructure, ConvOutputThatIsAGraphOutputStays) {
  Rng rng(73);
  ModelBuilder b;
  b.input("x", {1, 3, 6, 6});
  add_conv(b, rng, "conv", "x", "c", {4, 3, 3, 3}, true);
  add_bn(b, rng, "bn", "c", "y", 4);
  b.output("c");
  b.output("y");
  expect_bn_kept(b, "bn", "single consumer");
}

TEST(FoldStructure, SharedWeightsAreClonedForTheFoldedConv) {
  Rng rng(74);
  ModelBuilder b;
  b.input("x", {1, 3, 6, 6});
  rand_init(b, rng, "w", {4, 3, 3, 3});
  rand_init(b, rng, "bias", {4});
  b.node("Conv", {"x", "w", "bias"}, {"c1"}, "conv1");
  b.node("Conv", {"x", "w", "bias"}, {"y2"}, "conv2");
  add_bn(b, rng, "bn", "c1", "y1", 4);
  b.output("y1");
  b.output("y2");
  expect_bn_folded(b, folded_into("conv1", "y1"));
  auto m = load(b, {});
  ASSERT_TRUE(m);
  const Node* conv1 = find_node(*m, "conv1");
  const Node* conv2 = find_node(*m, "conv2");
  ASSERT_TRUE(conv1 && conv2);
  EXPECT_EQ(conv2->inputs[1]->name, "w");
  EXPECT_EQ(conv2->inputs[2]->name, "bias");
  EXPECT_NE(conv1->inputs[1], conv2->inputs[1]);
  EXPECT_NE(conv1->inputs[2], conv2->inputs[2]);
}

TEST(FoldStructure, NonConstantConvWeightsStay) {
  Rng rng(75);
  ModelBuilder b;
  b.input("x", {1, 3, 6, 6});
  b.input("w", {4, 3, 3, 3});
  b.node("Conv", {"x", "w"}, {"c"}, "conv");
  add_bn(b, rng, "bn", "c", "y", 4);
  b.output("y");
  expect_bn_kept(b, "bn", "constant weights");
}

TEST(FoldStructure, OverridableConvWeightsStayUnlessAllowed) {
  ModelBuilder b = conv_bn(76, {1, 3, 6, 6}, {4, 3, 3, 3}, true);
  list_as_input(b, "conv_w", {4, 3, 3, 3});
  expect_bn_kept(b, "bn", "constant weights");
  auto m = load(b, {});
  ASSERT_TRUE(m);
  const FoldEvent* e = find_event(*m, false, "fold_batchnorm", "bn", "");
  ASSERT_NE(e, nullptr);
  EXPECT_NE(e->reason.find("--fold-overridable"), std::string::npos) << e->reason;
  expect_bn_folded(b, folded_into("conv", "y"), options(true, true, true));
}

TEST(FoldStructure, BnAfterAGraphInputStays) {
  Rng rng(77);
  ModelBuilder b;
  b.input("x", {1, 4, 5, 5});
  add_bn(b, rng, "bn", "x", "t", 4);
  b.node("Relu", {"t"}, {"y"}, "relu");
  b.output("y");
  expect_bn_kept(b, "bn", "producer");
}

// ---------------------------------------------------------------------------------------------
// BatchNormalization preconditions

TEST(FoldPrecondition, VarPlusEpsPositive) {
  // Positive side: var 0 with a positive epsilon folds.
  {
    ModelBuilder b = conv_bn(80, {1, 3, 6, 6}, {4, 3, 3, 3}, true);
    b.proto()
        .mutable_graph()
        ->mutable_initializer(b.proto().graph().initializer_size() - 1)
        ->set_float_data(2, 0.0f);
    expect_bn_folded(b, folded_into("conv", "y"));
  }
  // var 0 and epsilon 0: division by zero, stays (and keel cannot run it unfolded either).
  Rng rng(81);
  ModelBuilder b;
  b.input("x", {1, 3, 6, 6});
  add_conv(b, rng, "conv", "x", "c", {4, 3, 3, 3}, true);
  add_bn(b, rng, "bn", "c", "y", 4, 0.0f);
  b.output("y");
  b.proto()
      .mutable_graph()
      ->mutable_initializer(b.proto().graph().initializer_size() - 1)
      ->set_float_data(1, 0.0f);
  expect_bn_kept(b, "bn", "var + eps > 0", Runs::kNo);
}

TEST(FoldPrecondition, MissingEpsilonMeans1em5) {
  // Tiny variances make epsilon matter: 1e-5 against var ~ 1e-5.
  BnRanges tiny;
  tiny.var_lo = 0.5e-5f;
  tiny.var_hi = 2e-5f;
  auto model = [&](float eps) {
    Rng rng(82);
    ModelBuilder b;
    b.input("x", {1, 3, 6, 6});
    add_conv(b, rng, "conv", "x", "c", {4, 3, 3, 3}, true);
    add_bn(b, rng, "bn", "c", "y", 4, eps, tiny);
    b.output("y");
    return b;
  };
  ModelBuilder no_eps = model(-1.0f);
  ASSERT_EQ(no_eps.proto().graph().node(1).attribute_size(), 0);
  expect_bn_folded(no_eps, folded_into("conv", "y"));
  // The folded model without the attribute equals the unfolded one with epsilon = 1e-5.
  auto folded = load(no_eps, {});
  auto explicit_eps = load(model(1e-5f), options(false, false));
  ASSERT_TRUE(folded && explicit_eps);
  const auto feeds = random_feeds(*explicit_eps);
  auto want = run(explicit_eps, feeds);
  auto got = run(folded, feeds);
  ASSERT_TRUE(want.is_ok() && got.is_ok());
  expect_close(*want, *got);
}

TEST(FoldPrecondition, TrainingMode) {
  ModelBuilder off = conv_bn(83, {1, 3, 6, 6}, {4, 3, 3, 3}, true, 1, "Conv", 15);
  set_attr(*off.proto().mutable_graph()->mutable_node(1), "training_mode", int64_t{0});
  expect_bn_folded(off, folded_into("conv", "y"));
  ModelBuilder on = conv_bn(83, {1, 3, 6, 6}, {4, 3, 3, 3}, true, 1, "Conv", 15);
  set_attr(*on.proto().mutable_graph()->mutable_node(1), "training_mode", int64_t{1});
  expect_bn_kept(on, "bn", "training_mode", Runs::kNo);
}

TEST(FoldPrecondition, OptionalOutputs) {
  // Opset 9: five outputs; unused ones do not matter.
  auto model = [](bool use_mean) {
    ModelBuilder b = conv_bn(84, {1, 3, 6, 6}, {4, 3, 3, 3}, true, 1, "Conv", 9);
    auto* bn = b.proto().mutable_graph()->mutable_node(1);
    for (const char* o : {"run_mean", "run_var", "saved_mean", "saved_var"}) bn->add_output(o);
    if (use_mean) b.output("run_mean");
    return b;
  };
  expect_bn_folded(model(false), folded_into("conv", "y"));
  expect_bn_kept(model(true), "bn", "optional outputs", Runs::kNo);
}

TEST(FoldPrecondition, Spatial) {
  // Opset 7, spatial=1 (explicit) folds.
  ModelBuilder one = conv_bn(85, {1, 3, 4, 4}, {4, 3, 3, 3}, true, 1, "Conv", 7);
  set_attr(*one.proto().mutable_graph()->mutable_node(1), "spatial", int64_t{1});
  expect_bn_folded(one, folded_into("conv", "y"));
  // spatial=0: per-activation parameters [C, H, W] = [4, 2, 2].
  Rng rng(86);
  ModelBuilder b(7);
  b.input("x", {1, 3, 4, 4});
  add_conv(b, rng, "conv", "x", "c", {4, 3, 3, 3}, true);
  rand_init(b, rng, "s", {4, 2, 2}, -1.5f, 1.5f);
  rand_init(b, rng, "t", {4, 2, 2});
  rand_init(b, rng, "m", {4, 2, 2});
  rand_init(b, rng, "v", {4, 2, 2}, 0.5f, 2.0f);
  auto& bn = b.node("BatchNormalization", {"c", "s", "t", "m", "v"}, {"y"}, "bn");
  set_attr(bn, "spatial", int64_t{0});
  b.output("y");
  expect_bn_kept(b, "bn", "spatial");
}

TEST(FoldPrecondition, ConstantParameters) {
  Rng rng(87);
  ModelBuilder b;
  b.input("x", {1, 3, 6, 6});
  b.input("gamma", {4});
  add_conv(b, rng, "conv", "x", "c", {4, 3, 3, 3}, true);
  rand_init(b, rng, "beta", {4});
  rand_init(b, rng, "mean", {4});
  rand_init(b, rng, "var", {4}, 0.5f, 2.0f);
  b.node("BatchNormalization", {"c", "gamma", "beta", "mean", "var"}, {"y"}, "bn");
  b.output("y");
  expect_bn_kept(b, "bn", "constant parameters");
}

TEST(FoldPrecondition, OverridableParametersFoldOnlyWhenAllowed) {
  ModelBuilder b = conv_bn(88, {1, 3, 6, 6}, {4, 3, 3, 3}, true);
  for (const char* p : {"bn_scale", "bn_bias", "bn_mean", "bn_var"}) list_as_input(b, p, {4});
  expect_bn_kept(b, "bn", "constant parameters");
  auto m = load(b, {});
  ASSERT_TRUE(m);
  const FoldEvent* e = find_event(*m, false, "fold_batchnorm", "bn", "");
  ASSERT_NE(e, nullptr);
  EXPECT_NE(e->reason.find("--fold-overridable"), std::string::npos) << e->reason;
  expect_bn_folded(b, folded_into("conv", "y"), options(true, true, true));
}

TEST(FoldPrecondition, ParameterLengths) {
  // The conv has 4 output channels, the BN parameters 3: invalid, keel cannot run it anyway,
  // but folding must not read past the parameters.
  Rng rng(89);
  ModelBuilder b;
  b.input("x", {1, 3, 6, 6});
  add_conv(b, rng, "conv", "x", "c", {4, 3, 3, 3}, true);
  add_bn(b, rng, "bn", "c", "y", 3);
  b.output("y");
  expect_bn_kept(b, "bn", "parameter lengths", Runs::kNo);
}

TEST(FoldPrecondition, Float64ParametersWithFloat32Conv) {
  Rng rng(90);
  const int64_t c = 4;
  auto f64 = [&](float lo, float hi) {
    const auto v = rng.uniform(c, lo, hi);
    std::vector<double> d(v.begin(), v.end());
    for (double& x : d) x += 1e-9;  // not representable in float32
    return d;
  };
  const auto gamma = f64(-1.5f, 1.5f), beta = f64(-1, 1), mean = f64(-1, 1), var = f64(0.5f, 2);
  const float eps = 1e-3f;
  ModelBuilder conv_only;
  conv_only.input("x", {1, 3, 6, 6});
  {
    Rng wrng(91);
    add_conv(conv_only, wrng, "conv", "x", "y", {c, 3, 3, 3}, true);
  }
  conv_only.output("y");
  ModelBuilder b;
  b.input("x", {1, 3, 6, 6});
  {
    Rng wrng(91);
    add_conv(b, wrng, "conv", "x", "c", {c, 3, 3, 3}, true);
  }
  init_f64(b, "g", {c}, gamma);
  init_f64(b, "bt", {c}, beta);
  init_f64(b, "m", {c}, mean);
  init_f64(b, "v", {c}, var);
  set_attr(b.node("BatchNormalization", {"c", "g", "bt", "m", "v"}, {"y"}, "bn"), "epsilon", eps);
  b.output("y");

  auto folded = load(b, {});
  auto reference = load(conv_only, options(false, false));
  ASSERT_TRUE(folded && reference);
  EXPECT_EQ(count_op(*folded, "BatchNormalization"), 0) << describe_events(*folded);
  EXPECT_NE(find_event(*folded, true, "fold_batchnorm", "conv", "bn"), nullptr);
  ASSERT_EQ(folded->outputs().size(), 1u);
  EXPECT_EQ(folded->outputs()[0].name, "y");
  EXPECT_EQ(folded->outputs()[0].dtype, DataType::kFloat32);
  const auto feeds = random_feeds(*reference);
  auto conv_out = run(reference, feeds);
  auto got = run(folded, feeds);
  ASSERT_TRUE(conv_out.is_ok()) << conv_out.status().to_string();
  ASSERT_TRUE(got.is_ok()) << got.status().to_string();
  // Reference: the BN applied in double to the conv output.
  const Tensor& x = (*conv_out)[0];
  Tensor want = Tensor::allocate(DataType::kFloat32, x.shape()).value();
  const int64_t plane = x.numel() / c;
  for (int64_t i = 0; i < x.numel(); ++i) {
    const size_t ch = static_cast<size_t>(i / plane);
    const double v =
        (x.data_as<float>()[i] - mean[ch]) / std::sqrt(var[ch] + eps) * gamma[ch] + beta[ch];
    want.data_as<float>()[i] = static_cast<float>(v);
  }
  EXPECT_LE(rel_error(want, (*got)[0]), kRtol);
}

// ---------------------------------------------------------------------------------------------
// fuse_batchnorm_activation (keel-only): a BN that stays, followed by an activation

// Concat(x1, x2) -> BN "bn" -> `act` "act" -> "y".
ModelBuilder concat_bn_act(uint32_t seed, const std::string& act) {
  Rng rng(seed);
  ModelBuilder b;
  b.input("x1", {1, 2, 5, 5});
  b.input("x2", {1, 3, 5, 5});
  set_attr(b.node("Concat", {"x1", "x2"}, {"cat"}, "concat"), "axis", int64_t{1});
  // Shift the activations across the interesting ranges (Clip's 6, HardSwish's +-3).
  BnRanges wide;
  wide.beta_lo = -3.0f;
  wide.beta_hi = 3.0f;
  rand_init(b, rng, "bn_scale", {5}, -6.0f, 6.0f);
  rand_init(b, rng, "bn_bias", {5}, wide.beta_lo, wide.beta_hi);
  rand_init(b, rng, "bn_mean", {5});
  rand_init(b, rng, "bn_var", {5}, 0.5f, 2.0f);
  b.node("BatchNormalization", {"cat", "bn_scale", "bn_bias", "bn_mean", "bn_var"}, {"t"}, "bn");
  if (act == "Clip") {
    b.initializer("lo", {}, {0.0f});
    b.initializer("hi", {}, {6.0f});
    b.node("Clip", {"t", "lo", "hi"}, {"y"}, "act");
  } else {
    auto& n = b.node(act, {"t"}, {"y"}, "act");
    if (act == "LeakyRelu") set_attr(n, "alpha", 0.2f);
  }
  b.output("y");
  return b;
}

TEST(FuseBnActivation, FusesAndMatchesTheUnfusedModel) {
  uint32_t seed = 100;
  for (const std::string act :
       {"Relu", "Clip", "HardSwish", "LeakyRelu", "HardSigmoid", "Sigmoid"}) {
    SCOPED_TRACE(act);
    ModelBuilder b = concat_bn_act(seed++, act);
    const Pair p = {load(b, {}), load(b, options(true, false))};
    ASSERT_TRUE(p.folded && p.plain);
    expect_same_outputs(p);
    EXPECT_EQ(count_op(*p.folded, act), 0);
    EXPECT_EQ(count_op(*p.plain, act), 1);
    EXPECT_EQ(count_op(*p.folded, "BatchNormalization"), 1);
    EXPECT_NE(find_event(*p.folded, true, "fuse_batchnorm_activation", "bn", "act"), nullptr)
        << describe_events(*p.folded);
    const FoldEvent* kept = find_event(*p.folded, false, "fold_batchnorm", "bn", "");
    ASSERT_NE(kept, nullptr);
    EXPECT_TRUE(names_precondition(kept->reason, "producer")) << kept->reason;
    const Value* y = p.folded->graph().find_value("y");
    ASSERT_TRUE(y && y->producer);
    EXPECT_EQ(y->producer->name, "bn");
    // Not for `keel fold`: without runtime fusions the activation stays.
    EXPECT_EQ(find_event(*p.plain, true, "fuse_batchnorm_activation", "bn", "act"), nullptr);
  }
}

TEST(FuseBnActivation, BnOutputUsedTwiceIsNotFused) {
  ModelBuilder b = concat_bn_act(110, "Relu");
  b.output("t");
  const Pair p = {load(b, {}), load(b, options(true, false))};
  ASSERT_TRUE(p.folded && p.plain);
  expect_same_outputs(p);
  EXPECT_EQ(count_op(*p.folded, "Relu"), 1);
  EXPECT_EQ(find_event(*p.folded, true, "fuse_batchnorm_activation", "bn", "act"), nullptr);
}

// fuse_conv_activation (keel-only): the activations of kernels/fused_activation.hpp run in the
// convolution's epilogue, in both layouts; others (Tanh), or a Conv output read twice, stay.
TEST(FuseConvActivation, ActivationsFuseAndMatchInBothLayouts) {
  uint32_t seed = 120;
  for (const std::string act :
       {"Relu", "Clip", "LeakyRelu", "HardSwish", "HardSigmoid", "Sigmoid", "Silu", "Tanh"}) {
    for (LayoutOption layout : {LayoutOption::kNchw, LayoutOption::kNhwc}) {
      SCOPED_TRACE(act + (layout == LayoutOption::kNhwc ? " nhwc" : " nchw"));
      Rng rng(seed++);
      ModelBuilder b;
      b.input("x", {1, 3, 6, 6});
      add_conv(b, rng, "conv", "x", "c", {4, 3, 3, 3}, true);
      if (act == "Clip") {
        b.initializer("lo", {}, {-0.5f});
        b.initializer("hi", {}, {0.5f});
        b.node("Clip", {"c", "lo", "hi"}, {"y"}, "act");
      } else if (act == "Silu") {
        b.node("Sigmoid", {"c"}, {"s"}, "sig");
        b.node("Mul", {"s", "c"}, {"y"}, "act");
      } else {
        onnx::NodeProto& n = b.node(act, {"c"}, {"y"}, "act");
        if (act == "HardSigmoid") {
          set_attr(n, "alpha", 0.3f);
          set_attr(n, "beta", 0.4f);
        }
      }
      b.output("y");
      ModelOptions fused = options(true, true);
      fused.layout = layout;
      const Pair p = load_pair(b, fused);
      ASSERT_TRUE(p.folded && p.plain);
      expect_same_outputs(p);
      const bool fusable = act != "Tanh";
      const std::string op = act == "Silu" ? "Mul" : act;
      EXPECT_EQ(count_op(*p.folded, op), fusable ? 0 : 1);
      EXPECT_EQ(count_op(*p.folded, "Sigmoid"), fusable ? 0 : count_op(*p.plain, "Sigmoid"));
      const std::string absorbed = act == "Silu" ? "sig + act" : "act";
      EXPECT_EQ(find_event(*p.folded, true, "fuse_conv_activation", "conv", absorbed) != nullptr,
                fusable)
          << describe_events(*p.folded);
    }
  }
}

TEST(FuseConvActivation, SiluNeedsTheSigmoidAndMulToReadOnlyTheConv) {
  // The Mul multiplies the sigmoid by another tensor: not SiLU, nothing fuses.
  Rng rng(125);
  ModelBuilder b;
  b.input("x", {1, 3, 6, 6});
  b.input("z", {1, 4, 4, 4});
  add_conv(b, rng, "conv", "x", "c", {4, 3, 3, 3}, true);
  b.node("Sigmoid", {"c"}, {"s"}, "sig");
  b.node("Mul", {"s", "z"}, {"y"}, "act");
  b.output("y");
  const Pair p = load_pair(b, options(true, true));
  ASSERT_TRUE(p.folded && p.plain);
  expect_same_outputs(p);
  EXPECT_EQ(count_op(*p.folded, "Mul"), 1);
  // The Sigmoid alone (the conv's only consumer) does fuse.
  EXPECT_EQ(count_op(*p.folded, "Sigmoid"), 0);
}

// The exact GELU as exporters decompose it, in both forms: y = ((x * (1 + erf(x / sqrt2))) * 0.5
// or (0.5 * x) * (1 + erf(x * (1 / sqrt2))). Returns the output name.
std::string add_decomposed_gelu(ModelBuilder& b, const std::string& x, bool half_first) {
  b.initializer(x + "_c", {}, {half_first ? 0.70710678f : 1.41421356f});
  b.initializer(x + "_one", {}, {1.0f});
  b.initializer(x + "_half", {}, {0.5f});
  b.node(half_first ? "Mul" : "Div", {x, x + "_c"}, {x + "_d"}, x + "_div");
  b.node("Erf", {x + "_d"}, {x + "_e"}, x + "_erf");
  b.node("Add", {x + "_one", x + "_e"}, {x + "_a"}, x + "_add");
  if (half_first) {
    b.node("Mul", {x + "_half", x}, {x + "_h"}, x + "_mulhalf");
    b.node("Mul", {x + "_h", x + "_a"}, {x + "_gelu"}, x + "_gelu");
  } else {
    b.node("Mul", {x, x + "_a"}, {x + "_m"}, x + "_mul");
    b.node("Mul", {x + "_m", x + "_half"}, {x + "_gelu"}, x + "_gelu");
  }
  return x + "_gelu";
}

// A Linear layer as exporters write it (MatMul with constant B, Add of N constants) and a GELU:
// one MatMul with the bias and the Gelu in its GEMM epilogue, rank-2 and rank-3 A.
TEST(FuseMatMulEpilogue, BiasAndGeluRunInTheGemmEpilogue) {
  uint32_t seed = 140;
  for (bool half_first : {false, true}) {
    for (std::vector<int64_t> a_dims : {std::vector<int64_t>{7, 5}, {2, 7, 5}}) {
      SCOPED_TRACE(std::string(half_first ? "0.5 * x first" : "x * (1 + erf) first") + " rank " +
                   std::to_string(a_dims.size()));
      Rng rng(seed++);
      ModelBuilder b;
      b.input("a", a_dims);
      rand_init(b, rng, "w", {5, 6});
      rand_init(b, rng, "bias", {6});
      b.node("MatMul", {"a", "w"}, {"m"}, "mm");
      b.node("Add", {"m", "bias"}, {"x"}, "add_bias");
      const std::string y = add_decomposed_gelu(b, "x", half_first);
      b.output(y);
      const Pair p = load_pair(b, options(true, true));
      ASSERT_TRUE(p.folded && p.plain);
      expect_same_outputs(p);
      EXPECT_EQ(count_op(*p.folded, "Add"), 0);
      EXPECT_EQ(count_op(*p.folded, "Erf"), 0);
      EXPECT_EQ(count_op(*p.folded, "Mul"), 0);
      EXPECT_EQ(count_op(*p.folded, "Gelu"), 0);
      EXPECT_NE(find_event(*p.folded, true, "fuse_matmul_bias", "mm", "add_bias"), nullptr)
          << describe_events(*p.folded);
      EXPECT_NE(find_event(*p.folded, true, "fuse_gelu_pattern", y, "x_div"), nullptr)
          << describe_events(*p.folded);
      EXPECT_NE(find_event(*p.folded, true, "fuse_conv_activation", "mm", y), nullptr)
          << describe_events(*p.folded);
      const Value* out = p.folded->graph().find_value(y);
      ASSERT_TRUE(out && out->producer);
      EXPECT_EQ(out->producer->name, "mm");
    }
  }
}

TEST(FuseMatMulEpilogue, TransposedWeightAndSharedBiasAsExportersWriteThem) {
  // B = Transpose(W [N, K]) and the bias read through an Identity of a shared initializer.
  Rng rng(145);
  ModelBuilder b;
  b.input("a", {2, 4, 5});
  rand_init(b, rng, "w", {6, 5});
  rand_init(b, rng, "shared_bias", {6});
  auto& t = b.node("Transpose", {"w"}, {"wt"}, "wt");
  set_attr(t, "perm", std::vector<int64_t>{1, 0});
  b.node("Identity", {"shared_bias"}, {"bias"}, "bias_alias");
  b.node("MatMul", {"a", "wt"}, {"m"}, "mm");
  b.node("Add", {"bias", "m"}, {"x"}, "add_bias");
  b.node("Relu", {"x"}, {"y"}, "relu");
  b.output("y");
  const Pair p = load_pair(b, options(true, true));
  ASSERT_TRUE(p.folded && p.plain);
  expect_same_outputs(p);
  EXPECT_EQ(count_op(*p.folded, "Add"), 0);
  EXPECT_EQ(count_op(*p.folded, "Relu"), 0);
  EXPECT_EQ(count_op(*p.folded, "Transpose"), 0);
  EXPECT_NE(find_event(*p.folded, true, "fuse_matmul_bias", "mm", "add_bias"), nullptr)
      << describe_events(*p.folded);
}

TEST(FuseMatMulEpilogue, TransposedWeightSpanningSeveralTiles) {
  // The load-time transpose runs in 32 x 32 tiles: W [70, 33] has partial tiles both ways.
  Rng rng(146);
  ModelBuilder b;
  b.input("a", {3, 33});
  rand_init(b, rng, "w", {70, 33});
  auto& t = b.node("Transpose", {"w"}, {"wt"}, "wt");
  set_attr(t, "perm", std::vector<int64_t>{1, 0});
  b.node("MatMul", {"a", "wt"}, {"y"}, "mm");
  b.output("y");
  const Pair p = load_pair(b, options(true, true));
  ASSERT_TRUE(p.folded && p.plain);
  expect_same_outputs(p);
  EXPECT_EQ(count_op(*p.folded, "Transpose"), 0);
}

TEST(FuseMatMulEpilogue, GeluWithoutAProducerRunsAlone) {
  // After a graph input there is no epilogue to join: one standalone Gelu node; a decomposition
  // with another constant (not sqrt 2) is left as written.
  ModelBuilder b;
  b.input("x", {3, 8});
  b.input("z", {3, 8});
  const std::string y = add_decomposed_gelu(b, "x", false);
  b.output(y);
  b.initializer("z_c", {}, {1.5f});
  b.node("Div", {"z", "z_c"}, {"z_d"});
  b.node("Erf", {"z_d"}, {"z_e"});
  b.output("z_e");
  const Pair p = load_pair(b, options(true, true));
  ASSERT_TRUE(p.folded && p.plain);
  expect_same_outputs(p);
  EXPECT_EQ(count_op(*p.folded, "Gelu"), 1);
  EXPECT_EQ(count_op(*p.folded, "Erf"), 1);
}

TEST(FuseMatMulEpilogue, BiasOfAnotherShapeIsNotFused) {
  // Add of a [7, 6] tensor (a row dimension): not a per-column bias.
  Rng rng(150);
  ModelBuilder b;
  b.input("a", {7, 5});
  rand_init(b, rng, "w", {5, 6});
  rand_init(b, rng, "c", {7, 6});
  b.node("MatMul", {"a", "w"}, {"m"}, "mm");
  b.node("Add", {"m", "c"}, {"y"}, "add");
  b.node("Relu", {"y"}, {"r"}, "relu");
  b.output("r");
  const Pair p = load_pair(b, options(true, true));
  ASSERT_TRUE(p.folded && p.plain);
  expect_same_outputs(p);
  EXPECT_EQ(count_op(*p.folded, "Add"), 1);
  EXPECT_EQ(find_event(*p.folded, true, "fuse_matmul_bias", "mm", "add"), nullptr);
}

TEST(FuseMatMulEpilogue, BiasThatRaisesTheRankIsNotFused) {
  // [7, 6] + [1, 1, 6] is [1, 7, 6]: the Add changes the shape, so it stays.
  Rng rng(151);
  ModelBuilder b;
  b.input("a", {7, 5});
  rand_init(b, rng, "w", {5, 6});
  rand_init(b, rng, "c", {1, 1, 6});
  b.node("MatMul", {"a", "w"}, {"m"}, "mm");
  b.node("Add", {"m", "c"}, {"y"}, "add");
  b.output("y");
  const Pair p = load_pair(b, options(true, true));
  ASSERT_TRUE(p.folded && p.plain);
  expect_same_outputs(p);
  EXPECT_EQ(count_op(*p.folded, "Add"), 1);
  auto out = run(p.folded, random_feeds(*p.folded));
  ASSERT_TRUE(out.is_ok());
  EXPECT_EQ((*out)[0].shape(), (Shape{1, 7, 6}));
}

TEST(FuseConvActivation, ConvOutputReadTwiceIsNotFused) {
  Rng rng(130);
  ModelBuilder b;
  b.input("x", {1, 3, 6, 6});
  add_conv(b, rng, "conv", "x", "c", {4, 3, 3, 3}, true);
  b.node("Relu", {"c"}, {"y"}, "act");
  b.output("y");
  b.output("c");
  const Pair p = load_pair(b, options(true, true));
  expect_same_outputs(p);
  EXPECT_EQ(count_op(*p.folded, "Relu"), 1);
}

// fuse_conv_add (keel-only): a residual Add (and the activation after it) runs in the Conv. In
// NHWC the GEMM kernels (1x1, and 3x3 to more than 64 outputs) add it in their epilogue; the
// direct and depthwise kernels, NCHW, and residuals of another shape take the second pass.
struct ResidualCase {
  const char* name;
  std::vector<int64_t> w;  // main conv's weights (input has 8 channels)
  int64_t group;
};

ModelBuilder residual_block(uint32_t seed, const ResidualCase& c, bool relu) {
  Rng rng(seed);
  ModelBuilder b;
  b.input("x", {1, 8, 6, 6});
  const int64_t k = c.w[2];
  onnx::NodeProto& conv = add_conv(b, rng, "conv", "x", "c", c.w, true);
  set_attr(conv, "pads", std::vector<int64_t>{k / 2, k / 2, k / 2, k / 2});
  set_attr(conv, "group", c.group);
  add_conv(b, rng, "skip", "x", "s", {c.w[0], 8, 1, 1}, false);  // the residual: computed
  b.node("Add", {"s", "c"}, {"sum"}, "add");
  if (relu) b.node("Relu", {"sum"}, {"y"}, "relu");
  b.output(relu ? "y" : "sum");
  return b;
}

TEST(FuseConvAdd, ResidualAddAndReluRunInTheConvInBothLayouts) {
  uint32_t seed = 400;
  const std::vector<ResidualCase> cases = {{"1x1 gemm", {24, 8, 1, 1}, 1},
                                           {"3x3 implicit gemm", {80, 8, 3, 3}, 1},
                                           {"3x3 direct", {16, 8, 3, 3}, 1},
                                           {"depthwise", {8, 1, 3, 3}, 8}};
  for (const ResidualCase& c : cases) {
    for (bool relu : {false, true}) {
      for (LayoutOption layout : {LayoutOption::kNchw, LayoutOption::kNhwc}) {
        SCOPED_TRACE(std::string(c.name) + (relu ? " relu" : "") +
                     (layout == LayoutOption::kNhwc ? " nhwc" : " nchw"));
        ModelOptions fused = options(true, true);
        fused.layout = layout;
        const Pair p = load_pair(residual_block(seed++, c, relu), fused);
        ASSERT_TRUE(p.folded && p.plain);
        expect_same_outputs(p);
        EXPECT_EQ(count_op(*p.folded, "Add"), 0);
        EXPECT_EQ(count_op(*p.folded, "Relu"), 0);
        EXPECT_NE(find_event(*p.folded, true, "fuse_conv_add", "conv", "add"), nullptr)
            << describe_events(*p.folded);
      }
    }
  }
}

TEST(FuseConvAdd, ResidualOfAnotherShapeBroadcasts) {
  // The residual's shape is only known at plan time: [1, 16, 1, 1] broadcasts into the conv's
  // output, [2, 16, 6, 6] widens it (the output takes the Add's shape).
  uint32_t seed = 420;
  for (const std::vector<int64_t>& r_dims :
       {std::vector<int64_t>{1, 16, 1, 1}, std::vector<int64_t>{2, 16, 6, 6}}) {
    for (LayoutOption layout : {LayoutOption::kNchw, LayoutOption::kNhwc}) {
      SCOPED_TRACE(shape_to_string(Shape(r_dims.begin(), r_dims.end())) +
                   (layout == LayoutOption::kNhwc ? " nhwc" : " nchw"));
      Rng rng(seed++);
      ModelBuilder b;
      b.input("x", {1, 8, 6, 6});
      b.input("r", r_dims);
      onnx::NodeProto& conv = add_conv(b, rng, "conv", "x", "c", {16, 8, 1, 1}, true);
      set_attr(conv, "pads", std::vector<int64_t>{0, 0, 0, 0});
      b.node("Add", {"c", "r"}, {"sum"}, "add");
      b.node("Relu", {"sum"}, {"y"}, "relu");
      b.output("y");
      ModelOptions fused = options(true, true);
      fused.layout = layout;
      const Pair p = load_pair(b, fused);
      ASSERT_TRUE(p.folded && p.plain);
      expect_same_outputs(p);
      EXPECT_EQ(count_op(*p.folded, "Add"), 0);
      auto out = run(p.folded, random_feeds(*p.folded));
      ASSERT_TRUE(out.is_ok()) << out.status().to_string();
      Shape want = {r_dims[0], 16, 6, 6};
      EXPECT_EQ((*out)[0].shape(), want);
    }
  }
}

TEST(FuseConvAdd, LegacyBroadcastAddIsNotFused) {
  // Opset 6: Add(c [4, 4, 4, 4], r [4], broadcast=1, axis=1) adds r per channel; the fused
  // kernel would align r with the last dim (W, also 4) and give other numbers.
  Rng rng(450);
  ModelBuilder b(6, 3);
  b.input("x", {4, 3, 6, 6});
  b.input("r", {4});
  add_conv(b, rng, "conv", "x", "c", {4, 3, 3, 3}, true);
  auto& add = b.node("Add", {"c", "r"}, {"y"}, "add");
  set_attr(add, "broadcast", int64_t{1});
  set_attr(add, "axis", int64_t{1});
  b.output("y");
  const Pair p = load_pair(b, options(true, true));
  ASSERT_TRUE(p.folded && p.plain);
  expect_same_outputs(p);
  EXPECT_EQ(count_op(*p.folded, "Add"), 1);
}

TEST(FuseConvAdd, ConvOutputReadTwiceOrAddedToItselfIsNotFused) {
  Rng rng(430);
  ModelBuilder b;
  b.input("x", {1, 8, 6, 6});
  add_conv(b, rng, "conv", "x", "c", {8, 8, 1, 1}, true);
  add_conv(b, rng, "conv2", "x", "d", {8, 8, 1, 1}, true);
  b.node("Add", {"c", "x"}, {"sum"}, "add");
  b.node("Add", {"d", "d"}, {"twice"}, "add2");  // the conv's output is both addends
  b.output("sum");
  b.output("c");  // read twice: the Add may not take it over
  b.output("twice");
  const Pair p = load_pair(b, options(true, true));
  ASSERT_TRUE(p.folded && p.plain);
  expect_same_outputs(p);
  EXPECT_EQ(count_op(*p.folded, "Add"), 2);
}

TEST(FuseConvAdd, ResidualInputWithoutTheMarkIsRejected) {
  // A model may not hand a Conv a fourth input itself.
  Rng rng(440);
  ModelBuilder b;
  b.input("x", {1, 8, 6, 6});
  rand_init(b, rng, "w", {8, 8, 1, 1});
  rand_init(b, rng, "bias", {8});
  b.node("Conv", {"x", "w", "bias", "x"}, {"y"}, "conv");
  b.output("y");
  const std::string bytes = b.bytes();
  ModelOptions o;
  o.layout = LayoutOption::kNchw;
  auto m = Model::load_bytes(bytes.data(), bytes.size(), o);
  if (!m.is_ok()) return;  // rejected at load: fine too
  auto s = Session::create(*m, {});
  if (s.is_ok()) {
    auto out = (*s)->run(random_feeds(**m));
    EXPECT_FALSE(out.is_ok());
  }
}

// A model that carries keel's private fusion marks itself (a forged or stale `keel fold`-like
// rewrite, with the attribute names keel once used) gets an error naming the node at load or at
// its first run, never a crash: the importer refuses the private prefix by name.
TEST(FusedConvMarks, ForgedMarksAreErrorsNotCrashes) {
  struct Forged {
    const char* name;
    std::vector<std::string> inputs;
    std::vector<std::string> outputs;
    const char* mark;
    LayoutOption layout;
  };
  const std::vector<Forged> cases = {
      {"gate of X's shape", {"x", "w", "bias", "", "x"}, {"y"}, "gate", LayoutOption::kNchw},
      {"gate of X's shape, NHWC", {"x", "w", "bias", "", "x"}, {"y"}, "gate", LayoutOption::kNhwc},
      {"gate missing", {"x", "w", "bias"}, {"y"}, "gate", LayoutOption::kNchw},
      {"input 3 without the residual mark",
       {"x", "w", "bias", "x", "x"},
       {"y"},
       "gate",
       LayoutOption::kNchw},
      {"pooling without a second output", {"x", "w", "bias"}, {"y"}, "pool", LayoutOption::kNhwc},
      {"expansion without its weights", {"x", "w", "bias"}, {"y"}, "expand", LayoutOption::kNhwc},
      {"expansion of the wrong shape",
       {"x", "w", "bias", "", "", "w"},
       {"y"},
       "expand",
       LayoutOption::kNhwc},
      {"expansion on NCHW", {"x", "w", "bias", "", "", "w"}, {"y"}, "expand", LayoutOption::kNchw},
  };
  uint32_t seed = 580;
  for (const Forged& f : cases) {
    SCOPED_TRACE(f.name);
    Rng rng(seed++);
    ModelBuilder b;
    b.input("x", {1, 8, 6, 6});
    rand_init(b, rng, "w", {8, 8, 1, 1});
    rand_init(b, rng, "bias", {8});
    onnx::NodeProto& conv = b.node("Conv", f.inputs, f.outputs, "conv");
    set_attr(conv, std::string(kPrivateAttributePrefix) + f.mark, int64_t{1});
    b.output("y");
    const std::string bytes = b.bytes();
    ModelOptions o;
    o.layout = f.layout;
    // The first step that fails (load, plan, run) must say what and where.
    Status st = Status::ok();
    auto m = Model::load_bytes(bytes.data(), bytes.size(), o);
    if (!m.is_ok()) {
      st = m.status();
    } else {
      auto s = Session::create(*m, {});
      if (!s.is_ok()) {
        st = s.status();
      } else {
        auto out = (*s)->run(random_feeds(**m));
        if (!out.is_ok()) st = out.status();
      }
    }
    ASSERT_FALSE(st.is_ok());
    EXPECT_NE(st.to_string().find("'conv'"), std::string::npos) << st.to_string();
  }
}

// The private channel is closed at the importer: an attribute with keel's private prefix, a node
// or an opset import in keel's private domain is INVALID_MODEL at load, naming the node.
TEST(FusedConvMarks, PrivateAttributesAndDomainAreRefusedAtLoad) {
  for (int what = 0; what < 3; ++what) {
    SCOPED_TRACE(what);
    Rng rng(590);
    ModelBuilder b;
    b.input("x", {1, 8, 6, 6});
    rand_init(b, rng, "w", {8, 8, 1, 1});
    onnx::NodeProto& conv = b.node("Conv", {"x", "w"}, {"y"}, "conv");
    if (what == 0) {
      set_attr(conv, std::string(kPrivateAttributePrefix) + "layout", std::string("NHWC"));
    }
    if (what >= 1) conv.set_domain(kKeelDomain);
    if (what == 1) conv.set_op_type(kFusedConv);
    b.output("y");
    if (what >= 1) {
      auto* op = b.proto().add_opset_import();
      op->set_domain(kKeelDomain);
      op->set_version(1);
    }
    const std::string bytes = b.bytes();
    auto m = Model::load_bytes(bytes.data(), bytes.size());
    ASSERT_FALSE(m.is_ok());
    EXPECT_EQ(m.status().code(), StatusCode::kInvalidModel);
    const std::string msg = m.status().to_string();
    EXPECT_NE(msg.find(what == 0 ? "'conv'" : kKeelDomain), std::string::npos) << msg;
    EXPECT_NE(msg.find("private"), std::string::npos) << msg;
  }
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
Pair fused_pair_in(const ModelBuilder& b, LayoutOption layout) {
  ModelOptions fused = options(true, true);
  fused.layout = layout;
  Pair p = load_pair(b, fused);
  EXPECT_TRUE(p.folded && p.plain);
  if (p.folded && p.plain) expect_same_outputs(p);
  return p;
}

ModelBuilder se_block(uint32_t seed, const GateCase& c) {
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

TEST(FuseConvGate, SqueezeExcitationGateRunsInTheConvInBothLayouts) {
  const std::vector<GateCase> cases = {
      {"1x1 into the weights", {1, 16, 6, 6}, {8, 16, 1, 1}},
      {"1x1 batch 2, gate first", {2, 16, 6, 5}, {8, 16, 1, 1}, true},
      {"1x1 wider than the image", {1, 16, 3, 3}, {24, 16, 1, 1}},
      {"3x3", {1, 16, 6, 6}, {8, 16, 3, 3}},
      {"1x1 residual", {2, 16, 6, 6}, {8, 16, 1, 1}, false, true},
      {"3x3 residual", {1, 16, 5, 6}, {24, 16, 3, 3}, true, true},
      {"hard sigmoid", {1, 16, 6, 6}, {8, 16, 1, 1}, false, false, "HardSigmoid"},
  };
  uint32_t seed = 470;
  for (const GateCase& c : cases) {
    for (LayoutOption layout : {LayoutOption::kNchw, LayoutOption::kNhwc}) {
      SCOPED_TRACE(std::string(c.name) + (layout == LayoutOption::kNhwc ? " nhwc" : " nchw"));
      const Pair p = fused_pair_in(se_block(seed++, c), layout);
      ASSERT_TRUE(p.folded && p.plain);
      EXPECT_EQ(count_op(*p.folded, "Mul"), 0);
      EXPECT_NE(find_event(*p.folded, true, "fuse_conv_gate", "proj", "gate"), nullptr)
          << describe_events(*p.folded);
      // fuse_conv_pool: the depthwise conv pools its own output.
      EXPECT_EQ(count_op(*p.folded, "GlobalAveragePool"), 0);
      EXPECT_NE(find_event(*p.folded, true, "fuse_conv_pool", "dw", "pool"), nullptr)
          << describe_events(*p.folded);
    }
  }
}

// fuse_conv_pool (keel-only) on its own: a GlobalAveragePool of any Conv's output becomes the
// Conv's second output; the conv's output and the pooled one may both be graph outputs.
TEST(FuseConvPool, PoolingOfAConvRunsInTheConvInBothLayouts) {
  struct PoolCase {
    const char* name;
    std::vector<int64_t> x, w;
    int64_t group;
    bool residual;
  };
  const std::vector<PoolCase> cases = {
      {"depthwise, 16 channels", {2, 16, 7, 6}, {16, 1, 3, 3}, 16, false},
      {"depthwise, 20 channels", {1, 20, 5, 5}, {20, 1, 5, 5}, 20, false},
      {"grouped 4 per group", {1, 24, 6, 6}, {24, 4, 3, 3}, 6, false},
      {"1x1", {2, 8, 5, 6}, {24, 8, 1, 1}, 1, false},
      {"depthwise with a residual", {1, 16, 6, 6}, {16, 1, 3, 3}, 16, true},
  };
  uint32_t seed = 520;
  for (const PoolCase& c : cases) {
    for (bool conv_out_read : {false, true}) {
      for (LayoutOption layout : {LayoutOption::kNchw, LayoutOption::kNhwc}) {
        SCOPED_TRACE(std::string(c.name) + (conv_out_read ? ", conv output read" : "") +
                     (layout == LayoutOption::kNhwc ? " nhwc" : " nchw"));
        Rng rng(seed++);
        ModelBuilder b;
        b.input("x", c.x);
        const int64_t k = c.w[2];
        onnx::NodeProto& conv = add_conv(b, rng, "conv", "x", "a", c.w, true);
        set_attr(conv, "pads", std::vector<int64_t>{k / 2, k / 2, k / 2, k / 2});
        set_attr(conv, "group", c.group);
        std::string pooled_in = "a";
        if (c.residual) {
          add_conv(b, rng, "skip", "x", "s", {c.w[0], c.x[1], 1, 1}, false);
          b.node("Add", {"a", "s"}, {"sum"}, "add");
          b.node("Relu", {"sum"}, {"r"}, "relu");
          pooled_in = "r";
        }
        b.node("GlobalAveragePool", {pooled_in}, {"p"}, "pool");
        b.output("p");
        if (conv_out_read) b.output(pooled_in);
        const Pair p = fused_pair_in(b, layout);
        ASSERT_TRUE(p.folded && p.plain);
        EXPECT_EQ(count_op(*p.folded, "GlobalAveragePool"), 0);
        EXPECT_NE(find_event(*p.folded, true, "fuse_conv_pool", "conv", "pool"), nullptr)
            << describe_events(*p.folded);
      }
    }
  }
}

TEST(FuseConvGate, WhatIsNotProvablyAPerChannelGateStays) {
  std::vector<GateCase> cases(4, GateCase{"", {1, 16, 6, 6}, {8, 16, 1, 1}});
  cases[0].name = "one gate value per image";
  cases[0].gate_channels = 1;
  cases[1].name = "a padded conv in the gate (3x3 of them: an elementwise product)";
  cases[1].x = {1, 16, 3, 3};
  cases[1].fc1_pads = {1, 1, 1, 1};
  cases[2].name = "the gate pools another tensor";
  cases[2].pool_other = true;
  cases[3].name = "the gate pools another tensor, gate first";
  cases[3].pool_other = true;
  cases[3].gate_first = true;
  uint32_t seed = 490;
  for (const GateCase& c : cases) {
    for (LayoutOption layout : {LayoutOption::kNchw, LayoutOption::kNhwc}) {
      SCOPED_TRACE(std::string(c.name) + (layout == LayoutOption::kNhwc ? " nhwc" : " nchw"));
      const Pair p = fused_pair_in(se_block(seed++, c), layout);
      ASSERT_TRUE(p.folded && p.plain);
      EXPECT_EQ(count_op(*p.folded, "Mul"), 1);
      EXPECT_EQ(find_event(*p.folded, true, "fuse_conv_gate", "proj", "gate"), nullptr);
    }
  }
  // The gated tensor also read elsewhere is fine (it stays); the Mul's output read twice is not.
  ModelBuilder b = se_block(510, GateCase{"", {1, 16, 6, 6}, {8, 16, 1, 1}});
  b.output("m");
  const Pair p = load_pair(b, options(true, true));
  ASSERT_TRUE(p.folded && p.plain);
  expect_same_outputs(p);
  EXPECT_EQ(count_op(*p.folded, "Mul"), 1);
}

// fuse_expand_depthwise (keel-only, NHWC): an inverted residual's 1x1 expansion runs inside
// the depthwise conv, in bands of rows when the expanded image passes 1 MB (several bands per
// thread here), whole below that.
struct ExpandCase {
  const char* name;
  std::vector<int64_t> x;  // [N, 16, H, W]
  int64_t channels, k, stride, dilation = 1;
  bool expand_act = true, expand_bias = true, dw_bias = true, pool = false;
};

ModelBuilder inverted_residual(uint32_t seed, const ExpandCase& c) {
  Rng rng(seed);
  ModelBuilder b;
  b.input("x", c.x);
  add_conv(b, rng, "expand", "x", "e", {c.channels, 16, 1, 1}, c.expand_bias);
  std::string e = "e";
  if (c.expand_act) {
    b.initializer("lo", {}, {0.0f});
    b.initializer("hi", {}, {6.0f});
    b.node("Clip", {"e", "lo", "hi"}, {"e6"}, "relu6");
    e = "e6";
  }
  onnx::NodeProto& dw = add_conv(b, rng, "dw", e, "d", {c.channels, 1, c.k, c.k}, c.dw_bias);
  const int64_t pad = c.k / 2 * c.dilation;
  set_attr(dw, "pads", std::vector<int64_t>{pad, pad, pad, pad});
  set_attr(dw, "group", c.channels);
  set_attr(dw, "strides", std::vector<int64_t>{c.stride, c.stride});
  set_attr(dw, "dilations", std::vector<int64_t>{c.dilation, c.dilation});
  b.node("Sigmoid", {"d"}, {"ds"}, "sig");
  b.node("Mul", {"d", "ds"}, {"silu"}, "silu_mul");
  add_conv(b, rng, "project", "silu", "y", {8, c.channels, 1, 1}, true);
  b.output("y");
  if (c.pool) {
    b.node("GlobalAveragePool", {"silu"}, {"p"}, "pool");
    b.output("p");
  }
  return b;
}

TEST(FuseExpandDepthwise, InvertedResidualRunsInOneKernel) {
  const std::vector<ExpandCase> cases = {
      {"bands, 3x3 stride 1", {1, 16, 56, 56}, 96, 3, 1},
      {"bands, 3x3 stride 2, batch 2, odd sizes", {2, 16, 57, 53}, 96, 3, 2},
      {"bands, 5x5 stride 2, pooled", {1, 16, 60, 60}, 80, 5, 2, 1, true, true, true, true},
      {"bands, dilation 2, no biases or activation",
       {1, 16, 56, 56},
       96,
       3,
       1,
       2,
       false,
       false,
       false},
      {"whole image, pooled", {1, 16, 12, 13}, 32, 5, 1, 1, true, true, true, true},
  };
  uint32_t seed = 540;
  for (const ExpandCase& c : cases) {
    SCOPED_TRACE(c.name);
    const Pair p = fused_pair_in(inverted_residual(seed++, c), LayoutOption::kNhwc);
    ASSERT_TRUE(p.folded && p.plain);
    EXPECT_NE(find_event(*p.folded, true, "fuse_expand_depthwise", "dw", "expand"), nullptr)
        << describe_events(*p.folded);
    // The same bits on one thread and on three (bands split by thread).
    const auto feeds = random_feeds(*p.folded);
    SessionOptions one, three;
    one.threads = 1;
    three.threads = 3;
    auto s1 = Session::create(p.folded, one);
    auto s3 = Session::create(p.folded, three);
    ASSERT_TRUE(s1.is_ok() && s3.is_ok());
    auto o1 = (*s1)->run(feeds);
    auto o3 = (*s3)->run(feeds);
    ASSERT_TRUE(o1.is_ok() && o3.is_ok());
    for (size_t i = 0; i < o1->size(); ++i) {
      const Tensor& a = (*o1)[i];
      const Tensor& b = (*o3)[i];
      ASSERT_EQ(a.numel(), b.numel());
      EXPECT_EQ(0, std::memcmp(a.data_as<float>(), b.data_as<float>(), a.numel() * sizeof(float)))
          << "output " << i;
    }
  }
}

TEST(FuseExpandDepthwise, WhatDoesNotFitStaysTwoConvs) {
  ExpandCase c{"", {1, 16, 20, 20}, 32, 3, 1};
  uint32_t seed = 560;
  {
    SCOPED_TRACE("NCHW");
    const Pair p = load_pair(inverted_residual(seed++, c), options(true, true));
    expect_same_outputs(p);
    EXPECT_EQ(find_event(*p.folded, true, "fuse_expand_depthwise", "dw", "expand"), nullptr);
  }
  {
    SCOPED_TRACE("expansion read twice");
    ModelBuilder b = inverted_residual(seed++, c);
    b.output("e6");
    const Pair p = fused_pair_in(b, LayoutOption::kNhwc);
    ASSERT_TRUE(p.folded && p.plain);
    EXPECT_EQ(find_event(*p.folded, true, "fuse_expand_depthwise", "dw", "expand"), nullptr);
  }
}

TEST(FuseBnActivation, TanhIsNotFused) {
  ModelBuilder b = concat_bn_act(111, "Tanh");
  const Pair p = {load(b, {}), load(b, options(true, false))};
  ASSERT_TRUE(p.folded && p.plain);
  expect_same_outputs(p);
  EXPECT_EQ(count_op(*p.folded, "Tanh"), 1);
}

// ---------------------------------------------------------------------------------------------
// `keel fold` on the committed models: fold (no runtime fusions), export, load, compare

std::vector<std::string> committed_models() {
  std::vector<std::string> names;
  const fs::path root = fs::path(KEEL_SOURCE_DIR) / "models";
  for (const auto& e : fs::directory_iterator(root)) {
    if (fs::exists(e.path() / "model.onnx")) names.push_back(e.path().filename());
  }
  std::sort(names.begin(), names.end());
  return names;
}

int count_bn(const Graph& g) {
  int n = 0;
  for (const Node* node : g.nodes()) n += onnx_op_type(*node) == std::string("BatchNormalization");
  return n;
}

TEST(FoldCommittedModels, FoldedExportLoadsAndMatches) {
  const auto names = committed_models();
  ASSERT_FALSE(names.empty());
  const fs::path tmp =
      fs::temp_directory_path() / ("keel_fold_test_" + std::to_string(static_cast<long>(getpid())));
  fs::create_directories(tmp);
  for (const std::string& name : names) {
    SCOPED_TRACE(name);
    const fs::path dir = fs::path(KEEL_SOURCE_DIR) / "models" / name;
    auto graph = import_model_file((dir / "model.onnx").string());
    ASSERT_TRUE(graph.is_ok()) << graph.status().to_string();
    const int bn_before = count_bn(**graph);
    PassContext ctx;
    ctx.options.fold = true;
    ctx.options.runtime_fusions = false;
    ASSERT_TRUE(run_load_passes(**graph, ctx).is_ok());
    const int bn_after = count_bn(**graph);
    int bn_folds = 0;
    for (const FoldEvent& e : ctx.events) {
      bn_folds += e.folded && e.pass.rfind("fold_batchnorm", 0) == 0;
      EXPECT_NE(e.pass, "fuse_batchnorm_activation");
    }
    EXPECT_EQ(bn_before - bn_after, bn_folds);
    const std::string out = (tmp / (name + ".onnx")).string();
    ASSERT_TRUE(export_model_file(**graph, out).is_ok());

    auto original = Model::load_file((dir / "model.onnx").string(), options(false));
    auto folded = Model::load_file(out, options(false));
    ASSERT_TRUE(original.is_ok()) << original.status().to_string();
    ASSERT_TRUE(folded.is_ok()) << folded.status().to_string();
    EXPECT_EQ(count_bn((*folded)->graph()), bn_after);
    auto input = read_npy((dir / "inputs" / "input.npy").string());
    ASSERT_TRUE(input.is_ok()) << input.status().to_string();
    ASSERT_EQ((*original)->inputs().size(), 1u);
    const std::vector<NamedTensor> feeds = {{(*original)->inputs()[0].name, std::move(*input)}};
    auto want = run(*original, feeds);
    auto got = run(*folded, feeds);
    ASSERT_TRUE(want.is_ok()) << want.status().to_string();
    ASSERT_TRUE(got.is_ok()) << got.status().to_string();
    expect_close(*want, *got);
    std::printf("%s: %d BatchNormalization -> %d, %d folded\n", name.c_str(), bn_before, bn_after,
                bn_folds);
  }
  std::error_code ec;
  fs::remove_all(tmp, ec);
}

}  // namespace
}  // namespace keel::testing
