// QuantizeLinear and DequantizeLinear against a scalar reference written from the ONNX
// specification: round half to even, saturation, NaN and infinities, per-tensor, per-axis and
// blocked scales (with a partial last block), every integer type, float16 scales and outputs,
// two threads; and the errors for shapes and types the operators do not allow.
#include <gtest/gtest.h>

#include <cmath>
#include <limits>
#include <random>
#include <vector>

#include "kernels/elementwise_util.hpp"
#include "support/op_runner.hpp"

namespace keel {
namespace {

using testing::attr_int;
using testing::OpCall;
using testing::OpInput;
using testing::run_op;

Tensor half_tensor(Shape shape, const std::vector<float>& values) {
  std::vector<uint16_t> bits;
  for (float v : values) bits.push_back(half_bits_from_float(v));
  auto t = Tensor::from_bytes(DataType::kFloat16, std::move(shape), bits.data(), bits.size() * 2);
  EXPECT_TRUE(t.is_ok());
  return t.is_ok() ? std::move(*t) : Tensor{};
}

template <typename T>
std::vector<T> values_of(const Tensor& t) {
  return std::vector<T>(t.data_as<T>(), t.data_as<T>() + t.numel());
}

// The specification's QuantizeLinear for one element: the quotient in float32, rounded half to
// even (nearbyint in the default mode), the zero point added, saturated; NaN -> the low end.
template <typename Y>
Y reference_quantize(float x, float scale, int zp) {
  const float q = x / scale;
  const double lo = std::numeric_limits<Y>::min(), hi = std::numeric_limits<Y>::max();
  if (std::isnan(q)) return static_cast<Y>(lo);
  const double v = std::nearbyint(static_cast<double>(q)) + zp;
  return static_cast<Y>(std::min(hi, std::max(lo, v)));
}

// Per-axis (block 0, scale [D]) or blocked (scale x's shape with ceil(D / block) on the axis)
// scale index of element (o, d, i) of x viewed as [outer, D, inner].
int64_t scale_index(int64_t o, int64_t d, int64_t i, int64_t D, int64_t inner, int64_t block) {
  if (block == 0) return d;
  const int64_t blocks = (D + block - 1) / block;
  return (o * blocks + d / block) * inner + i;
}

template <typename Y>
void check_quantize(int64_t block) {
  SCOPED_TRACE(dtype_name(dtype_of<Y>()) + " block " + std::to_string(block));
  const int64_t outer = 3, D = 70, inner = 40;
  std::mt19937 rng(7);
  std::normal_distribution<float> normal(0.0f, 40.0f);
  std::vector<float> x(static_cast<size_t>(outer * D * inner));
  for (float& v : x) v = normal(rng);
  x[5] = 2.5f;  // ties land on even values whatever the scale rounding
  const int64_t scales = block == 0 ? D : outer * ((D + block - 1) / block) * inner;
  std::vector<float> scale(static_cast<size_t>(scales));
  std::vector<Y> zp(scale.size());
  std::uniform_real_distribution<float> s(0.05f, 0.6f);
  std::uniform_int_distribution<int> z(std::numeric_limits<Y>::min() / 2,
                                       std::numeric_limits<Y>::max() / 2);
  for (size_t k = 0; k < scale.size(); ++k) {
    scale[k] = s(rng);
    zp[k] = static_cast<Y>(z(rng));
  }
  scale[0] = 1.0f;
  const Shape scale_shape = block == 0 ? Shape{D} : Shape{outer, (D + block - 1) / block, inner};
  OpCall call("QuantizeLinear", 21, {{"axis", attr_int(-2)}, {"block_size", attr_int(block)}},
              {{Tensor::from_vector({outer, D, inner}, x)},
               {Tensor::from_vector(scale_shape, scale)},
               {Tensor::from_vector(scale_shape, zp)}});
  call.threads = 2;
  auto r = run_op(call);
  ASSERT_TRUE(r.is_ok()) << r.status().to_string();
  ASSERT_EQ((*r)[0].dtype(), dtype_of<Y>());
  const std::vector<Y> got = values_of<Y>((*r)[0]);
  for (int64_t o = 0; o < outer; ++o)
    for (int64_t d = 0; d < D; ++d)
      for (int64_t i = 0; i < inner; ++i) {
        const int64_t e = (o * D + d) * inner + i;
        const auto k = static_cast<size_t>(scale_index(o, d, i, D, inner, block));
        ASSERT_EQ(+got[static_cast<size_t>(e)],
                  +reference_quantize<Y>(x[static_cast<size_t>(e)], scale[k], zp[k]))
            << "element " << e << " x " << x[static_cast<size_t>(e)];
      }
}

TEST(QuantizeLinear, PerAxisAndBlockedMatchTheReferenceForEveryType) {
  for (int64_t block : {0, 1, 16, 32}) {  // 70 = 4 * 16 + 6: a partial last block
    check_quantize<int8_t>(block);
    check_quantize<uint8_t>(block);
    check_quantize<int16_t>(block);
    check_quantize<uint16_t>(block);
  }
}

TEST(QuantizeLinear, RoundsHalfToEvenSaturatesAndSendsNanToTheLowEnd) {
  const float inf = std::numeric_limits<float>::infinity();
  const std::vector<float> x = {0.5f,   1.5f, 2.5f,  -0.5f, -1.5f, -2.5f,         126.5f,
                                127.5f, 1e9f, -1e9f, inf,   -inf,  std::nanf(""), 0.49999997f};
  auto r = run_op(
      {"QuantizeLinear",
       13,
       {},
       {{Tensor::from_vector({14}, x)}, {Tensor::scalar(1.0f)}, {Tensor::scalar(int8_t{0})}}});
  ASSERT_TRUE(r.is_ok()) << r.status().to_string();
  EXPECT_EQ(values_of<int8_t>((*r)[0]),
            (std::vector<int8_t>{0, 2, 2, 0, -2, -2, 126, 127, 127, -128, 127, -128, -128, 0}));
  // Without a zero point the type is uint8 (zero point 0).
  r = run_op({"QuantizeLinear",
              10,
              {},
              {{Tensor::from_vector({4}, std::vector<float>{-3, 3.5f, 300, 2.5f})},
               {Tensor::scalar(0.5f)}}});
  ASSERT_TRUE(r.is_ok()) << r.status().to_string();
  EXPECT_EQ(values_of<uint8_t>((*r)[0]), (std::vector<uint8_t>{0, 7, 255, 5}));
}

TEST(QuantizeLinear, Float16OperandsDivideInFloat16) {
  // 120.5 / 1.1875 = 101.47 in float32 (-> 101), but 101.5 in float16 (-> 102, tie to even).
  const Tensor x = half_tensor({2}, {120.5f, 5.0f});
  auto r = run_op({"QuantizeLinear",
                   21,
                   {},
                   {{x}, {half_tensor({}, {1.1875f})}, {Tensor::scalar(int16_t{0})}}});
  ASSERT_TRUE(r.is_ok()) << r.status().to_string();
  EXPECT_EQ(values_of<int16_t>((*r)[0]), (std::vector<int16_t>{102, 4}));
  // A float32 scale promotes the division to float32.
  r = run_op(
      {"QuantizeLinear", 21, {}, {{x}, {Tensor::scalar(1.1875f)}, {Tensor::scalar(int16_t{0})}}});
  ASSERT_TRUE(r.is_ok()) << r.status().to_string();
  EXPECT_EQ(values_of<int16_t>((*r)[0]), (std::vector<int16_t>{101, 4}));
}

TEST(DequantizeLinear, PerAxisInt32AndFloat16Outputs) {
  const std::vector<uint8_t> x = {0, 128, 255, 7, 9, 11};
  auto r = run_op({"DequantizeLinear",
                   13,
                   {{"axis", attr_int(0)}},
                   {{Tensor::from_vector({2, 3}, x)},
                    {Tensor::from_vector({2}, std::vector<float>{0.5f, 0.25f})},
                    {Tensor::from_vector({2}, std::vector<uint8_t>{128, 7})}}});
  ASSERT_TRUE(r.is_ok()) << r.status().to_string();
  EXPECT_EQ(values_of<float>((*r)[0]), (std::vector<float>{-64.0f, 0.0f, 63.5f, 0.0f, 0.5f, 1.0f}));
  // int32 (a bias) without zero point; float16 out through output_dtype (opset 23).
  r = run_op({"DequantizeLinear",
              23,
              {{"output_dtype", attr_int(10)}},
              {{Tensor::from_vector({3}, std::vector<int32_t>{-4000000, 3, 70000})},
               {Tensor::scalar(0.001f)}}});
  ASSERT_TRUE(r.is_ok()) << r.status().to_string();
  ASSERT_EQ((*r)[0].dtype(), DataType::kFloat16);
  const auto* h = (*r)[0].data_as<uint16_t>();
  EXPECT_EQ(h[0], half_bits_from_float(-4000000.0f * 0.001f));
  EXPECT_EQ(h[1], half_bits_from_float(3.0f * 0.001f));
  EXPECT_EQ(h[2], half_bits_from_float(70000.0f * 0.001f));
}

TEST(DynamicQuantizeLinear, RangeIncludesZeroAllZeroAndNanInputs) {
  auto run = [](std::vector<float> x) {
    const auto n = static_cast<int64_t>(x.size());
    return run_op({"DynamicQuantizeLinear", 11, {}, {{Tensor::from_vector({n}, x)}}, 3});
  };
  // Range [min(0, -1), max(0, 3)] = [-1, 3]: scale 4/255, zero point round(255/4) = 64.
  auto r = run({-1.0f, 0.0f, 3.0f, 1.0f});
  ASSERT_TRUE(r.is_ok()) << r.status().to_string();
  const float scale = 4.0f / 255.0f;
  EXPECT_EQ((*r)[1].data_as<float>()[0], scale);
  EXPECT_EQ((*r)[2].data_as<uint8_t>()[0], 64);
  EXPECT_EQ(
      values_of<uint8_t>((*r)[0]),
      (std::vector<uint8_t>{0, 64, 255, static_cast<uint8_t>(std::nearbyint(1.0f / scale) + 64)}));
  // All zero: scale 1/255, zero point 0. NaN takes no part in the range and quantizes to 0.
  r = run({0.0f, 0.0f});
  ASSERT_TRUE(r.is_ok());
  EXPECT_EQ((*r)[1].data_as<float>()[0], 1.0f / 255.0f);
  EXPECT_EQ(values_of<uint8_t>((*r)[0]), (std::vector<uint8_t>{0, 0}));
  r = run({std::nanf(""), 2.0f, -2.0f});
  ASSERT_TRUE(r.is_ok());
  EXPECT_EQ((*r)[1].data_as<float>()[0], 4.0f / 255.0f);
  EXPECT_EQ(values_of<uint8_t>((*r)[0])[0], 0);
}

TEST(QuantizeLinear, ShapesAndTypesItDoesNotAllowAreErrors) {
  const Tensor x = Tensor::from_vector({2, 3}, std::vector<float>(6, 1.0f));
  // A per-axis scale of the wrong length.
  auto r = run_op(
      {"QuantizeLinear", 13, {}, {{x}, {Tensor::from_vector({2}, std::vector<float>{1, 1})}}});
  ASSERT_FALSE(r.is_ok());
  EXPECT_EQ(r.status().code(), StatusCode::kInvalidModel);
  EXPECT_NE(r.status().message().find("per-axis scale"), std::string::npos) << r.status().message();
  // Zero point and scale of different shapes.
  r = run_op({"QuantizeLinear",
              13,
              {},
              {{x},
               {Tensor::from_vector({3}, std::vector<float>{1, 1, 1})},
               {Tensor::scalar(uint8_t{0})}}});
  EXPECT_EQ(r.status().code(), StatusCode::kInvalidModel);
  // A blocked scale whose blocked dimension is not ceil(D / block).
  r = run_op({"QuantizeLinear",
              21,
              {{"block_size", attr_int(2)}},
              {{x}, {Tensor::from_vector({2, 1}, std::vector<float>{1, 1})}}});
  EXPECT_EQ(r.status().code(), StatusCode::kInvalidModel);
  // output_dtype other than the zero point's type; a float8 target (unsupported, named).
  r = run_op({"QuantizeLinear",
              21,
              {{"output_dtype", attr_int(3)}},
              {{x}, {Tensor::scalar(1.0f)}, {Tensor::scalar(uint8_t{0})}}});
  EXPECT_EQ(r.status().code(), StatusCode::kInvalidModel);
  r = run_op(
      {"QuantizeLinear", 21, {{"output_dtype", attr_int(17)}}, {{x}, {Tensor::scalar(1.0f)}}});
  EXPECT_EQ(r.status().code(), StatusCode::kUnsupported);
  EXPECT_NE(r.status().message().find("float8e4m3fn"), std::string::npos) << r.status().message();
  // Axis out of range for a per-axis scale.
  r = run_op({"DequantizeLinear",
              13,
              {{"axis", attr_int(2)}},
              {{Tensor::from_vector({2, 3}, std::vector<int8_t>(6, 1))},
               {Tensor::from_vector({3}, std::vector<float>{1, 1, 1})}}});
  EXPECT_EQ(r.status().code(), StatusCode::kInvalidModel);
  // A zero point whose type is not x's.
  r = run_op({"DequantizeLinear",
              13,
              {},
              {{Tensor::from_vector({2}, std::vector<int8_t>{1, 2})},
               {Tensor::scalar(1.0f)},
               {Tensor::scalar(uint8_t{0})}}});
  EXPECT_EQ(r.status().code(), StatusCode::kInvalidModel);
}

}  // namespace
}  // namespace keel
