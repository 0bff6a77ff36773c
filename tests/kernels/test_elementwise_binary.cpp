// Binary, variadic and ternary elementwise kernels against the broadcasting reference
// (runtime/ref/elementwise_ref): every broadcast pattern the kernels special-case (same shape,
// scalar operand, per-channel, outer/inner, rank mismatch), integer semantics, bool outputs,
// legacy (opset < 7) broadcasting, and malformed nodes.
#include <gtest/gtest.h>

#include <cmath>
#include <cstring>
#include <functional>
#include <random>
#include <string>
#include <vector>

#include "ref/elementwise_ref.hpp"
#include "support/op_runner.hpp"
#include "support/tolerance.hpp"

namespace keel {
namespace {

using testing::all_close;
using testing::attr_int;
using testing::OpCall;
using testing::run_op;

template <typename T>
std::vector<T> random_values(int64_t n, double lo, double hi, uint32_t seed) {
  std::mt19937 rng(seed);
  std::uniform_real_distribution<double> dist(lo, hi);
  std::vector<T> v(static_cast<size_t>(n));
  for (auto& x : v) x = static_cast<T>(dist(rng));
  return v;
}

template <typename T>
std::vector<double> to_double(const T* p, int64_t n) {
  return std::vector<double>(p, p + n);
}

Tensor bool_tensor(Shape shape, const std::vector<uint8_t>& v) {
  return Tensor::from_bytes(DataType::kBool, std::move(shape), v.data(), v.size()).value();
}

Tensor run_one(const OpCall& call) {
  auto r = run_op(call);
  EXPECT_TRUE(r.is_ok()) << r.status().to_string();
  if (!r.is_ok()) return {};
  return r.value()[0];
}

struct BroadcastCase {
  const char* label;
  Shape a, b, out;
};

const std::vector<BroadcastCase>& broadcast_cases() {
  static const std::vector<BroadcastCase> cases = {
      {"same_shape_127", {127}, {127}, {127}},
      {"same_shape_nchw", {2, 3, 5, 7}, {2, 3, 5, 7}, {2, 3, 5, 7}},
      {"scalar_rhs", {3, 13}, {}, {3, 13}},
      {"scalar_lhs", {}, {3, 13}, {3, 13}},
      {"one_element_rhs", {2, 3, 4}, {1}, {2, 3, 4}},
      {"per_channel_c13", {2, 13, 5, 5}, {13, 1, 1}, {2, 13, 5, 5}},
      {"per_channel_4d", {1, 3, 7, 9}, {1, 3, 1, 1}, {1, 3, 7, 9}},
      {"last_axis_vector", {3, 4, 5}, {5}, {3, 4, 5}},
      {"nhwc_channel_gate", {2, 9, 11, 32}, {2, 1, 1, 32}, {2, 9, 11, 32}},
      {"nhwc_shared_gate_lhs", {1, 1, 1, 24}, {1, 7, 9, 24}, {1, 7, 9, 24}},
      {"outer_times_inner", {3, 1}, {1, 4}, {3, 4}},
      {"row_times_column", {1, 13}, {7, 1}, {7, 13}},
      {"middle_axis", {2, 1, 6}, {2, 5, 1}, {2, 5, 6}},
      {"rank_mismatch_lhs", {5}, {2, 3, 5}, {2, 3, 5}},
      {"alternating", {2, 1, 3, 1, 2}, {1, 4, 1, 5, 2}, {2, 4, 3, 5, 2}},
      {"empty", {0, 3}, {3}, {0, 3}},
      {"large_per_channel", {1, 32, 64, 64}, {32, 1, 1}, {1, 32, 64, 64}},
  };
  return cases;
}

struct FloatOp {
  const char* op;
  std::function<double(double, double)> ref;
};

const std::vector<FloatOp>& float_ops() {
  static const std::vector<FloatOp> ops = {
      {"Add", [](double a, double b) { return a + b; }},
      {"Sub", [](double a, double b) { return a - b; }},
      {"Mul", [](double a, double b) { return a * b; }},
      {"Div", [](double a, double b) { return a / b; }},
      {"Pow", [](double a, double b) { return std::pow(a, b); }},
      {"Max", [](double a, double b) { return std::max(a, b); }},
      {"Min", [](double a, double b) { return std::min(a, b); }},
      {"PRelu", [](double a, double b) { return a < 0 ? a * b : a; }},
  };
  return ops;
}

class BinaryBroadcast : public ::testing::TestWithParam<std::tuple<size_t, size_t>> {};

TEST_P(BinaryBroadcast, Float32MatchesReference) {
  const FloatOp& op = float_ops()[std::get<0>(GetParam())];
  const BroadcastCase& c = broadcast_cases()[std::get<1>(GetParam())];
  const bool prelu = std::string(op.op) == "PRelu";
  if (prelu && c.out != c.a) GTEST_SKIP() << "PRelu broadcasts the slope only";
  const bool pow = std::string(op.op) == "Pow";
  const uint32_t seed =
      static_cast<uint32_t>(std::get<0>(GetParam()) * 100 + std::get<1>(GetParam()));
  const std::vector<float> a = random_values<float>(numel(c.a), pow ? 0.1 : -4, 4, seed);
  std::vector<float> b = random_values<float>(numel(c.b), pow ? -2 : 0.5, 3, seed + 1);
  if (!pow) {
    // Mixed signs for b too, but away from 0 (Div).
    for (size_t i = 0; i < b.size(); i += 2) b[i] = -b[i];
  }
  OpCall call{
      op.op, 14, {}, {{Tensor::from_vector<float>(c.a, a)}, {Tensor::from_vector<float>(c.b, b)}}};
  Tensor y1 = run_one(call);
  ASSERT_EQ(y1.shape(), c.out);
  const std::vector<double> ref = ref::broadcast_binary(
      to_double(a.data(), numel(c.a)), c.a, to_double(b.data(), numel(c.b)), c.b, c.out, op.ref);
  EXPECT_TRUE(all_close(y1.data_as<float>(), ref.data(), y1.numel(), 1e-6, 1e-5, true))
      << op.op << " " << c.label << " seed=" << seed;
  call.threads = 2;
  Tensor y2 = run_one(call);
  EXPECT_EQ(std::memcmp(y1.data(), y2.data(), y1.nbytes()), 0);
}

INSTANTIATE_TEST_SUITE_P(OpsTimesShapes, BinaryBroadcast,
                         ::testing::Combine(::testing::Range<size_t>(0, float_ops().size()),
                                            ::testing::Range<size_t>(0, broadcast_cases().size())),
                         [](const ::testing::TestParamInfo<std::tuple<size_t, size_t>>& info) {
                           return std::string(float_ops()[std::get<0>(info.param)].op) + "_" +
                                  broadcast_cases()[std::get<1>(info.param)].label;
                         });

template <typename T>
void check_int_arithmetic() {
  const Shape s{3, 4, 5};
  std::vector<T> a = random_values<T>(60, 0, 100, 1);
  std::vector<T> b = random_values<T>(60, 1, 20, 2);
  for (const char* op : {"Add", "Sub", "Mul", "Div"}) {
    Tensor y =
        run_one({op, 14, {}, {{Tensor::from_vector<T>(s, a)}, {Tensor::from_vector<T>(s, b)}}});
    ASSERT_EQ(y.dtype(), dtype_of<T>());
    for (int i = 0; i < 60; ++i) {
      T expect;
      const std::string o = op;
      if (o == "Add")
        expect = static_cast<T>(a[i] + b[i]);
      else if (o == "Sub")
        expect = static_cast<T>(a[i] - b[i]);
      else if (o == "Mul")
        expect = static_cast<T>(a[i] * b[i]);
      else
        expect = static_cast<T>(a[i] / b[i]);
      ASSERT_EQ(y.data_as<T>()[i], expect) << op << " " << dtype_name(dtype_of<T>()) << " at " << i;
    }
  }
}

TEST(BinaryInt, ArithmeticForEveryIntegerType) {
  check_int_arithmetic<int8_t>();
  check_int_arithmetic<int16_t>();
  check_int_arithmetic<int32_t>();
  check_int_arithmetic<int64_t>();
  check_int_arithmetic<uint8_t>();
  check_int_arithmetic<uint16_t>();
  check_int_arithmetic<uint32_t>();
  check_int_arithmetic<uint64_t>();
}

TEST(BinaryInt, DivTruncatesTowardZeroAndNeverTraps) {
  Tensor a = Tensor::from_vector<int32_t>({6}, {7, -7, 7, -7, INT32_MIN, 5});
  Tensor b = Tensor::from_vector<int32_t>({6}, {2, 2, -2, -2, -1, 0});
  Tensor y = run_one({"Div", 14, {}, {{a}, {b}}});
  const int32_t* p = y.data_as<int32_t>();
  EXPECT_EQ(p[0], 3);
  EXPECT_EQ(p[1], -3);
  EXPECT_EQ(p[2], -3);
  EXPECT_EQ(p[3], 3);
  EXPECT_EQ(p[4], INT32_MIN);  // wraps instead of SIGFPE
  EXPECT_EQ(p[5], 0);          // division by zero does not crash
}

TEST(BinaryInt, AddWrapsOnOverflow) {
  Tensor y =
      run_one({"Add",
               14,
               {},
               {{Tensor::from_vector<int64_t>({1}, {INT64_MAX})}, {Tensor::scalar<int64_t>(1)}}});
  EXPECT_EQ(y.data_as<int64_t>()[0], INT64_MIN);
}

TEST(Pow, MixedTypes) {
  Tensor y = run_one({"Pow",
                      15,
                      {},
                      {{Tensor::from_vector<float>({3}, {1.f, 2.f, 3.f})},
                       {Tensor::from_vector<int64_t>({3}, {4, 5, 6})}}});
  ASSERT_EQ(y.dtype(), DataType::kFloat32);
  EXPECT_EQ(y.data_as<float>()[2], 729.0f);
  y = run_one({"Pow",
               15,
               {},
               {{Tensor::from_vector<int32_t>({3}, {1, 2, 3})},
                {Tensor::from_vector<float>({3}, {4.f, 5.f, 0.5f})}}});
  ASSERT_EQ(y.dtype(), DataType::kInt32);
  EXPECT_EQ(y.data_as<int32_t>()[1], 32);
  EXPECT_EQ(y.data_as<int32_t>()[2], 1);  // 1.73 truncates
  y = run_one({"Pow",
               15,
               {},
               {{Tensor::from_vector<int64_t>({4}, {2, 3, -2, 5})},
                {Tensor::from_vector<int64_t>({4}, {10, 3, 3, -1})}}});
  const int64_t* p = y.data_as<int64_t>();
  EXPECT_EQ(p[0], 1024);
  EXPECT_EQ(p[1], 27);
  EXPECT_EQ(p[2], -8);
  EXPECT_EQ(p[3], 0);
}

TEST(Pow, SquareAndSqrtFastPathsMatch) {
  const std::vector<float> a = random_values<float>(131, 0.1, 10, 5);
  for (float e : {2.0f, 0.5f, 3.0f}) {
    Tensor y = run_one(
        {"Pow", 15, {}, {{Tensor::from_vector<float>({131}, a)}, {Tensor::scalar<float>(e)}}});
    for (int i = 0; i < 131; ++i) {
      EXPECT_NEAR(y.data_as<float>()[i], std::pow(a[i], e), 1e-5 * std::pow(a[i], e));
    }
  }
}

TEST(Compare, ProducesBoolWithBroadcast) {
  Tensor a = Tensor::from_vector<float>({2, 3}, {1, 2, 3, 4, 5, 6});
  Tensor b = Tensor::from_vector<float>({3}, {2, 2, 7});
  const std::map<std::string, std::vector<uint8_t>> expect = {
      {"Equal", {0, 1, 0, 0, 0, 0}},          {"Less", {1, 0, 1, 0, 0, 1}},
      {"Greater", {0, 0, 0, 1, 1, 0}},        {"LessOrEqual", {1, 1, 1, 0, 0, 1}},
      {"GreaterOrEqual", {0, 1, 0, 1, 1, 0}},
  };
  for (const auto& [op, want] : expect) {
    Tensor y = run_one({op, 16, {}, {{a}, {b}}});
    ASSERT_EQ(y.dtype(), DataType::kBool) << op;
    ASSERT_EQ(y.shape(), (Shape{2, 3}));
    EXPECT_EQ(std::vector<uint8_t>(y.data_as<uint8_t>(), y.data_as<uint8_t>() + 6), want) << op;
  }
  Tensor y =
      run_one({"Equal",
               13,
               {},
               {{Tensor::from_vector<int64_t>({3}, {1, 5, 9})}, {Tensor::scalar<int64_t>(5)}}});
  EXPECT_EQ(y.data_as<uint8_t>()[1], 1);
  y = run_one({"Equal", 13, {}, {{bool_tensor({2}, {1, 0})}, {bool_tensor({2}, {1, 1})}}});
  EXPECT_EQ(y.data_as<uint8_t>()[0], 1);
  EXPECT_EQ(y.data_as<uint8_t>()[1], 0);
}

TEST(Logical, AndOrXor) {
  Tensor a = bool_tensor({2, 2}, {0, 0, 1, 1});
  Tensor b = bool_tensor({2}, {0, 1});
  const std::map<std::string, std::vector<uint8_t>> expect = {
      {"And", {0, 0, 0, 1}}, {"Or", {0, 1, 1, 1}}, {"Xor", {0, 1, 1, 0}}};
  for (const auto& [op, want] : expect) {
    Tensor y = run_one({op, 7, {}, {{a}, {b}}});
    EXPECT_EQ(std::vector<uint8_t>(y.data_as<uint8_t>(), y.data_as<uint8_t>() + 4), want) << op;
  }
}

TEST(Where, ThreeWayBroadcast) {
  const Shape sc{2, 1, 4}, sx{3, 1}, sy{1};
  std::vector<uint8_t> c = {1, 0, 1, 0, 0, 0, 1, 1};
  const std::vector<float> x = {10, 20, 30};
  Tensor y = run_one({"Where",
                      16,
                      {},
                      {{bool_tensor(sc, c)},
                       {Tensor::from_vector<float>(sx, x)},
                       {Tensor::scalar<float>(-1.0f)}}});
  ASSERT_EQ(y.shape(), (Shape{2, 3, 4}));
  for (int64_t n = 0; n < 2; ++n) {
    for (int64_t i = 0; i < 3; ++i) {
      for (int64_t j = 0; j < 4; ++j) {
        const float want = c[n * 4 + j] ? x[i] : -1.0f;
        EXPECT_EQ(y.data_as<float>()[(n * 3 + i) * 4 + j], want);
      }
    }
  }
  Tensor yi = run_one({"Where",
                       16,
                       {},
                       {{bool_tensor({2}, {1, 0})},
                        {Tensor::from_vector<int64_t>({2}, {1, 2})},
                        {Tensor::from_vector<int64_t>({2}, {3, 4})}}});
  EXPECT_EQ(yi.data_as<int64_t>()[0], 1);
  EXPECT_EQ(yi.data_as<int64_t>()[1], 4);
}

TEST(Variadic, MaxMinSumMeanOfThreeBroadcastInputs) {
  const Shape s0{2, 3}, s1{3}, s2{2, 1};
  const std::vector<float> a = {1, 5, 3, -2, 0, 9}, b = {4, 4, 4}, c = {2, -7};
  auto at = [&](int i, int j) { return std::array<float, 3>{a[i * 3 + j], b[j], c[i]}; };
  for (const char* op : {"Max", "Min", "Sum", "Mean"}) {
    Tensor y = run_one({op,
                        13,
                        {},
                        {{Tensor::from_vector<float>(s0, a)},
                         {Tensor::from_vector<float>(s1, b)},
                         {Tensor::from_vector<float>(s2, c)}}});
    ASSERT_EQ(y.shape(), (Shape{2, 3}));
    for (int i = 0; i < 2; ++i) {
      for (int j = 0; j < 3; ++j) {
        const auto v = at(i, j);
        float want;
        const std::string o = op;
        if (o == "Max")
          want = std::max({v[0], v[1], v[2]});
        else if (o == "Min")
          want = std::min({v[0], v[1], v[2]});
        else if (o == "Sum")
          want = v[0] + v[1] + v[2];
        else
          want = (v[0] + v[1] + v[2]) / 3.0f;
        EXPECT_FLOAT_EQ(y.data_as<float>()[i * 3 + j], want) << op;
      }
    }
  }
  Tensor one = run_one({"Max", 13, {}, {{Tensor::from_vector<int32_t>({2}, {3, 4})}}});
  EXPECT_EQ(one.data_as<int32_t>()[1], 4);
}

TEST(Legacy, Opset6BroadcastAlongAxis) {
  // B [3] broadcast onto A [2,3,4] at axis 1.
  std::vector<float> a(24, 1.0f);
  Tensor y = run_one({"Add",
                      6,
                      {{"broadcast", attr_int(1)}, {"axis", attr_int(1)}},
                      {{Tensor::from_vector<float>({2, 3, 4}, a)},
                       {Tensor::from_vector<float>({3}, {10, 20, 30})}}});
  ASSERT_EQ(y.shape(), (Shape{2, 3, 4}));
  EXPECT_EQ(y.data_as<float>()[4], 21.0f);  // [0,1,0]
  EXPECT_EQ(y.data_as<float>()[23], 31.0f);
  // Without broadcast=1 the shapes must match.
  auto r = run_op(
      {"Add",
       6,
       {},
       {{Tensor::from_vector<float>({2, 3, 4}, a)}, {Tensor::from_vector<float>({3}, {1, 2, 3})}}});
  EXPECT_FALSE(r.is_ok());
}

TEST(Mod, IntegerSignFollowsDivisorAndFmodFollowsDividend) {
  Tensor a = Tensor::from_vector<int32_t>({4}, {7, -7, 7, -7});
  Tensor b = Tensor::from_vector<int32_t>({4}, {3, 3, -3, -3});
  Tensor y = run_one({"Mod", 13, {}, {{a}, {b}}});
  EXPECT_EQ(std::vector<int32_t>(y.data_as<int32_t>(), y.data_as<int32_t>() + 4),
            (std::vector<int32_t>{1, 2, -2, -1}));
  y = run_one({"Mod", 13, {{"fmod", attr_int(1)}}, {{a}, {b}}});
  EXPECT_EQ(std::vector<int32_t>(y.data_as<int32_t>(), y.data_as<int32_t>() + 4),
            (std::vector<int32_t>{1, -1, 1, -1}));
}

// Mod-28 defines fmod=0 for floats (A - floor(A / B) * B, the sign of B, a zero signed like B);
// Mod-13 does not, so the same node at opset 13 is refused.
TEST(Mod, FloatFloorModFromOpset28) {
  const float inf = std::numeric_limits<float>::infinity();
  Tensor a = Tensor::from_vector<float>({8}, {7.5f, -7.5f, 7.5f, -7.5f, 0.0f, -0.0f, 3.0f, 3.0f});
  Tensor b = Tensor::from_vector<float>({8}, {2.0f, 2.0f, -2.0f, -2.0f, -1.0f, 1.0f, inf, -inf});
  Tensor y = run_one({"Mod", 28, {}, {{a}, {b}}});
  const float* out = y.data_as<float>();
  const std::vector<float> want = {1.5f, 0.5f, -0.5f, -1.5f, -0.0f, 0.0f, 3.0f, -inf};
  for (size_t i = 0; i < want.size(); ++i) {
    EXPECT_EQ(out[i], want[i]) << i;
    EXPECT_EQ(std::signbit(out[i]), std::signbit(want[i])) << i;
  }
  auto r = run_op({"Mod", 13, {}, {{a}, {b}}});
  ASSERT_FALSE(r.is_ok());
  EXPECT_NE(r.status().message().find("before opset 28"), std::string::npos);
}

TEST(BinaryErrors, MalformedNodesAreRejected) {
  Tensor f3 = Tensor::from_vector<float>({3}, {1, 2, 3});
  Tensor f4 = Tensor::from_vector<float>({4}, {1, 2, 3, 4});
  auto r = run_op({"Add", 14, {}, {{f3}, {f4}}});
  ASSERT_FALSE(r.is_ok());
  EXPECT_EQ(r.status().code(), StatusCode::kInvalidModel);
  EXPECT_NE(r.status().message().find("broadcast"), std::string::npos);
  r = run_op({"Mul", 14, {}, {{f3}, {Tensor::from_vector<int32_t>({3}, {1, 2, 3})}}});
  EXPECT_FALSE(r.is_ok());
  r = run_op({"Sub", 14, {}, {{f3}}});
  EXPECT_FALSE(r.is_ok());
  r = run_op({"And", 7, {}, {{f3}, {f3}}});
  ASSERT_FALSE(r.is_ok());
  EXPECT_EQ(r.status().code(), StatusCode::kUnsupported);
  r = run_op({"PRelu", 16, {}, {{f3}, {Tensor::from_vector<float>({2, 3}, {1, 2, 3, 4, 5, 6})}}});
  EXPECT_FALSE(r.is_ok());
  r = run_op({"Where", 16, {}, {{f3}, {f3}, {f3}}});
  EXPECT_FALSE(r.is_ok());
  r = run_op({"Where", 16, {}, {{bool_tensor({3}, {1, 0, 1})}, {f3}, {f4}}});
  EXPECT_FALSE(r.is_ok());
  r = run_op({"Max", 13, {}, {{f3}, {Tensor::from_vector<double>({3}, {1, 2, 3})}}});
  EXPECT_FALSE(r.is_ok());
  r = run_op({"Mod", 13, {}, {{f3}, {f3}}});
  EXPECT_FALSE(r.is_ok());
}

}  // namespace
}  // namespace keel
