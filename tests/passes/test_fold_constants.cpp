// fold_constants: pure functions of initializers become initializers at load, so the folds
// after it see through them (PyTorch shares identical Conv biases through Identity nodes).
// Positive cases (nodes gone, BatchNorms folded, outputs equal to the unfolded model) and
// negative ones (overridable initializers stay; a skip names what computes the value).
#include <gtest/gtest.h>

#include <cmath>
#include <random>
#include <string>
#include <vector>

#include "graph/graph.hpp"
#include "keel/keel.hpp"
#include "support/model_builder.hpp"

namespace keel::testing {
namespace {

std::vector<float> uniform(std::mt19937& gen, size_t n, float lo, float hi) {
  std::uniform_real_distribution<float> dist(lo, hi);
  std::vector<float> v(n);
  for (float& x : v) x = dist(gen);
  return v;
}

// Two 3x3 convs (4 -> 4 channels) that take one shared bias through an Identity each, as
// torch.onnx writes identical biases, each followed by a BatchNormalization.
ModelBuilder shared_bias_through_identity(bool bias_overridable) {
  std::mt19937 gen(7);
  ModelBuilder b;
  b.input("x", {1, 4, 6, 6});
  b.initializer("bias", {4}, uniform(gen, 4, -1, 1));
  if (bias_overridable) b.input("bias", {4});
  for (const std::string p : {"a", "b"}) {
    b.initializer(p + "_w", {4, 4, 3, 3}, uniform(gen, 144, -1, 1));
    b.node("Identity", {"bias"}, {p + "_bias"}, p + "_identity");
    auto& conv = b.node("Conv", {p == "a" ? "x" : "a_bn", p + "_w", p + "_bias"}, {p + "_conv"},
                        p + "_conv");
    set_attr(conv, "pads", std::vector<int64_t>{1, 1, 1, 1});
    b.initializer(p + "_scale", {4}, uniform(gen, 4, 0.5f, 1.5f));
    b.initializer(p + "_beta", {4}, uniform(gen, 4, -1, 1));
    b.initializer(p + "_mean", {4}, uniform(gen, 4, -1, 1));
    b.initializer(p + "_var", {4}, uniform(gen, 4, 0.5f, 2));
    b.node("BatchNormalization", {p + "_conv", p + "_scale", p + "_beta", p + "_mean", p + "_var"},
           {p + "_bn"}, p + "_bn");
  }
  b.output("b_bn");
  return b;
}

int count_op(const Model& m, const std::string& op) {
  int n = 0;
  for (const Node* node : m.graph().nodes()) n += onnx_op_type(*node) == op;
  return n;
}

std::vector<float> run(const std::shared_ptr<const Model>& m) {
  auto s = Session::create(m, {.threads = 1});
  EXPECT_TRUE(s.is_ok()) << s.status().to_string();
  std::mt19937 gen(11);
  std::vector<float> x = uniform(gen, 144, -1, 1);
  auto out = (*s)->run({{"x", Tensor::from_vector<float>({1, 4, 6, 6}, x)}});
  EXPECT_TRUE(out.is_ok()) << out.status().to_string();
  const Tensor& y = (*out)[0];
  return std::vector<float>(y.data_as<float>(), y.data_as<float>() + y.numel());
}

std::shared_ptr<const Model> load(const ModelBuilder& b, bool fold) {
  const std::string bytes = b.bytes();
  ModelOptions options;
  options.fold = fold;
  auto m = Model::load_bytes(bytes.data(), bytes.size(), options);
  EXPECT_TRUE(m.is_ok()) << m.status().to_string();
  return *m;
}

TEST(FoldConstants, SharedBiasThroughIdentityLetsBothBatchNormsFold) {
  const ModelBuilder b = shared_bias_through_identity(false);
  auto folded = load(b, true);
  EXPECT_EQ(count_op(*folded, "Identity"), 0);
  EXPECT_EQ(count_op(*folded, "BatchNormalization"), 0);
  int constant_events = 0;
  for (const FoldEvent& e : folded->fold_events()) {
    constant_events += e.folded && e.pass == "fold_constants";
  }
  EXPECT_EQ(constant_events, 2);
  const std::vector<float> want = run(load(b, false));
  const std::vector<float> got = run(folded);
  ASSERT_EQ(got.size(), want.size());
  double scale = 0;
  for (float v : want) scale = std::max(scale, std::fabs(double{v}));
  ASSERT_GT(scale, 0.1);
  for (size_t i = 0; i < got.size(); ++i) EXPECT_NEAR(got[i], want[i], 1e-5 * scale) << i;
}

TEST(FoldConstants, OverridableInitializerStaysAndTheSkipNamesItsProducer) {
  auto m = load(shared_bias_through_identity(true), true);
  EXPECT_EQ(count_op(*m, "Identity"), 2);
  EXPECT_EQ(count_op(*m, "BatchNormalization"), 2);
  bool named = false;
  for (const FoldEvent& e : m->fold_events()) {
    if (!e.folded &&
        e.reason.find("computed at run time by node 'a_identity' (Identity)") != std::string::npos)
      named = true;
  }
  EXPECT_TRUE(named);
}

// Cast, Reshape and Transpose of weights: the MatMul's B becomes one initializer.
TEST(FoldConstants, CastReshapeTransposeOfWeightsBecomeAnInitializer) {
  ModelBuilder b;
  b.input("x", {2, 6});
  b.initializer("w", {3, 6}, {1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16, 17, 18});
  b.initializer_i64("shape", {2}, {3, 6});
  auto& cast = b.node("Cast", {"w"}, {"w64"}, "cast");
  set_attr(cast, "to", int64_t{11});
  auto& back = b.node("Cast", {"w64"}, {"w32"}, "cast_back");
  set_attr(back, "to", int64_t{1});
  b.node("Reshape", {"w32", "shape"}, {"w2"}, "reshape");
  auto& t = b.node("Transpose", {"w2"}, {"wt"}, "transpose");
  set_attr(t, "perm", std::vector<int64_t>{1, 0});
  b.node("MatMul", {"x", "wt"}, {"y"}, "matmul");
  b.output("y");
  auto m = load(b, true);
  ASSERT_EQ(m->graph().nodes().size(), 1u);
  EXPECT_STREQ(onnx_op_type(*m->graph().nodes()[0]), "MatMul");
  auto s = Session::create(m, {.threads = 1});
  ASSERT_TRUE(s.is_ok()) << s.status().to_string();
  std::vector<float> x(12, 0.0f);
  x[0] = 1.0f;   // row 0 = e0: y[0] = column 0 of w^T = row 0 of w
  x[11] = 1.0f;  // row 1 = e5: y[1] = w[:, 5]
  auto out = (*s)->run({{"x", Tensor::from_vector<float>({2, 6}, x)}});
  ASSERT_TRUE(out.is_ok()) << out.status().to_string();
  const float* y = (*out)[0].data_as<float>();
  EXPECT_EQ(std::vector<float>(y, y + 6), (std::vector<float>{1, 7, 13, 6, 12, 18}));
}

// PyTorch's unoptimized dynamo export makes a Conv's zero bias as CastLike(0, input): the
// CastLike reads only the input's type, so it folds (as a Cast) and the BatchNorm after the
// Conv folds too; without a known type it stays, and the skip names it.
TEST(FoldConstants, CastLikeOfAConstantFoldsThroughTheOtherInputsType) {
  for (bool typed : {true, false}) {
    std::mt19937 gen(3);
    ModelBuilder b;
    b.input("x", {1, 4, 6, 6});
    b.initializer("zeros", {4}, {0, 0, 0, 0});
    b.initializer("w", {4, 4, 3, 3}, uniform(gen, 144, -1, 1));
    for (const char* p : {"scale", "beta", "mean"})
      b.initializer(p, {4}, uniform(gen, 4, 0.5f, 1.5f));
    b.initializer("var", {4}, uniform(gen, 4, 0.5f, 2));
    // Untyped: CastLike's "like" operand is an intermediate value with no declared type.
    b.node("Relu", {"x"}, {"rx"}, "relu");
    b.node("CastLike", {"zeros", typed ? "x" : "rx"}, {"bias"}, "castlike");
    auto& conv = b.node("Conv", {"rx", "w", "bias"}, {"c"}, "conv");
    set_attr(conv, "pads", std::vector<int64_t>{1, 1, 1, 1});
    b.node("BatchNormalization", {"c", "scale", "beta", "mean", "var"}, {"y"}, "bn");
    b.output("y");
    auto m = load(b, true);
    EXPECT_EQ(count_op(*m, "CastLike"), typed ? 0 : 1) << typed;
    EXPECT_EQ(count_op(*m, "BatchNormalization"), typed ? 0 : 1) << typed;
    if (!typed) {
      bool named = false;
      for (const FoldEvent& e : m->fold_events()) {
        named |= !e.folded && e.reason.find("'castlike' (CastLike)") != std::string::npos;
      }
      EXPECT_TRUE(named);
    }
    const std::vector<float> want = run(load(b, false)), got = run(m);
    ASSERT_EQ(got.size(), want.size());
    for (size_t i = 0; i < got.size(); ++i) EXPECT_NEAR(got[i], want[i], 1e-4) << i;
  }
}

}  // namespace
}  // namespace keel::testing
