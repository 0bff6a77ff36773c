// fold_conv_mul_add: per-channel Mul and Add after a Conv fold into its weights and bias;
// anything that is not provably per-channel stays.
#include <gtest/gtest.h>

#include "support/pass_test_util.hpp"

namespace keel::testing {
namespace {

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

}  // namespace
}  // namespace keel::testing
