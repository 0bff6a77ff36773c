#include <gtest/gtest.h>

#include "support/pass_test_util.hpp"

namespace keel::testing {
namespace {

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

}  // namespace
}  // namespace keel::testing
