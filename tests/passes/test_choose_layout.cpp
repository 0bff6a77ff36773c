// choose_layout on hand-built CNN fragments: with layout NHWC every model gives the outputs of
// the NCHW run (same names, shapes and values), the layout-aware nodes are marked NHWC, and
// only the expected conversions are inserted (one at an input of more than 4 channels, one
// before an op that needs NCHW, none between NHWC ops; a conv on at most 4 channels reads its
// NCHW input in place).
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <random>
#include <string>
#include <vector>

#include "graph/graph.hpp"
#include "graph/layout.hpp"
#include "keel/keel.hpp"
#include "support/model_builder.hpp"

namespace keel::testing {
namespace {

std::vector<float> uniform(std::mt19937& gen, int64_t n, float lo = -1.0f, float hi = 1.0f) {
  std::uniform_real_distribution<float> dist(lo, hi);
  std::vector<float> v(static_cast<size_t>(n));
  for (float& x : v) x = dist(gen);
  return v;
}

int64_t product(const std::vector<int64_t>& dims) {
  int64_t n = 1;
  for (int64_t d : dims) n *= d;
  return n;
}

struct Loaded {
  std::shared_ptr<const Model> model;
  std::vector<Tensor> outputs;
};

Loaded load_and_run(const std::string& bytes, LayoutOption layout, const Tensor& x) {
  ModelOptions options;
  options.layout = layout;
  auto model = Model::load_bytes(bytes.data(), bytes.size(), options);
  EXPECT_TRUE(model.is_ok()) << model.status().to_string();
  if (!model.is_ok()) return {};
  auto session = Session::create(*model, {});
  EXPECT_TRUE(session.is_ok()) << session.status().to_string();
  if (!session.is_ok()) return {};
  auto out = (*session)->run({{(*model)->inputs()[0].name, x}});
  EXPECT_TRUE(out.is_ok()) << out.status().to_string();
  if (!out.is_ok()) return {};
  return {*model, std::move(*out)};
}

int count_ops(const Model& m, const std::string& op) {
  int n = 0;
  for (const Node* node : m.graph().nodes()) n += onnx_op_type(*node) == op;
  return n;
}

// Convs that read an NCHW input in place (NodeDecisions::input_layout).
int count_strided_nchw_reads(const Model& m) {
  int n = 0;
  for (const Node* node : m.graph().nodes()) {
    n += node_input_layout(*node) == Layout::kNchw && node->decisions.has_input_layout;
  }
  return n;
}

int count_nhwc_nodes(const Model& m) {
  int n = 0;
  for (const Node* node : m.graph().nodes()) n += node_layout(*node) == Layout::kNhwc;
  return n;
}

// Runs `builder`'s model in both layouts on a random input of `dims`; the NHWC run must give
// the same outputs (shapes exactly, values within 1e-5 of each output's scale).
Loaded expect_same_outputs(ModelBuilder& builder, const std::vector<int64_t>& dims) {
  std::mt19937 gen(7);
  Tensor x = Tensor::from_vector(dims, uniform(gen, product(dims)));
  const std::string bytes = builder.bytes();
  Loaded nchw = load_and_run(bytes, LayoutOption::kNchw, x);
  Loaded nhwc = load_and_run(bytes, LayoutOption::kNhwc, x);
  EXPECT_EQ(nchw.outputs.size(), nhwc.outputs.size());
  for (size_t i = 0; i < std::min(nchw.outputs.size(), nhwc.outputs.size()); ++i) {
    const Tensor& a = nchw.outputs[i];
    const Tensor& b = nhwc.outputs[i];
    EXPECT_EQ(a.shape(), b.shape()) << "output " << i;
    if (a.shape() != b.shape()) continue;
    double scale = 0, err = 0;
    for (int64_t k = 0; k < a.numel(); ++k) {
      scale = std::max(scale, std::fabs(static_cast<double>(a.data_as<float>()[k])));
      err = std::max(err, std::fabs(static_cast<double>(a.data_as<float>()[k]) -
                                    static_cast<double>(b.data_as<float>()[k])));
    }
    EXPECT_LE(err, 1e-5 * std::max(scale, 1.0)) << "output " << i;
  }
  EXPECT_EQ(count_nhwc_nodes(*nchw.model), 0);
  return nhwc;
}

void conv(ModelBuilder& b, std::mt19937& gen, const std::string& in, const std::string& out,
          int64_t cin, int64_t cout, int64_t k, int64_t stride = 1, int64_t group = 1) {
  const std::vector<int64_t> w_dims = {cout, cin / group, k, k};
  b.initializer(out + "_w", w_dims, uniform(gen, product(w_dims), -0.5f, 0.5f));
  b.initializer(out + "_b", {cout}, uniform(gen, cout));
  auto& n = b.node("Conv", {in, out + "_w", out + "_b"}, {out}, out);
  set_attr(n, "pads", std::vector<int64_t>{k / 2, k / 2, k / 2, k / 2});
  set_attr(n, "strides", std::vector<int64_t>{stride, stride});
  if (group > 1) set_attr(n, "group", group);
}

// A residual block with pooling, a per-channel constant, a channel Concat and a classifier:
// the 3-channel graph input is transposed once (a caller's image is not read in place, see
// reads_nchw_in_place), one conversion before Flatten (Gemm needs the NCHW order).
TEST(ChooseLayout, ResidualBlockRunsNhwcBetweenTwoConversions) {
  std::mt19937 gen(1);
  ModelBuilder b;
  b.input("x", {1, 3, 11, 11});
  conv(b, gen, "x", "c1", 3, 8, 3);
  b.node("Relu", {"c1"}, {"r1"});
  auto& mp = b.node("MaxPool", {"r1"}, {"p1"});
  set_attr(mp, "kernel_shape", std::vector<int64_t>{3, 3});
  set_attr(mp, "strides", std::vector<int64_t>{2, 2});
  set_attr(mp, "pads", std::vector<int64_t>{1, 1, 1, 1});
  conv(b, gen, "p1", "c2", 8, 8, 1);
  b.node("Add", {"c2", "p1"}, {"sum"});
  b.initializer("scale", {8, 1, 1}, uniform(gen, 8));
  b.node("Mul", {"sum", "scale"}, {"scaled"});
  auto& cat = b.node("Concat", {"scaled", "p1"}, {"cat"});
  set_attr(cat, "axis", int64_t{1});
  b.node("GlobalAveragePool", {"cat"}, {"gap"});
  b.node("Flatten", {"gap"}, {"flat"});
  b.initializer("fc_w", {16, 5}, uniform(gen, 80));
  b.node("Gemm", {"flat", "fc_w"}, {"y"});
  b.output("y");
  Loaded nhwc = expect_same_outputs(b, {1, 3, 11, 11});
  ASSERT_TRUE(nhwc.model);
  EXPECT_EQ(count_ops(*nhwc.model, "Transpose"), 2);
  EXPECT_EQ(count_strided_nchw_reads(*nhwc.model), 0);
  // Conv x2, MaxPool, GlobalAveragePool (Relu fused into the first Conv's epilogue).
  EXPECT_EQ(count_nhwc_nodes(*nhwc.model), 4);
}

// An NHWC tensor that is also a graph output keeps its name and NCHW shape.
TEST(ChooseLayout, GraphOutputsStayNchw) {
  std::mt19937 gen(2);
  ModelBuilder b;
  b.input("x", {2, 4, 6, 5});
  conv(b, gen, "x", "c1", 4, 6, 3, 2);
  b.node("Sigmoid", {"c1"}, {"s1"});
  conv(b, gen, "s1", "c2", 6, 6, 3, 1, 3);
  b.output("s1");
  b.output("c2");
  Loaded nhwc = expect_same_outputs(b, {2, 4, 6, 5});
  ASSERT_TRUE(nhwc.model);
  EXPECT_EQ(nhwc.model->outputs()[0].name, "s1");
  EXPECT_EQ(nhwc.model->outputs()[1].name, "c2");
  EXPECT_EQ(count_ops(*nhwc.model, "Transpose"), 3);    // x to NHWC, s1 and c2 back to NCHW
  EXPECT_EQ(count_strided_nchw_reads(*nhwc.model), 0);  // x is a graph input
}

// A few-channel NCHW value that an op produced (x * x: an NCHW-only product of two graph
// inputs) read in place by both convs that read it; a Mul of it with an NHWC value still sees
// the right data.
TEST(ChooseLayout, FewChannelInputIsReadInPlaceByEveryConv) {
  std::mt19937 gen(4);
  ModelBuilder b;
  b.input("x", {1, 3, 9, 9});
  b.node("Mul", {"x", "x"}, {"ax"});
  // Its rank known (a value_info, as shape inference writes them): in place needs rank 4.
  onnx::ValueInfoProto* info = b.proto().mutable_graph()->add_value_info();
  info->set_name("ax");
  info->mutable_type()->mutable_tensor_type()->set_elem_type(onnx::TensorProto_DataType_FLOAT);
  for (int64_t d : {1, 3, 9, 9}) {
    info->mutable_type()->mutable_tensor_type()->mutable_shape()->add_dim()->set_dim_value(d);
  }
  conv(b, gen, "ax", "c1", 3, 3, 3);
  // A Mul, not an Add: an Add would become the conv's residual (passes/fuse_conv_add.cpp).
  b.node("Mul", {"c1", "ax"}, {"s"});
  conv(b, gen, "ax", "c2", 3, 5, 3, 2);
  b.output("s");
  b.output("c2");
  Loaded nhwc = expect_same_outputs(b, {1, 3, 9, 9});
  ASSERT_TRUE(nhwc.model);
  EXPECT_EQ(count_strided_nchw_reads(*nhwc.model), 2);
  EXPECT_EQ(count_ops(*nhwc.model, "Transpose"), 2);  // c1 for the Mul; c2 back
}

// Shape of an NHWC value is its storage's shape reordered (a Gather), not a transpose of it.
TEST(ChooseLayout, ShapeOfNhwcDataNeedsNoTranspose) {
  std::mt19937 gen(6);
  ModelBuilder b;
  b.input("x", {1, 3, 6, 7});
  conv(b, gen, "x", "c1", 3, 5, 3);
  conv(b, gen, "c1", "c2", 5, 5, 3);
  b.node("Shape", {"c1"}, {"c1_shape"});
  b.node("Reshape", {"c2", "c1_shape"}, {"y"});
  b.output("y");
  Loaded nhwc = expect_same_outputs(b, {1, 3, 6, 7});
  ASSERT_TRUE(nhwc.model);
  EXPECT_EQ(count_ops(*nhwc.model, "Transpose"), 2);  // x to NHWC, c2 for the Reshape
  EXPECT_EQ(count_ops(*nhwc.model, "Gather"), 1);
}

int count_perms(const Model& m, const std::vector<int64_t>& perm) {
  int n = 0;
  for (const Node* node : m.graph().nodes()) {
    auto p = node->attr_ints("perm", {});
    n += node->op_type == "Transpose" && p.is_ok() && *p == perm;
  }
  return n;
}

// ShuffleNet's channel shuffle as torch exports it (target shapes computed from Shape with a
// dynamic batch), then a channel split by Slice: all NHWC, the shuffle one transpose of the last
// two dims. A shape built from another tensor's dims is left to the NCHW fallback.
TEST(ChooseLayout, ChannelShuffleAndSliceStayNhwc) {
  for (bool own_dims : {true, false}) {
    SCOPED_TRACE(own_dims ? "shapes from x's dims" : "shapes from another tensor");
    std::mt19937 gen(8);
    ModelBuilder b;
    b.input("x", {1, 4, 6, 5});
    conv(b, gen, "x", "c1", 4, 8, 3);
    conv(b, gen, "x", "other", 4, 8, 1);
    const std::string src = own_dims ? "c1" : "other";
    b.initializer_i64("zero", {1}, {0});
    for (int64_t axis : {0, 2, 3}) {
      const std::string a = std::to_string(axis);
      b.initializer_i64("i" + a, {}, {axis});
      b.node("Shape", {src}, {"shape" + a});
      b.node("Gather", {"shape" + a, "i" + a}, {"dim" + a});
      b.node("Unsqueeze", {"dim" + a, "zero"}, {"u" + a});
    }
    b.initializer_i64("groups", {1}, {2});
    b.initializer_i64("per_group", {1}, {4});
    b.initializer_i64("minus_one", {1}, {-1});
    set_attr(b.node("Concat", {"u0", "groups", "per_group", "u2", "u3"}, {"s5"}), "axis",
             int64_t{0});
    set_attr(b.node("Concat", {"u0", "minus_one", "u2", "u3"}, {"s4"}), "axis", int64_t{0});
    b.node("Reshape", {"c1", "s5"}, {"split"});
    set_attr(b.node("Transpose", {"split"}, {"swapped"}), "perm",
             std::vector<int64_t>{0, 2, 1, 3, 4});
    b.node("Reshape", {"swapped", "s4"}, {"shuffled"});
    b.initializer_i64("starts", {1}, {4});
    b.initializer_i64("ends", {1}, {8});
    b.initializer_i64("axes", {1}, {-3});
    b.node("Slice", {"shuffled", "starts", "ends", "axes"}, {"half"});
    conv(b, gen, "half", "c2", 4, 3, 3);
    b.node("Add", {"c2", "c2"}, {"y"});
    b.output("y");
    Loaded nhwc = expect_same_outputs(b, {1, 4, 6, 5});
    ASSERT_TRUE(nhwc.model);
    if (own_dims) {
      EXPECT_EQ(count_perms(*nhwc.model, {0, 1, 2, 4, 3}), 1);  // the shuffle, on NHWC data
      EXPECT_EQ(count_ops(*nhwc.model, "Transpose"), 3);        // x in, y back to NCHW
    } else {
      EXPECT_EQ(count_perms(*nhwc.model, {0, 1, 2, 4, 3}), 0);
      EXPECT_GT(count_ops(*nhwc.model, "Transpose"), 3);
    }
  }
}

// Slice with its axes implied by the starts (opset 17 inputs, opset 9 attributes): NHWC.
TEST(ChooseLayout, SliceWithoutAxesStaysNhwc) {
  for (int opset : {17, 9}) {
    SCOPED_TRACE("opset " + std::to_string(opset));
    std::mt19937 gen(9);
    ModelBuilder b(opset);
    b.input("x", {1, 5, 7, 6});
    conv(b, gen, "x", "c1", 5, 8, 3);
    const std::vector<int64_t> starts = {0, 2, 1}, ends = {1, 7, 5};
    if (opset >= 10) {
      b.initializer_i64("starts", {3}, starts);
      b.initializer_i64("ends", {3}, ends);
      b.node("Slice", {"c1", "starts", "ends"}, {"part"});
    } else {
      auto& s = b.node("Slice", {"c1"}, {"part"});
      set_attr(s, "starts", starts);
      set_attr(s, "ends", ends);
    }
    conv(b, gen, "part", "c2", 5, 4, 1);
    b.output("c2");
    Loaded nhwc = expect_same_outputs(b, {1, 5, 7, 6});
    ASSERT_TRUE(nhwc.model);
    EXPECT_EQ(count_ops(*nhwc.model, "Transpose"), 2);  // x (5 channels) in, c2 out
  }
}

// Reduce over H, W (keepdims 1: stays NHWC; keepdims 0: [N, C] in both layouts), a
// squeeze-excitation gate, a channel Split and a depthwise Conv.
TEST(ChooseLayout, ReduceSplitAndGatesKeepNhwc) {
  std::mt19937 gen(3);
  ModelBuilder b;
  b.input("x", {1, 6, 7, 7});
  conv(b, gen, "x", "c1", 6, 6, 3, 1, 6);
  auto& mean = b.node("ReduceMean", {"c1"}, {"m"});
  set_attr(mean, "axes", std::vector<int64_t>{2, 3});
  conv(b, gen, "m", "se", 6, 6, 1);
  b.node("Sigmoid", {"se"}, {"gate"});
  b.node("Mul", {"c1", "gate"}, {"gated"});
  auto& split = b.node("Split", {"gated"}, {"s0", "s1"});
  set_attr(split, "axis", int64_t{1});
  b.node("Relu", {"s0"}, {"s0r"});
  auto& cat = b.node("Concat", {"s1", "s0r"}, {"shuffled"});
  set_attr(cat, "axis", int64_t{-3});
  conv(b, gen, "shuffled", "c3", 6, 4, 1);
  auto& flat = b.node("ReduceMax", {"c3"}, {"y"});
  set_attr(flat, "axes", std::vector<int64_t>{-1, 2});
  set_attr(flat, "keepdims", int64_t{0});
  b.output("y");
  Loaded nhwc = expect_same_outputs(b, {1, 6, 7, 7});
  ASSERT_TRUE(nhwc.model);
  EXPECT_EQ(count_ops(*nhwc.model, "Transpose"), 1);  // only the input (6 channels)
  EXPECT_EQ(count_strided_nchw_reads(*nhwc.model), 0);
}

// DenseNet's transition (a Pad of zeros before an AveragePool) and a reflect Pad that also pads
// channels: both stay NHWC with their pads permuted, from a constant input (opset 11+) or the
// attribute (opset < 11).
TEST(ChooseLayout, PadKeepsNhwc) {
  for (int opset : {17, 10}) {
    SCOPED_TRACE("opset " + std::to_string(opset));
    std::mt19937 gen(5);
    ModelBuilder b(opset);
    b.input("x", {1, 4, 8, 8});
    conv(b, gen, "x", "c1", 4, 6, 3);
    const std::vector<int64_t> zero_pads(8, 0), pads = {0, 1, 2, 0, 0, 2, 1, 3};
    auto pad_node = [&](const std::string& in, const std::string& out,
                        const std::vector<int64_t>& p) -> onnx::NodeProto& {
      if (opset >= 11) {
        b.initializer_i64(out + "_pads", {8}, p);
        return b.node("Pad", {in, out + "_pads"}, {out});
      }
      auto& n = b.node("Pad", {in}, {out});
      set_attr(n, "pads", p);
      return n;
    };
    pad_node("c1", "p0", zero_pads);
    auto& ap = b.node("AveragePool", {"p0"}, {"a"});
    set_attr(ap, "kernel_shape", std::vector<int64_t>{2, 2});
    set_attr(ap, "strides", std::vector<int64_t>{2, 2});
    set_attr(pad_node("a", "p1", pads), "mode", std::string("reflect"));
    conv(b, gen, "p1", "c2", 9, 5, 1);
    b.output("c2");
    Loaded nhwc = expect_same_outputs(b, {1, 4, 8, 8});
    ASSERT_TRUE(nhwc.model);
    EXPECT_EQ(count_ops(*nhwc.model, "Transpose"), 2);  // x to NHWC, the output to NCHW
  }
}

// ConvNeXt's channels-last LayerNorm of NCHW `in`: Transpose(0,2,3,1), then LayerNorm over C.
void channels_last_layernorm(ModelBuilder& b, std::mt19937& gen, const std::string& in,
                             const std::string& out, int64_t c) {
  auto& t = b.node("Transpose", {in}, {in + "_cl"});
  set_attr(t, "perm", std::vector<int64_t>{0, 2, 3, 1});
  b.initializer(out + "_g", {c}, uniform(gen, c));
  b.initializer(out + "_beta", {c}, uniform(gen, c));
  auto& ln = b.node("LayerNormalization", {in + "_cl", out + "_g", out + "_beta"}, {out});
  set_attr(ln, "axis", int64_t{-1});
}

// ConvNeXt's channels-last LayerNorm: Transpose(0,2,3,1) of NHWC data is the identity, and the
// Transpose back (0,3,1,2) feeding a Conv is read as the NHWC tensor it came from.
TEST(ChooseLayout, ChannelsLastTransposesCancel) {
  std::mt19937 gen(4);
  ModelBuilder b;
  b.input("x", {1, 8, 5, 5});
  conv(b, gen, "x", "c1", 8, 8, 7, 1, 8);
  channels_last_layernorm(b, gen, "c1", "n", 8);
  auto& t2 = b.node("Transpose", {"n"}, {"back"});
  set_attr(t2, "perm", std::vector<int64_t>{0, 3, 1, 2});
  conv(b, gen, "back", "y", 8, 4, 1);
  b.output("y");
  Loaded nhwc = expect_same_outputs(b, {1, 8, 5, 5});
  ASSERT_TRUE(nhwc.model);
  // The input and the output conversions; the model's own two became no-ops.
  EXPECT_EQ(count_ops(*nhwc.model, "Transpose"), 2);
}

// A whole ConvNeXt block: the Transpose back (0,3,1,2) feeds the layer scale and the residual
// Add, not a Conv: it becomes an Identity with NHWC output and everything stays NHWC.
TEST(ChooseLayout, ConvNextBlockStaysNhwc) {
  std::mt19937 gen(6);
  ModelBuilder b;
  b.input("x", {1, 8, 6, 6});
  conv(b, gen, "x", "c0", 8, 8, 1);
  conv(b, gen, "c0", "c1", 8, 8, 7, 1, 8);
  channels_last_layernorm(b, gen, "c1", "n", 8);
  b.initializer("w1", {8, 16}, uniform(gen, 128, -0.5f, 0.5f));
  b.node("MatMul", {"n", "w1"}, {"h"});
  b.node("Relu", {"h"}, {"hr"});
  b.initializer("w2", {16, 8}, uniform(gen, 128, -0.5f, 0.5f));
  b.node("MatMul", {"hr", "w2"}, {"o"});
  auto& t2 = b.node("Transpose", {"o"}, {"back"});
  set_attr(t2, "perm", std::vector<int64_t>{0, 3, 1, 2});
  b.initializer("layer_scale", {8, 1, 1}, uniform(gen, 8));
  b.node("Mul", {"back", "layer_scale"}, {"scaled"});
  b.node("Add", {"scaled", "c0"}, {"res"});
  conv(b, gen, "res", "y", 8, 4, 1);
  b.output("y");
  Loaded nhwc = expect_same_outputs(b, {1, 8, 6, 6});
  ASSERT_TRUE(nhwc.model);
  EXPECT_EQ(count_ops(*nhwc.model, "Transpose"), 2);  // the input and the output
}

// auto picks NHWC for a model with 2-D convolutions and leaves other models alone.
TEST(ChooseLayout, AutoChoosesNhwcForConvolutions) {
  std::mt19937 gen(5);
  ModelBuilder with_conv;
  with_conv.input("x", {1, 3, 6, 6});
  conv(with_conv, gen, "x", "y", 3, 4, 3);
  with_conv.output("y");
  ModelBuilder without;
  without.input("x", {1, 3, 6, 6});
  without.node("Relu", {"x"}, {"y"});
  without.output("y");
  ModelOptions options;
  options.layout = LayoutOption::kAuto;
  const std::string a = with_conv.bytes(), c = without.bytes();
  auto m1 = Model::load_bytes(a.data(), a.size(), options);
  auto m2 = Model::load_bytes(c.data(), c.size(), options);
  ASSERT_TRUE(m1.is_ok() && m2.is_ok());
  EXPECT_EQ(count_nhwc_nodes(**m1), 1);
  EXPECT_EQ(count_nhwc_nodes(**m2), 0);
}

}  // namespace
}  // namespace keel::testing
