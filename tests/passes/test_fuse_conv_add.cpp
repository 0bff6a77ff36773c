#include <gtest/gtest.h>

#include "support/pass_test_util.hpp"

namespace keel::testing {
namespace {

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

}  // namespace
}  // namespace keel::testing
