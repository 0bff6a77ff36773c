#include <gtest/gtest.h>

#include "support/pass_test_util.hpp"

namespace keel::testing {
namespace {

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

}  // namespace
}  // namespace keel::testing
