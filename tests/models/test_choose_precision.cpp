// choose_precision (ModelOptions::precision = bf16): which nodes run bfloat16 and why the rest
// stay float32, on the committed ResNet-like model (a stem conv on the image, residual blocks,
// a classifier Gemm), and its outputs against the float32 run.
#include <gtest/gtest.h>

#include <string>

#include "keel/keel.hpp"
#include "model_test_util.hpp"

namespace keel::testing {
namespace {

const std::string kModel = std::string(KEEL_MODELS_DIR) + "/resnet_tiny";

std::shared_ptr<const Model> load(const ModelOptions& options) {
  auto model = Model::load_file(kModel + "/model.onnx", options);
  EXPECT_TRUE(model.is_ok()) << model.status().to_string();
  return model.is_ok() ? *model : nullptr;
}

TEST(ChoosePrecision, KeepsTheStemAndTheClassifierFloat32) {
  ModelOptions options;
  options.layout = LayoutOption::kNhwc;
  options.precision = Precision::kBf16;
  auto model = load(options);
  ASSERT_NE(model, nullptr);
  int bf16 = 0, stem = 0, last = 0;
  for (const PrecisionChoice& c : model->precision_choices()) {
    if (c.precision == Precision::kBf16) {
      ++bf16;
      EXPECT_TRUE(c.reason.empty()) << c.node;
      continue;
    }
    if (c.reason.find("first convolution") != std::string::npos) {
      ++stem;
      EXPECT_EQ(c.op_type, "Conv");
    }
    if (c.reason.find("last parametric layer") != std::string::npos) ++last;
  }
  EXPECT_GT(bf16, 0);
  EXPECT_EQ(stem, 1);
  EXPECT_GE(last, 1);

  // Against the float32 run: within the bfloat16 bound, and not the same numbers.
  ModelOptions fp32_options;
  fp32_options.layout = LayoutOption::kNhwc;
  auto fp32 = load(fp32_options);
  ASSERT_NE(fp32, nullptr);
  auto c = load_model_case(kModel, *fp32);
  ASSERT_TRUE(c.is_ok()) << c.status().to_string();
  auto s32 = Session::create(fp32, {});
  auto s16 = Session::create(model, {});
  ASSERT_TRUE(s32.is_ok() && s16.is_ok());
  auto y32 = (*s32)->run(c->inputs);
  auto y16 = (*s16)->run(c->inputs);
  ASSERT_TRUE(y32.is_ok() && y16.is_ok());
  const double err16 = relative_error((*y16)[0], c->references[0]);
  const double err32 = relative_error((*y32)[0], c->references[0]);
  EXPECT_LE(err16, 1e-2);
  EXPECT_GT(err16, err32);  // the bfloat16 kernels did run
}

TEST(ChoosePrecision, OperatorTypesKeptByRequest) {
  ModelOptions options;
  options.layout = LayoutOption::kNhwc;
  options.precision = Precision::kBf16;
  options.fp32_ops = {"Conv"};
  auto model = load(options);
  ASSERT_NE(model, nullptr);
  ASSERT_FALSE(model->precision_choices().empty());
  for (const PrecisionChoice& c : model->precision_choices()) {
    if (c.op_type == "Conv") {
      EXPECT_EQ(c.precision, Precision::kFp32) << c.node;
    }
  }
}

TEST(ChoosePrecision, Fp32DecidesNothing) {
  auto model = load(ModelOptions{});
  ASSERT_NE(model, nullptr);
  EXPECT_TRUE(model->precision_choices().empty());
}

TEST(ChoosePrecision, PrecisionNamesParse) {
  EXPECT_EQ(parse_precision("bf16").value(), Precision::kBf16);
  EXPECT_EQ(parse_precision("fp32").value(), Precision::kFp32);
  EXPECT_FALSE(parse_precision("fp16").is_ok());
}

}  // namespace
}  // namespace keel::testing
