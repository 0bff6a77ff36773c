// Cast and CastLike: float16/bfloat16 bit conversions (exhaustive round trip, ties to even,
// overflow, subnormals, NaN), float -> int truncation and saturation, int wrap, bool, the
// legacy string `to`, identity casts, and unsupported targets.
#include <gtest/gtest.h>

#include <bit>
#include <cmath>
#include <cstring>
#include <limits>
#include <vector>

#include "kernels/elementwise_util.hpp"
#include "support/op_runner.hpp"

namespace keel {
namespace {

using testing::attr_int;
using testing::attr_string;
using testing::OpCall;
using testing::run_op;

Tensor cast(const Tensor& x, DataType to, int opset = 21) {
  auto r = run_op({"Cast", opset, {{"to", attr_int(static_cast<int64_t>(to))}}, {{x}}});
  EXPECT_TRUE(r.is_ok()) << r.status().to_string();
  if (!r.is_ok()) return {};
  return r.value()[0];
}

TEST(Float16, EveryHalfRoundTripsThroughFloat) {
  for (uint32_t h = 0; h < 0x10000; ++h) {
    const float f = half_bits_to_float(static_cast<uint16_t>(h));
    const uint16_t back = half_bits_from_float(f);
    if (std::isnan(f)) {
      EXPECT_EQ(back & 0x7C00, 0x7C00);
      EXPECT_NE(back & 0x3FF, 0);
    } else {
      ASSERT_EQ(back, h) << "half 0x" << std::hex << h;
    }
  }
}

TEST(Float16, KnownValuesAndRounding) {
  EXPECT_EQ(half_bits_from_float(1.0f), 0x3C00);
  EXPECT_EQ(half_bits_from_float(-2.0f), 0xC000);
  EXPECT_EQ(half_bits_from_float(65504.0f), 0x7BFF);
  EXPECT_EQ(half_bits_from_float(65520.0f), 0x7C00);  // rounds up to infinity
  EXPECT_EQ(half_bits_from_float(65519.0f), 0x7BFF);
  EXPECT_EQ(half_bits_from_float(std::numeric_limits<float>::infinity()), 0x7C00);
  EXPECT_EQ(half_bits_from_float(5.960464477539063e-08f), 0x0001);   // smallest subnormal
  EXPECT_EQ(half_bits_from_float(2.9802322387695312e-08f), 0x0000);  // half of it: ties to even
  EXPECT_EQ(half_bits_from_float(4.5e-08f), 0x0001);
  // 1 + 2^-11 is a tie between 1 and 1 + 2^-10: even mantissa (1) wins.
  EXPECT_EQ(half_bits_from_float(1.0f + 0x1p-11f), 0x3C00);
  // 1 + 3 * 2^-11 ties between odd and even: rounds up to the even one.
  EXPECT_EQ(half_bits_from_float(1.0f + 3 * 0x1p-11f), 0x3C02);
  EXPECT_EQ(half_bits_from_float(1.0f + 0x1p-11f + 0x1p-20f), 0x3C01);
  EXPECT_EQ(half_bits_from_float(-0.0f), 0x8000);
  // Rounding up from the largest subnormal gives the smallest normal.
  EXPECT_EQ(half_bits_from_float(std::nextafter(0x1p-14f, 0.0f)), 0x0400);
  // A double just above a float-representable tie must round up (no double rounding).
  EXPECT_EQ(half_bits_from_double(1.0 + 0x1p-11 + 0x1p-40), 0x3C01);
}

TEST(BFloat16, RoundsToNearestEven) {
  EXPECT_EQ(bfloat16_bits_from_float(1.0f), 0x3F80);
  EXPECT_EQ(bfloat16_bits_from_float(std::bit_cast<float>(0x3F808000u)), 0x3F80);  // tie, even
  EXPECT_EQ(bfloat16_bits_from_float(std::bit_cast<float>(0x3F818000u)), 0x3F82);  // tie, up
  EXPECT_EQ(bfloat16_bits_from_float(std::bit_cast<float>(0x3F808001u)), 0x3F81);
  const uint16_t nan = bfloat16_bits_from_float(std::numeric_limits<float>::quiet_NaN());
  EXPECT_TRUE(std::isnan(bfloat16_bits_to_float(nan)));
  EXPECT_EQ(bfloat16_bits_to_float(0x4049), std::bit_cast<float>(0x40490000u));
}

TEST(Cast, FloatToHalfAndBackThroughTheKernel) {
  const std::vector<float> x = {0.0f, 1.0f, -1.5f, 3.14159f, 1e5f, 1e-6f, 65504.0f};
  Tensor h = cast(Tensor::from_vector<float>({7}, x), DataType::kFloat16);
  ASSERT_EQ(h.dtype(), DataType::kFloat16);
  Tensor back = cast(h, DataType::kFloat32);
  const float* p = back.data_as<float>();
  EXPECT_EQ(p[1], 1.0f);
  EXPECT_EQ(p[2], -1.5f);
  EXPECT_NEAR(p[3], 3.14159f, 2e-3);
  EXPECT_TRUE(std::isinf(p[4]));
  EXPECT_NEAR(p[5], 1e-6f, 1e-7);
  EXPECT_EQ(p[6], 65504.0f);
  Tensor d = cast(h, DataType::kFloat64);
  EXPECT_EQ(d.data_as<double>()[2], -1.5);
}

TEST(Cast, FloatToIntTruncatesAndSaturates) {
  Tensor x = Tensor::from_vector<float>({7}, {2.7f, -2.7f, 1e20f, -1e20f, NAN, 127.9f, -0.5f});
  Tensor y = cast(x, DataType::kInt32);
  const int32_t* p = y.data_as<int32_t>();
  EXPECT_EQ(p[0], 2);
  EXPECT_EQ(p[1], -2);
  EXPECT_EQ(p[2], INT32_MAX);
  EXPECT_EQ(p[3], INT32_MIN);
  EXPECT_EQ(p[4], 0);
  Tensor y8 = cast(x, DataType::kInt8);
  EXPECT_EQ(y8.data_as<int8_t>()[5], 127);
  Tensor yu = cast(x, DataType::kUint8);
  EXPECT_EQ(yu.data_as<uint8_t>()[6], 0);
  Tensor y64 =
      cast(Tensor::from_vector<double>({2}, {9.007199254740993e15, -3.5}), DataType::kInt64);
  EXPECT_EQ(y64.data_as<int64_t>()[0], 9007199254740992);
  EXPECT_EQ(y64.data_as<int64_t>()[1], -3);
}

TEST(Cast, IntegerNarrowingWrapsAndWideningKeepsValues) {
  Tensor x = Tensor::from_vector<int64_t>({4}, {300, -1, int64_t{1} << 40, 7});
  Tensor y = cast(x, DataType::kUint8);
  EXPECT_EQ(y.data_as<uint8_t>()[0], 44);
  EXPECT_EQ(y.data_as<uint8_t>()[1], 255);
  Tensor z = cast(Tensor::from_vector<int8_t>({2}, {-5, 100}), DataType::kInt64);
  EXPECT_EQ(z.data_as<int64_t>()[0], -5);
  Tensor f = cast(x, DataType::kFloat32);
  EXPECT_EQ(f.data_as<float>()[2], 1099511627776.0f);
}

TEST(Cast, BoolBothWays) {
  Tensor b = cast(Tensor::from_vector<float>({4}, {0.0f, -0.0f, 0.1f, NAN}), DataType::kBool);
  ASSERT_EQ(b.dtype(), DataType::kBool);
  EXPECT_EQ(std::vector<uint8_t>(b.data_as<uint8_t>(), b.data_as<uint8_t>() + 4),
            (std::vector<uint8_t>{0, 0, 1, 1}));
  Tensor f = cast(b, DataType::kFloat32);
  EXPECT_EQ(f.data_as<float>()[2], 1.0f);
  Tensor h = cast(b, DataType::kFloat16);
  EXPECT_EQ(h.data_as<uint16_t>()[3], 0x3C00);
  Tensor i = cast(b, DataType::kInt64);
  EXPECT_EQ(i.data_as<int64_t>()[0], 0);
}

TEST(Cast, SameTypeIsAnAlias) {
  Tensor x = Tensor::from_vector<int64_t>({3}, {1, 2, 3});
  Tensor y = cast(x, DataType::kInt64);
  EXPECT_EQ(y.data_as<int64_t>()[2], 3);
}

TEST(Cast, LegacyStringTargetAndCastLike) {
  auto r = run_op({"Cast",
                   1,
                   {{"to", attr_string("INT32")}},
                   {{Tensor::from_vector<float>({2}, {1.9f, -1.9f})}}});
  ASSERT_TRUE(r.is_ok()) << r.status().to_string();
  EXPECT_EQ(r.value()[0].dtype(), DataType::kInt32);
  EXPECT_EQ(r.value()[0].data_as<int32_t>()[1], -1);
  r = run_op(
      {"CastLike",
       15,
       {},
       {{Tensor::from_vector<int32_t>({2}, {3, 4})}, {Tensor::from_vector<double>({1}, {0.0})}}});
  ASSERT_TRUE(r.is_ok()) << r.status().to_string();
  EXPECT_EQ(r.value()[0].dtype(), DataType::kFloat64);
  EXPECT_EQ(r.value()[0].data_as<double>()[1], 4.0);
}

TEST(Cast, LargeTensorIsThreadCountIndependent) {
  std::vector<float> x(100003);
  for (size_t i = 0; i < x.size(); ++i) x[i] = static_cast<float>(i) * 0.37f - 1000.0f;
  OpCall call{"Cast", 19, {{"to", attr_int(10)}}, {{Tensor::from_vector<float>({100003}, x)}}};
  auto a = run_op(call);
  call.threads = 2;
  auto b = run_op(call);
  ASSERT_TRUE(a.is_ok() && b.is_ok());
  EXPECT_EQ(std::memcmp(a.value()[0].data(), b.value()[0].data(), a.value()[0].nbytes()), 0);
}

TEST(CastErrors, UnsupportedAndInvalidTargets) {
  Tensor x = Tensor::from_vector<float>({1}, {1.0f});
  for (int64_t to : {8, 17, 19, 21, 22, 23}) {
    auto r = run_op({"Cast", 25, {{"to", attr_int(to)}}, {{x}}});
    ASSERT_FALSE(r.is_ok()) << to;
    EXPECT_EQ(r.status().code(), StatusCode::kUnsupported) << to;
  }
  for (int64_t to : {0, -3, 99}) {
    auto r = run_op({"Cast", 25, {{"to", attr_int(to)}}, {{x}}});
    ASSERT_FALSE(r.is_ok());
    EXPECT_EQ(r.status().code(), StatusCode::kInvalidModel);
  }
  EXPECT_FALSE(run_op({"Cast", 13, {}, {{x}}}).is_ok());  // missing 'to'
  EXPECT_FALSE(run_op({"Cast", 1, {{"to", attr_string("FLOAT128")}}, {{x}}}).is_ok());
  EXPECT_FALSE(run_op({"Cast", 13, {{"to", attr_int(1)}}, {{x}, {x}}}).is_ok());
}

}  // namespace
}  // namespace keel
