#include <gtest/gtest.h>

#include "support/pass_test_util.hpp"

namespace keel::testing {
namespace {

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

}  // namespace
}  // namespace keel::testing
