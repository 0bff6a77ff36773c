// fuse_layernorm_pattern on hand-built decomposed LayerNorm / RMSNorm graphs: every accepted form
// fuses into one LayerNormalization (or RMSNormalization) that keeps the output name, records an
// event and matches the unfused model; every failed check leaves the subgraph as written (and
// the outputs still match). The fused model also exports and passes the ONNX checker.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <memory>
#include <random>
#include <string>
#include <vector>

#include "graph/graph.hpp"
#include "keel/keel.hpp"
#include "onnx/export_model.hpp"
#include "onnx/import_model.hpp"
#include "passes/pass.hpp"
#include "support/model_builder.hpp"

namespace keel::testing {
namespace {

constexpr double kRtol = 1e-5;  // of the output's scale

// ---------------------------------------------------------------------------------------------
// Building models

enum class Square { kPow, kMul };
enum class Divide { kDiv, kReciprocal };

struct NormSpec {
  int opset = 17;
  bool rms = false;
  std::vector<int64_t> x_dims = {2, 3, 8};
  bool x_rank_known = true;  // false: x comes from an Identity whose type is not declared
  std::vector<int64_t> axes = {-1};
  int64_t mean_keepdims = 1;  // < 0: no attribute
  int64_t var_keepdims = 1;   // < 0: no attribute
  Square square = Square::kPow;
  float exponent = 2.0f;
  Divide divide = Divide::kDiv;
  float eps = 1e-5f;
  bool eps_is_input = false;
  std::vector<int64_t> gamma_dims = {8};  // empty: no gamma
  bool no_gamma = false;
  std::vector<int64_t> beta_dims = {8};
  bool no_beta = false;
  std::string extra_output;  // an intermediate also listed as a graph output
  std::string extra_reader;  // an intermediate also read by an extra Identity node
};

int64_t product(const std::vector<int64_t>& dims) {
  int64_t n = 1;
  for (int64_t d : dims) n *= d;
  return n;
}

std::vector<float> uniform(std::mt19937& gen, int64_t n, float lo, float hi) {
  std::uniform_real_distribution<float> dist(lo, hi);
  std::vector<float> v(static_cast<size_t>(n));
  for (float& x : v) x = dist(gen);
  return v;
}

// ReduceMean `name` of `in` into `out` over the spec's axes (attribute before opset 18, input
// from 18 on).
void reduce_mean(ModelBuilder& b, const NormSpec& s, const std::string& name, const std::string& in,
                 const std::string& out, int64_t keepdims) {
  if (s.opset < 18) {
    auto& n = b.node("ReduceMean", {in}, {out}, name);
    set_attr(n, "axes", s.axes);
    if (keepdims >= 0) set_attr(n, "keepdims", keepdims);
    return;
  }
  b.initializer_i64(name + "_axes", {static_cast<int64_t>(s.axes.size())}, s.axes);
  auto& n = b.node("ReduceMean", {in, name + "_axes"}, {out}, name);
  if (keepdims >= 0) set_attr(n, "keepdims", keepdims);
}

// Nodes: [mean, sub,] sq, var, add_eps, sqrt, div | (recip, div), [mul_g], [add_b]; output "y".
ModelBuilder norm_model(const NormSpec& s, uint32_t seed = 1) {
  std::mt19937 gen(seed);
  ModelBuilder b(s.opset);
  b.input("x_in", s.x_dims);
  std::string x = "x_in";
  if (!s.x_rank_known) {
    b.node("Identity", {"x_in"}, {"x"}, "ident");
    x = "x";
  }
  std::string d = x;
  if (!s.rms) {
    reduce_mean(b, s, "mean", x, "m", s.mean_keepdims);
    b.node("Sub", {x, "m"}, {"d"}, "sub");
    d = "d";
  }
  if (s.square == Square::kPow) {
    b.initializer("two", {}, {s.exponent});
    b.node("Pow", {d, "two"}, {"sq"}, "sq");
  } else {
    b.node("Mul", {d, d}, {"sq"}, "sq");
  }
  reduce_mean(b, s, "var", "sq", "v", s.var_keepdims);
  if (s.eps_is_input) {
    b.input("eps", {});
  } else {
    b.initializer("eps", {}, {s.eps});
  }
  b.node("Add", {"v", "eps"}, {"ve"}, "add_eps");
  b.node("Sqrt", {"ve"}, {"std"}, "sqrt");
  std::string last = "div";
  if (s.divide == Divide::kDiv) {
    b.node("Div", {d, "std"}, {"n"}, "div");
  } else {
    b.node("Reciprocal", {"std"}, {"r"}, "recip");
    b.node("Mul", {"r", d}, {"n"}, "div");
  }
  std::string out = "n";
  if (!s.no_gamma) {
    b.initializer("gamma", s.gamma_dims, uniform(gen, product(s.gamma_dims), 0.5f, 1.5f));
    b.node("Mul", {out, "gamma"}, {"g"}, "mul_g");
    out = "g";
    last = "mul_g";
  }
  if (!s.rms && !s.no_beta) {
    b.initializer("beta", s.beta_dims, uniform(gen, product(s.beta_dims), -1.0f, 1.0f));
    b.node("Add", {"beta", out}, {"gb"}, "add_b");
    out = "gb";
    last = "add_b";
  }
  b.node("Identity", {out}, {"y"}, "out");
  b.output("y");
  if (!s.extra_output.empty()) b.output(s.extra_output);
  if (!s.extra_reader.empty()) {
    b.node("Neg", {s.extra_reader}, {"extra"}, "extra_reader");
    b.output("extra");
  }
  return b;
}

// The name of the last node of the pattern (the fused node takes it).
std::string last_node(const NormSpec& s) {
  if (!s.rms && !s.no_beta) return "add_b";
  if (!s.no_gamma) return "mul_g";
  return "div";
}

// ---------------------------------------------------------------------------------------------
// Loading, running, comparing

ModelOptions options(bool fold, bool runtime_fusions) {
  ModelOptions o;
  o.fold = fold;
  o.runtime_fusions = runtime_fusions;
  return o;
}

std::shared_ptr<const Model> load(const std::string& bytes, const ModelOptions& opts) {
  auto m = Model::load_bytes(bytes.data(), bytes.size(), opts);
  EXPECT_TRUE(m.is_ok()) << m.status().to_string();
  return m.is_ok() ? *m : nullptr;
}

// x uniform in [offset - 1, offset + 1]; a runtime eps gets 1e-3.
std::vector<NamedTensor> feeds(const Model& m, float offset, uint32_t seed) {
  std::mt19937 gen(seed);
  std::vector<NamedTensor> out;
  for (const IoInfo& in : m.inputs()) {
    Tensor t = Tensor::allocate(DataType::kFloat32, in.shape).value();
    const auto v = in.name == "eps" ? std::vector<float>(static_cast<size_t>(t.numel()), 1e-3f)
                                    : uniform(gen, t.numel(), offset - 1.0f, offset + 1.0f);
    std::copy(v.begin(), v.end(), t.data_as<float>());
    out.push_back({in.name, std::move(t)});
  }
  return out;
}

Result<std::vector<Tensor>> run(const std::shared_ptr<const Model>& m,
                                const std::vector<NamedTensor>& in) {
  KEEL_ASSIGN_OR_RETURN(auto session, Session::create(m, {}));
  return session->run(in);
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
    if (std::isnan(a) && std::isnan(b)) continue;  // both NaN (a negative mean of cubes)
    const double diff = std::fabs(a - b);
    max_abs = std::isnan(diff) ? INFINITY : std::max(max_abs, diff);
  }
  return scale > 0 ? max_abs / scale : max_abs;
}

void expect_same_outputs(const std::shared_ptr<const Model>& want_model,
                         const std::shared_ptr<const Model>& got_model) {
  ASSERT_TRUE(want_model && got_model);
  ASSERT_EQ(want_model->outputs().size(), got_model->outputs().size());
  for (size_t i = 0; i < want_model->outputs().size(); ++i) {
    EXPECT_EQ(want_model->outputs()[i].name, got_model->outputs()[i].name);
  }
  uint32_t seed = 7;
  for (float offset : {0.0f, 10.0f, 100.0f}) {
    SCOPED_TRACE("input offset " + std::to_string(offset));
    const auto in = feeds(*want_model, offset, seed++);
    auto want = run(want_model, in);
    auto got = run(got_model, in);
    ASSERT_TRUE(want.is_ok()) << want.status().to_string();
    ASSERT_TRUE(got.is_ok()) << got.status().to_string();
    ASSERT_EQ(want->size(), got->size());
    for (size_t i = 0; i < want->size(); ++i) {
      EXPECT_LE(rel_error((*want)[i], (*got)[i]), kRtol) << "output " << i;
    }
  }
}

int count_op(const Model& m, const std::string& op) {
  int n = 0;
  for (const Node* node : m.graph().nodes()) n += onnx_op_type(*node) == op;
  return n;
}

std::string describe(const Model& m) {
  std::string s = "ops:";
  for (const Node* node : m.graph().nodes()) s += " " + node->op_type;
  s += "\nevents:\n";
  for (const FoldEvent& e : m.fold_events()) {
    s += std::string(e.folded ? "  fold " : "  skip ") + e.pass + " " + e.target + " <- " +
         e.source + ": " + e.reason + "\n";
  }
  return s;
}

const FoldEvent* fuse_event(const Model& m) {
  for (const FoldEvent& e : m.fold_events()) {
    if (e.pass == "fuse_layernorm_pattern") return &e;
  }
  return nullptr;
}

// The spec fuses: one LayerNormalization (or RMSNormalization) node named after the last node
// of the pattern, producing the final value; no ReduceMean left; the event; same outputs.
void expect_fused(const NormSpec& s) {
  const std::string bytes = norm_model(s).bytes();
  auto fused = load(bytes, {});
  auto plain = load(bytes, options(false, false));
  ASSERT_TRUE(fused && plain);
  const std::string op = s.rms ? "RMSNormalization" : "LayerNormalization";
  EXPECT_EQ(count_op(*fused, "ReduceMean"), 0) << describe(*fused);
  EXPECT_EQ(count_op(*fused, op), 1) << describe(*fused);
  EXPECT_EQ(count_op(*plain, op), 0);
  const FoldEvent* e = fuse_event(*fused);
  ASSERT_NE(e, nullptr) << describe(*fused);
  EXPECT_TRUE(e->folded);
  EXPECT_EQ(e->target, last_node(s));
  EXPECT_EQ(e->source, s.rms ? "var" : "mean");
  const std::string prefix = std::string("decomposed ") + (s.rms ? "RMSNorm (" : "LayerNorm (");
  EXPECT_EQ(e->reason.rfind(prefix, 0), 0u) << e->reason;
  EXPECT_NE(e->reason.find("replaced by " + op), std::string::npos) << e->reason;
  const Node* node = nullptr;
  for (const Node* n : fused->graph().nodes()) {
    if (onnx_op_type(*n) == op) node = n;
  }
  ASSERT_NE(node, nullptr);
  EXPECT_EQ(node->name, last_node(s));
  ASSERT_TRUE(node->has_output(0));
  const std::string final_value = s.rms         ? (s.no_gamma ? "n" : "g")
                                  : !s.no_beta  ? "gb"
                                  : !s.no_gamma ? "g"
                                                : "n";
  EXPECT_EQ(node->outputs[0]->name, final_value);
  EXPECT_EQ(node->inputs[0]->name, s.x_rank_known ? "x_in" : "x");
  EXPECT_EQ(node->has_input(2), !s.rms && !s.no_beta);
  auto eps = node->attr_float("epsilon", -1.0f);
  ASSERT_TRUE(eps.is_ok());
  EXPECT_EQ(*eps, s.eps);
  auto axis = node->attr_int("axis", 0);
  ASSERT_TRUE(axis.is_ok());
  EXPECT_EQ(*axis, -static_cast<int64_t>(s.axes.size()));
  expect_same_outputs(plain, fused);
  // Runs with folding only: with fold off (runtime fusions on) the subgraph stays.
  auto unfolded = load(bytes, options(false, true));
  ASSERT_TRUE(unfolded);
  EXPECT_EQ(count_op(*unfolded, op), 0);
}

// The spec does not fuse: the ReduceMeans stay, no event, same outputs.
void expect_kept(const NormSpec& s) {
  const std::string bytes = norm_model(s).bytes();
  auto fused = load(bytes, {});
  auto plain = load(bytes, options(false, false));
  ASSERT_TRUE(fused && plain);
  EXPECT_EQ(count_op(*fused, "ReduceMean"), s.rms ? 1 : 2) << describe(*fused);
  EXPECT_EQ(count_op(*fused, "LayerNormalization"), 0) << describe(*fused);
  EXPECT_EQ(count_op(*fused, "RMSNormalization"), 0) << describe(*fused);
  EXPECT_EQ(fuse_event(*fused), nullptr) << describe(*fused);
  expect_same_outputs(plain, fused);
}

// ---------------------------------------------------------------------------------------------
// LayerNorm: accepted forms

TEST(FuseLayerNorm, Opset17AxesAttribute) { expect_fused({}); }

TEST(FuseLayerNorm, Opset18AxesInput) {
  NormSpec s;
  s.opset = 18;
  expect_fused(s);
}

TEST(FuseLayerNorm, MulSquareForm) {
  for (int opset : {17, 18}) {
    NormSpec s;
    s.opset = opset;
    s.square = Square::kMul;
    expect_fused(s);
  }
}

TEST(FuseLayerNorm, ReciprocalForm) {
  for (int opset : {17, 18}) {
    NormSpec s;
    s.opset = opset;
    s.divide = Divide::kReciprocal;
    expect_fused(s);
  }
}

TEST(FuseLayerNorm, MulSquareAndReciprocal) {
  NormSpec s;
  s.square = Square::kMul;
  s.divide = Divide::kReciprocal;
  s.eps = 1e-6f;
  expect_fused(s);
}

TEST(FuseLayerNorm, TwoTrailingAxes) {
  for (const auto& axes :
       {std::vector<int64_t>{-2, -1}, std::vector<int64_t>{-1, -2}, std::vector<int64_t>{1, 2}}) {
    NormSpec s;
    s.axes = axes;
    s.gamma_dims = {3, 8};
    s.beta_dims = {1, 3, 8};
    expect_fused(s);
  }
}

TEST(FuseLayerNorm, PositiveAxesWithKnownRank) {
  NormSpec s;
  s.axes = {2};
  s.opset = 18;
  expect_fused(s);
}

TEST(FuseLayerNorm, NegativeAxesWithUnknownRank) {
  NormSpec s;
  s.x_rank_known = false;
  expect_fused(s);
}

TEST(FuseLayerNorm, DefaultKeepdims) {
  NormSpec s;
  s.mean_keepdims = -1;
  s.var_keepdims = -1;
  expect_fused(s);
}

TEST(FuseLayerNorm, AffineVariants) {
  {
    SCOPED_TRACE("no gamma, no beta");
    NormSpec s;
    s.no_gamma = true;
    s.no_beta = true;
    expect_fused(s);
  }
  {
    SCOPED_TRACE("gamma only");
    NormSpec s;
    s.no_beta = true;
    expect_fused(s);
  }
  {
    SCOPED_TRACE("gamma with leading 1s");
    NormSpec s;
    s.gamma_dims = {1, 1, 8};
    s.beta_dims = {1, 8};
    expect_fused(s);
  }
}

TEST(FuseLayerNorm, GammaTooWideStaysOutside) {
  // gamma [3, 8] varies along an axis that is not normalized: LayerNorm fuses, the Mul and Add
  // stay after it.
  NormSpec s;
  s.gamma_dims = {3, 8};
  const std::string bytes = norm_model(s).bytes();
  auto fused = load(bytes, {});
  auto plain = load(bytes, options(false, false));
  ASSERT_TRUE(fused && plain);
  EXPECT_EQ(count_op(*fused, "LayerNormalization"), 1) << describe(*fused);
  EXPECT_EQ(count_op(*fused, "ReduceMean"), 0);
  EXPECT_EQ(count_op(*fused, "Mul"), 1);
  const FoldEvent* e = fuse_event(*fused);
  ASSERT_NE(e, nullptr);
  EXPECT_EQ(e->target, "div");
  expect_same_outputs(plain, fused);
}

// ---------------------------------------------------------------------------------------------
// LayerNorm: each failed check leaves the subgraph

TEST(FuseLayerNormKept, AxesNotTrailing) {
  for (int opset : {17, 18}) {
    NormSpec s;
    s.opset = opset;
    s.axes = {1};
    s.gamma_dims = {1, 1};
    s.beta_dims = {1, 1};
    expect_kept(s);
  }
}

TEST(FuseLayerNormKept, AxesWithAGap) {
  NormSpec s;
  s.x_dims = {2, 3, 4, 8};
  s.axes = {-3, -1};
  s.gamma_dims = {8};
  expect_kept(s);
}

TEST(FuseLayerNormKept, PositiveAxesWithUnknownRank) {
  NormSpec s;
  s.x_rank_known = false;
  s.axes = {2};
  expect_kept(s);
}

TEST(FuseLayerNormKept, KeepdimsZero) {
  // x [8, 8]: the mean without kept dims still broadcasts (along the other axis).
  NormSpec s;
  s.x_dims = {8, 8};
  s.mean_keepdims = 0;
  expect_kept(s);
  s.mean_keepdims = 1;
  s.var_keepdims = 0;
  expect_kept(s);
}

TEST(FuseLayerNormKept, ExponentThree) {
  NormSpec s;
  s.exponent = 3.0f;
  expect_kept(s);
}

TEST(FuseLayerNormKept, EpsNotConstant) {
  NormSpec s;
  s.eps_is_input = true;
  expect_kept(s);
}

TEST(FuseLayerNormKept, EpsNotPositive) {
  NormSpec s;
  s.eps = 0.0f;
  expect_kept(s);
}

TEST(FuseLayerNormKept, IntermediateWithAnExtraConsumer) {
  for (const std::string v : {"m", "d", "sq", "v", "ve", "std", "n"}) {
    SCOPED_TRACE(v);
    NormSpec s;
    s.extra_reader = v;
    if (v == "n") {
      // The Mul(gamma) and Add(beta) cannot be absorbed, but the division output is the end of
      // a plain LayerNorm: it fuses without the affine part.
      const std::string bytes = norm_model(s).bytes();
      auto fused = load(bytes, {});
      auto plain = load(bytes, options(false, false));
      ASSERT_TRUE(fused && plain);
      EXPECT_EQ(count_op(*fused, "LayerNormalization"), 1) << describe(*fused);
      EXPECT_EQ(count_op(*fused, "Mul"), 1);
      EXPECT_EQ(count_op(*fused, "Add"), 1);
      expect_same_outputs(plain, fused);
      continue;
    }
    expect_kept(s);
  }
}

TEST(FuseLayerNormKept, IntermediateIsAGraphOutput) {
  for (const std::string v : {"d", "v", "std"}) {
    SCOPED_TRACE(v);
    NormSpec s;
    s.extra_output = v;
    expect_kept(s);
  }
}

TEST(FuseLayerNormKept, GammaOfWrongShape) {
  // [1, 3, 1]: broadcasts along a non-normalized axis; rank 4 on a rank 3 x: raises the rank.
  for (const auto& dims : {std::vector<int64_t>{3, 1}, std::vector<int64_t>{1, 1, 1, 8}}) {
    NormSpec s;
    s.gamma_dims = dims;
    s.no_beta = true;
    const std::string bytes = norm_model(s).bytes();
    auto fused = load(bytes, {});
    auto plain = load(bytes, options(false, false));
    ASSERT_TRUE(fused && plain);
    // The normalization itself fuses; the Mul by gamma stays after it.
    EXPECT_EQ(count_op(*fused, "Mul"), 1) << describe(*fused);
    const FoldEvent* e = fuse_event(*fused);
    ASSERT_NE(e, nullptr);
    EXPECT_EQ(e->target, "div");
    expect_same_outputs(plain, fused);
  }
}

TEST(FuseLayerNormKept, OpsetBefore17) {
  NormSpec s;
  s.opset = 13;
  expect_kept(s);
}

// ---------------------------------------------------------------------------------------------
// RMSNorm

TEST(FuseRmsNorm, Opset23) {
  NormSpec s;
  s.rms = true;
  s.opset = 23;
  expect_fused(s);
  s.square = Square::kMul;
  s.divide = Divide::kReciprocal;
  expect_fused(s);
  s.no_gamma = true;
  expect_fused(s);
}

TEST(FuseRmsNormKept, Opset17HasNoRmsNormalization) {
  for (int opset : {17, 18, 22}) {
    NormSpec s;
    s.rms = true;
    s.opset = opset;
    expect_kept(s);
  }
}

TEST(FuseRmsNormKept, ExponentThreeAtOpset23) {
  NormSpec s;
  s.rms = true;
  s.opset = 23;
  s.exponent = 3.0f;
  expect_kept(s);
}

TEST(FuseLayerNorm, LayerNormAtOpset23IsNotSplitIntoRmsNorm) {
  NormSpec s;
  s.opset = 23;
  expect_fused(s);
}

// ---------------------------------------------------------------------------------------------
// `keel fold`: fused without runtime fusions, exported, checked, loaded again

TEST(FuseLayerNormExport, FoldedModelPassesTheCheckerAndMatches) {
  for (int opset : {17, 18}) {
    SCOPED_TRACE("opset " + std::to_string(opset));
    NormSpec s;
    s.opset = opset;
    s.gamma_dims = {1, 8};
    ModelBuilder b = norm_model(s);
    // The ONNX checker wants the shape of every graph output.
    auto* y_shape = b.proto()
                        .mutable_graph()
                        ->mutable_output(0)
                        ->mutable_type()
                        ->mutable_tensor_type()
                        ->mutable_shape();
    for (int64_t dim : s.x_dims) y_shape->add_dim()->set_dim_value(dim);
    const std::string bytes = b.bytes();
    auto graph = import_model_bytes(bytes.data(), bytes.size(), {});
    ASSERT_TRUE(graph.is_ok()) << graph.status().to_string();
    PassContext ctx;
    ctx.options.fold = true;
    ctx.options.runtime_fusions = false;
    ASSERT_TRUE(run_load_passes(**graph, ctx).is_ok());
    int fused = 0;
    for (const FoldEvent& e : ctx.events) fused += e.pass == "fuse_layernorm_pattern";
    EXPECT_EQ(fused, 1);
    auto exported = export_model_bytes(**graph);
    ASSERT_TRUE(exported.is_ok()) << exported.status().to_string();
    // The system checker knows opsets <= 17: opset 18 is reported as not checkable.
    Status checked = check_with_onnx_checker(*exported);
    if (opset <= 17) {
      EXPECT_TRUE(checked.is_ok()) << checked.to_string();
    } else {
      EXPECT_EQ(checked.code(), StatusCode::kUnsupported) << checked.to_string();
    }
    auto reloaded = load(*exported, options(false, false));
    ASSERT_TRUE(reloaded);
    EXPECT_EQ(count_op(*reloaded, "LayerNormalization"), 1);
    EXPECT_EQ(count_op(*reloaded, "ReduceMean"), 0);
    expect_same_outputs(load(bytes, options(false, false)), reloaded);
  }
}

}  // namespace
}  // namespace keel::testing
