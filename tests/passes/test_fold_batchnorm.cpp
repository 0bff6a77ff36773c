// fold_batchnorm (into the Conv, ConvTranspose, Gemm or MatMul before it, and into the Conv after
// it): for every pattern and every precondition, a positive case (the BatchNormalization
// disappears, the outputs match the unfolded model, the names survive, an event names both
// nodes) and a negative case (the node stays, the outputs still match, the skip reason names the
// failed precondition). Also: the committed models folded the way `keel fold` does, exported
// and loaded again.
#include <gtest/gtest.h>

#include "support/pass_test_util.hpp"

namespace keel::testing {
namespace {

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
  // var 0 and epsilon 0: division by zero. The model is refused at load, naming the node and
  // the channel (graph/validate.hpp), before any fold could clamp or skip it.
  Rng rng(81);
  ModelBuilder b;
  b.input("x", {-1, 3, 6, 6});  // dynamic: no plan at Session::create to catch it later
  add_conv(b, rng, "conv", "x", "c", {4, 3, 3, 3}, true);
  add_bn(b, rng, "bn", "c", "y", 4, 0.0f);
  b.output("y");
  b.proto()
      .mutable_graph()
      ->mutable_initializer(b.proto().graph().initializer_size() - 1)
      ->set_float_data(1, 0.0f);
  const std::string bytes = b.bytes();
  auto m = Model::load_bytes(bytes.data(), bytes.size());
  ASSERT_FALSE(m.is_ok());
  EXPECT_EQ(m.status().code(), StatusCode::kInvalidModel);
  EXPECT_NE(m.status().message().find("node 'bn' (BatchNormalization): var[1] + epsilon = 0 is "
                                      "not positive"),
            std::string::npos)
      << m.status().message();
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
