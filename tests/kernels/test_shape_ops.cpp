// Reshape, Flatten, Squeeze, Unsqueeze, Identity, Dropout, Shape, Size, Expand,
// ConstantOfShape, Range.
#include <gtest/gtest.h>

#include <cstring>
#include <random>

#include "support/op_runner.hpp"
#include "support/tolerance.hpp"

namespace keel {
namespace {

using testing::attr_float;
using testing::attr_int;
using testing::attr_ints;
using testing::OpCall;
using testing::run_op;

Tensor iota_f32(Shape shape) {
  std::vector<float> v(static_cast<size_t>(numel(shape)));
  for (size_t i = 0; i < v.size(); ++i) v[i] = static_cast<float>(i) + 1.0f;
  return Tensor::from_vector<float>(std::move(shape), v);
}

Tensor ints(std::vector<int64_t> v) {
  const auto n = static_cast<int64_t>(v.size());
  return Tensor::from_vector<int64_t>({n}, v);
}

// std::vector<bool> has no data(): bool tensors are built from bytes.
Tensor bools(Shape shape, std::vector<uint8_t> v) {
  return Tensor::from_bytes(DataType::kBool, std::move(shape), v.data(), v.size()).value();
}

std::vector<int64_t> values_i64(const Tensor& t) {
  return {t.data_as<int64_t>(), t.data_as<int64_t>() + t.numel()};
}

Result<std::vector<Tensor>> run1(const std::string& op, std::vector<testing::OpInput> inputs,
                                 std::map<std::string, Attribute> attrs = {}, int opset = 17,
                                 int outputs = 1) {
  OpCall c;
  c.op_type = op;
  c.opset = opset;
  c.inputs = std::move(inputs);
  c.attributes = std::move(attrs);
  c.num_outputs = outputs;
  return run_op(c);
}

TEST(Reshape, ZeroCopiesTheInputDimAndMinusOneIsInferred) {
  auto out = run1("Reshape", {{iota_f32({2, 3, 4}), false}, {ints({0, -1, 2}), true}});
  ASSERT_TRUE(out.is_ok()) << out.status().to_string();
  EXPECT_EQ((*out)[0].shape(), (Shape{2, 6, 2}));
  EXPECT_EQ((*out)[0].data_as<float>()[23], 24.0f);
}

TEST(Reshape, AllowzeroKeepsZeroDims) {
  auto in = Tensor::allocate(DataType::kFloat32, {0, 3, 4}).value();
  auto out =
      run1("Reshape", {{in, false}, {ints({3, 4, 0}), true}}, {{"allowzero", attr_int(1)}}, 14);
  ASSERT_TRUE(out.is_ok()) << out.status().to_string();
  EXPECT_EQ((*out)[0].shape(), (Shape{3, 4, 0}));
}

TEST(Reshape, WorksOnUint8AndInt64) {
  auto u8 = Tensor::from_vector<uint8_t>({2, 2}, {1, 2, 3, 4});
  auto out = run1("Reshape", {{u8, false}, {ints({4}), true}});
  ASSERT_TRUE(out.is_ok());
  EXPECT_EQ((*out)[0].dtype(), DataType::kUint8);
  EXPECT_EQ((*out)[0].data_as<uint8_t>()[3], 4);
  auto i64 = Tensor::from_vector<int64_t>({4}, {5, 6, 7, 8});
  out = run1("Reshape", {{i64, true}, {ints({2, -1}), true}});
  ASSERT_TRUE(out.is_ok());
  EXPECT_EQ(values_i64((*out)[0]), (std::vector<int64_t>{5, 6, 7, 8}));
}

TEST(Reshape, OldOpsetReadsTheShapeAttribute) {
  auto out = run1("Reshape", {{iota_f32({2, 3}), false}}, {{"shape", attr_ints({3, 2})}}, 4);
  ASSERT_TRUE(out.is_ok()) << out.status().to_string();
  EXPECT_EQ((*out)[0].shape(), (Shape{3, 2}));
}

TEST(Reshape, RejectsBadShapes) {
  const Tensor x = iota_f32({2, 3, 4});
  EXPECT_EQ(run1("Reshape", {{x, false}, {ints({-1, -1}), true}}).status().code(),
            StatusCode::kInvalidModel);
  EXPECT_EQ(run1("Reshape", {{x, false}, {ints({5, -1}), true}}).status().code(),
            StatusCode::kInvalidModel);
  EXPECT_EQ(run1("Reshape", {{x, false}, {ints({7, 3}), true}}).status().code(),
            StatusCode::kInvalidModel);
  EXPECT_EQ(run1("Reshape", {{x, false}, {ints({2, -3, 4}), true}}).status().code(),
            StatusCode::kInvalidModel);
  EXPECT_EQ(run1("Reshape", {{x, false}, {ints({0, 0, 0, 0}), true}}).status().code(),
            StatusCode::kInvalidModel);
  EXPECT_EQ(run1("Reshape", {{x, false}, {ints({0, -1}), true}}, {{"allowzero", attr_int(1)}}, 14)
                .status()
                .code(),
            StatusCode::kInvalidModel);
}

TEST(Reshape, UnknownShapeValueIsReportedAsUnsupported) {
  auto out = run1("Reshape", {{iota_f32({2, 3}), false}, {ints({6}), false}});
  ASSERT_FALSE(out.is_ok());
  EXPECT_EQ(out.status().code(), StatusCode::kUnsupported);
  EXPECT_NE(out.status().message().find("must be known"), std::string::npos);
}

TEST(Flatten, NegativeAxisAndAxisZero) {
  auto out = run1("Flatten", {{iota_f32({2, 3, 4, 5}), false}}, {{"axis", attr_int(-3)}}, 13);
  ASSERT_TRUE(out.is_ok());
  EXPECT_EQ((*out)[0].shape(), (Shape{2, 60}));
  out = run1("Flatten", {{iota_f32({2, 3, 4, 5}), false}}, {{"axis", attr_int(0)}}, 13);
  ASSERT_TRUE(out.is_ok());
  EXPECT_EQ((*out)[0].shape(), (Shape{1, 120}));
  out = run1("Flatten", {{iota_f32({2, 3}), false}}, {{"axis", attr_int(3)}}, 13);
  EXPECT_EQ(out.status().code(), StatusCode::kInvalidModel);
  out = run1("Flatten", {{iota_f32({2, 3}), false}}, {{"axis", attr_int(-1)}}, 9);
  EXPECT_EQ(out.status().code(), StatusCode::kInvalidModel);
}

TEST(Squeeze, AxesInputAttributeAndDefault) {
  auto out = run1("Squeeze", {{iota_f32({1, 3, 1, 5}), false}, {ints({-2}), true}}, {}, 13);
  ASSERT_TRUE(out.is_ok());
  EXPECT_EQ((*out)[0].shape(), (Shape{1, 3, 5}));
  out = run1("Squeeze", {{iota_f32({1, 3, 1, 5}), false}}, {{"axes", attr_ints({0})}}, 11);
  ASSERT_TRUE(out.is_ok());
  EXPECT_EQ((*out)[0].shape(), (Shape{3, 1, 5}));
  out = run1("Squeeze", {{iota_f32({1, 3, 1, 5}), false}}, {}, 13);
  ASSERT_TRUE(out.is_ok());
  EXPECT_EQ((*out)[0].shape(), (Shape{3, 5}));
}

TEST(Squeeze, RejectsANonUnitAxisAndRepeats) {
  EXPECT_EQ(run1("Squeeze", {{iota_f32({1, 3}), false}, {ints({1}), true}}, {}, 13).status().code(),
            StatusCode::kInvalidModel);
  EXPECT_EQ(
      run1("Squeeze", {{iota_f32({1, 3}), false}, {ints({0, -2}), true}}, {}, 13).status().code(),
      StatusCode::kInvalidModel);
  EXPECT_EQ(run1("Squeeze", {{iota_f32({1, 3}), false}, {ints({2}), true}}, {}, 13).status().code(),
            StatusCode::kInvalidModel);
}

TEST(Unsqueeze, UnsortedAndNegativeAxes) {
  auto out = run1("Unsqueeze", {{iota_f32({3, 4, 5}), false}, {ints({5, 4, 2}), true}}, {}, 13);
  ASSERT_TRUE(out.is_ok());
  EXPECT_EQ((*out)[0].shape(), (Shape{3, 4, 1, 5, 1, 1}));
  out = run1("Unsqueeze", {{iota_f32({3}), false}}, {{"axes", attr_ints({-1, 0})}}, 11);
  ASSERT_TRUE(out.is_ok());
  EXPECT_EQ((*out)[0].shape(), (Shape{1, 3, 1}));
  out = run1("Unsqueeze", {{Tensor::scalar<int64_t>(7), true}, {ints({0}), true}}, {}, 13);
  ASSERT_TRUE(out.is_ok());
  EXPECT_EQ((*out)[0].shape(), (Shape{1}));
  EXPECT_EQ((*out)[0].data_as<int64_t>()[0], 7);
}

TEST(Unsqueeze, RejectsRepeatedAndOutOfRangeAxes) {
  EXPECT_EQ(
      run1("Unsqueeze", {{iota_f32({3}), false}, {ints({0, 0}), true}}, {}, 13).status().code(),
      StatusCode::kInvalidModel);
  EXPECT_EQ(run1("Unsqueeze", {{iota_f32({3}), false}, {ints({2}), true}}, {}, 13).status().code(),
            StatusCode::kInvalidModel);
  EXPECT_EQ(run1("Unsqueeze", {{iota_f32({3}), false}}, {}, 11).status().code(),
            StatusCode::kInvalidModel);
}

TEST(Identity, IsAViewOfAnyDtype) {
  auto b = bools({3}, {1, 0, 1});
  auto out = run1("Identity", {{b, false}});
  ASSERT_TRUE(out.is_ok());
  EXPECT_EQ((*out)[0].dtype(), DataType::kBool);
  EXPECT_EQ(std::memcmp((*out)[0].data(), b.data(), 3), 0);
}

TEST(Dropout, InferenceIsIdentityWithAnAllTrueMask) {
  auto out = run1("Dropout", {{iota_f32({3, 4}), false}}, {}, 13, 2);
  ASSERT_TRUE(out.is_ok()) << out.status().to_string();
  EXPECT_EQ((*out)[0].data_as<float>()[11], 12.0f);
  ASSERT_EQ((*out)[1].dtype(), DataType::kBool);
  for (int i = 0; i < 12; ++i) EXPECT_EQ((*out)[1].data_as<uint8_t>()[i], 1);
}

TEST(Dropout, TrainingWithZeroRatioIsIdentityAndPositiveRatioIsUnsupported) {
  auto x = iota_f32({2, 2});
  auto out =
      run1("Dropout", {{x, false}, {Tensor::scalar<float>(0.0f), true}, {bools({}, {1}), true}}, {},
           13, 2);
  ASSERT_TRUE(out.is_ok()) << out.status().to_string();
  EXPECT_EQ((*out)[0].data_as<float>()[3], 4.0f);
  out = run1("Dropout", {{x, false}, {Tensor::scalar<float>(0.3f), true}, {bools({}, {1}), true}},
             {}, 13);
  EXPECT_EQ(out.status().code(), StatusCode::kUnsupported);
  out = run1("Dropout", {{x, false}, {Tensor::scalar<float>(0.3f), true}, {bools({}, {0}), true}},
             {}, 13);
  EXPECT_TRUE(out.is_ok());
}

TEST(Dropout, OldOpsetMaskHasTheDataType) {
  auto out = run1("Dropout", {{iota_f32({2}), false}}, {{"ratio", attr_float(0.2f)}}, 7, 2);
  ASSERT_TRUE(out.is_ok());
  ASSERT_EQ((*out)[1].dtype(), DataType::kFloat32);
  EXPECT_EQ((*out)[1].data_as<float>()[1], 1.0f);
}

TEST(Shape, StartAndEndAreClamped) {
  const Tensor x = iota_f32({3, 4, 5});
  auto out = run1("Shape", {{x, false}}, {{"start", attr_int(-10)}, {"end", attr_int(10)}}, 15);
  ASSERT_TRUE(out.is_ok());
  EXPECT_EQ(values_i64((*out)[0]), (std::vector<int64_t>{3, 4, 5}));
  out = run1("Shape", {{x, false}}, {{"start", attr_int(1)}, {"end", attr_int(-1)}}, 15);
  EXPECT_EQ(values_i64((*out)[0]), (std::vector<int64_t>{4}));
  out = run1("Shape", {{x, false}}, {{"start", attr_int(2)}, {"end", attr_int(1)}}, 15);
  EXPECT_EQ((*out)[0].shape(), (Shape{0}));
  out = run1("Shape", {{x, false}}, {{"start", attr_int(1)}}, 13);  // no start before opset 15
  EXPECT_EQ(values_i64((*out)[0]), (std::vector<int64_t>{3, 4, 5}));
}

TEST(Size, CountsElements) {
  auto out = run1("Size", {{iota_f32({3, 4, 5}), false}});
  ASSERT_TRUE(out.is_ok());
  EXPECT_EQ((*out)[0].shape(), Shape{});
  EXPECT_EQ((*out)[0].data_as<int64_t>()[0], 60);
}

TEST(Expand, BroadcastsBothWaysForSeveralDtypes) {
  // [3,1] expanded by [2,1,4] -> [2,3,4]
  auto x = Tensor::from_vector<int64_t>({3, 1}, {10, 20, 30});
  auto out = run1("Expand", {{x, false}, {ints({2, 1, 4}), true}}, {}, 13);
  ASSERT_TRUE(out.is_ok()) << out.status().to_string();
  const Tensor& y = (*out)[0];
  ASSERT_EQ(y.shape(), (Shape{2, 3, 4}));
  for (int64_t i = 0; i < 24; ++i) EXPECT_EQ(y.data_as<int64_t>()[i], 10 * ((i / 4) % 3 + 1));
  auto h = Tensor::from_vector<uint16_t>({1, 3}, {0x3c00, 0x4000, 0x4200});  // float16 bits
  out = run1("Expand", {{h, false}, {ints({2, 1}), true}}, {}, 13);
  ASSERT_TRUE(out.is_ok());
  EXPECT_EQ((*out)[0].shape(), (Shape{2, 3}));
  EXPECT_EQ((*out)[0].data_as<uint16_t>()[5], 0x4200);
  auto b = bools({1}, {1});
  out = run1("Expand", {{b, false}, {ints({127}), true}}, {}, 13);
  ASSERT_TRUE(out.is_ok());
  for (int i = 0; i < 127; ++i) EXPECT_EQ((*out)[0].data_as<uint8_t>()[i], 1);
}

TEST(Expand, RejectsIncompatibleShapes) {
  EXPECT_EQ(run1("Expand", {{iota_f32({3}), false}, {ints({4}), true}}, {}, 13).status().code(),
            StatusCode::kInvalidModel);
  EXPECT_EQ(run1("Expand", {{iota_f32({3}), false}, {ints({4}), false}}, {}, 13).status().code(),
            StatusCode::kUnsupported);
}

TEST(ConstantOfShape, FillsWithTheValueAttribute) {
  Attribute value;
  value.kind = AttributeKind::kTensor;
  value.t = Tensor::from_vector<int64_t>({1}, {-7});
  auto out = run1("ConstantOfShape", {{ints({3, 13}), true}}, {{"value", value}}, 9);
  ASSERT_TRUE(out.is_ok()) << out.status().to_string();
  ASSERT_EQ((*out)[0].dtype(), DataType::kInt64);
  ASSERT_EQ((*out)[0].shape(), (Shape{3, 13}));
  for (int i = 0; i < 39; ++i) EXPECT_EQ((*out)[0].data_as<int64_t>()[i], -7);
  out = run1("ConstantOfShape", {{ints({4}), true}}, {}, 9);
  ASSERT_TRUE(out.is_ok());
  EXPECT_EQ((*out)[0].dtype(), DataType::kFloat32);
  for (int i = 0; i < 4; ++i) EXPECT_EQ((*out)[0].data_as<float>()[i], 0.0f);
  EXPECT_EQ(run1("ConstantOfShape", {{ints({-1}), true}}, {}, 9).status().code(),
            StatusCode::kInvalidModel);
}

TEST(Range, IntegerAndFloatRanges) {
  auto out = run1("Range",
                  {{Tensor::scalar<int64_t>(10), true},
                   {Tensor::scalar<int64_t>(1), true},
                   {Tensor::scalar<int64_t>(-3), true}},
                  {}, 11);
  ASSERT_TRUE(out.is_ok()) << out.status().to_string();
  EXPECT_EQ(values_i64((*out)[0]), (std::vector<int64_t>{10, 7, 4}));
  out = run1("Range",
             {{Tensor::scalar<float>(1.0f), true},
              {Tensor::scalar<float>(2.0f), true},
              {Tensor::scalar<float>(0.25f), true}},
             {}, 11);
  ASSERT_TRUE(out.is_ok());
  ASSERT_EQ((*out)[0].shape(), (Shape{4}));
  EXPECT_EQ((*out)[0].data_as<float>()[3], 1.75f);
  out = run1("Range",
             {{Tensor::scalar<int32_t>(5), true},
              {Tensor::scalar<int32_t>(1), true},
              {Tensor::scalar<int32_t>(2), true}},
             {}, 11);
  ASSERT_TRUE(out.is_ok());
  EXPECT_EQ((*out)[0].shape(), (Shape{0}));
}

TEST(Range, RejectsZeroDeltaAndUnknownValues) {
  EXPECT_EQ(run1("Range",
                 {{Tensor::scalar<int64_t>(0), true},
                  {Tensor::scalar<int64_t>(3), true},
                  {Tensor::scalar<int64_t>(0), true}},
                 {}, 11)
                .status()
                .code(),
            StatusCode::kInvalidModel);
  EXPECT_EQ(run1("Range",
                 {{Tensor::scalar<int64_t>(0), false},
                  {Tensor::scalar<int64_t>(3), true},
                  {Tensor::scalar<int64_t>(1), true}},
                 {}, 11)
                .status()
                .code(),
            StatusCode::kUnsupported);
}

}  // namespace
}  // namespace keel
