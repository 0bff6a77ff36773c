// fuse_activation (keel-only): activations after a remaining BatchNormalization, a Conv or a
// MatMul with constant B run in that node's kernel (with a MatMul's bias Add), and what may not
// fuse stays.
#include <gtest/gtest.h>

#include "support/pass_test_util.hpp"

namespace keel::testing {
namespace {

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

TEST(FuseBnActivation, TanhIsNotFused) {
  ModelBuilder b = concat_bn_act(111, "Tanh");
  const Pair p = {load(b, {}), load(b, options(true, false))};
  ASSERT_TRUE(p.folded && p.plain);
  expect_same_outputs(p);
  EXPECT_EQ(count_op(*p.folded, "Tanh"), 1);
}

}  // namespace
}  // namespace keel::testing
