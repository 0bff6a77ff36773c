// Unary elementwise kernels against double-precision formulas: every op, odd sizes around the
// vector width, 1 vs 2 threads bit-identical, integer variants, attribute and opset handling,
// and malformed nodes rejected with a status.
#include <gtest/gtest.h>

#include <cmath>
#include <cstring>
#include <functional>
#include <random>
#include <string>
#include <vector>

#include "support/op_runner.hpp"
#include "support/test_data.hpp"
#include "support/tolerance.hpp"

namespace keel {
namespace {

using testing::random_floats;

using testing::all_close;
using testing::attr_float;
using testing::attr_string;
using testing::OpCall;
using testing::run_op;

Tensor bool_tensor(Shape shape, const std::vector<uint8_t>& v) {
  return Tensor::from_bytes(DataType::kBool, std::move(shape), v.data(), v.size()).value();
}

Tensor run_one(OpCall call) {
  auto r = run_op(call);
  EXPECT_TRUE(r.is_ok()) << r.status().to_string();
  if (!r.is_ok()) return {};
  return r.value()[0];
}

struct UnaryCase {
  std::string op;
  std::function<double(double)> ref;
  float lo = -5.0f, hi = 5.0f;
  std::map<std::string, Attribute> attrs = {};
  int opset = 22;
};

double erf_gelu(double x) { return 0.5 * x * (1.0 + std::erf(x / std::sqrt(2.0))); }
double tanh_gelu(double x) {
  return 0.5 * x * (1.0 + std::tanh(std::sqrt(2.0 / M_PI) * (x + 0.044715 * x * x * x)));
}

std::vector<UnaryCase> unary_cases() {
  const double selu_a = 1.67326319217681884765625, selu_g = 1.05070102214813232421875;
  return {
      {"Relu", [](double x) { return x < 0 ? 0.0 : x; }},
      {"LeakyRelu", [](double x) { return x < 0 ? double{0.01f} * x : x; }},
      {"LeakyRelu",
       [](double x) { return x < 0 ? double{0.3f} * x : x; },
       -5,
       5,
       {{"alpha", attr_float(0.3f)}}},
      {"Sigmoid", [](double x) { return 1.0 / (1.0 + std::exp(-x)); }, -30, 30},
      {"HardSigmoid", [](double x) { return std::clamp(double{0.2f} * x + 0.5, 0.0, 1.0); }},
      {"HardSigmoid",
       [](double x) { return std::clamp(0.5 * x + double{0.6f}, 0.0, 1.0); },
       -5,
       5,
       {{"alpha", attr_float(0.5f)}, {"beta", attr_float(0.6f)}}},
      {"HardSwish", [](double x) { return x * std::clamp(x / 6.0 + 0.5, 0.0, 1.0); }, -8, 8},
      {"Tanh", [](double x) { return std::tanh(x); }},
      {"Erf", [](double x) { return std::erf(x); }, -3, 3},
      {"Gelu", erf_gelu, -6, 6, {}, 20},
      {"Gelu", tanh_gelu, -6, 6, {{"approximate", attr_string("tanh")}}, 20},
      {"Sqrt", [](double x) { return std::sqrt(x); }, 0, 100},
      {"Reciprocal", [](double x) { return 1.0 / x; }, 0.1f, 10},
      {"Exp", [](double x) { return std::exp(x); }, -20, 20},
      {"Neg", [](double x) { return -x; }},
      {"Abs", [](double x) { return std::fabs(x); }},
      {"Elu", [](double x) { return x < 0 ? std::expm1(x) : x; }},
      {"Elu",
       [](double x) { return x < 0 ? 2.0 * std::expm1(x) : x; },
       -5,
       5,
       {{"alpha", attr_float(2.0f)}}},
      {"Selu",
       [=](double x) { return x > 0 ? selu_g * x : selu_g * (selu_a * std::exp(x) - selu_a); }},
      {"Softplus", [](double x) { return std::log1p(std::exp(x)); }, -20, 20},
      {"Softsign", [](double x) { return x / (1.0 + std::fabs(x)); }},
      {"Mish", [](double x) { return x * std::tanh(std::log1p(std::exp(x))); }, -10, 10},
      {"ThresholdedRelu", [](double x) { return x > 1.0 ? x : 0.0; }},
      {"Celu",
       [](double x) { return std::max(0.0, x) + std::min(0.0, std::expm1(x)); },
       -5,
       5,
       {},
       12},
      {"Log", [](double x) { return std::log(x); }, 0.01f, 100},
      {"Floor", [](double x) { return std::floor(x); }},
      {"Ceil", [](double x) { return std::ceil(x); }},
      {"Round", [](double x) { return std::nearbyint(x); }, -5, 5, {}, 11},
      {"Sign", [](double x) { return x > 0 ? 1.0 : (x < 0 ? -1.0 : 0.0); }, -5, 5, {}, 13},
      {"Sin", [](double x) { return std::sin(x); }, -6, 6, {}, 7},
      {"Cos", [](double x) { return std::cos(x); }, -6, 6, {}, 7},
  };
}

class UnaryFloat : public ::testing::TestWithParam<size_t> {};

TEST_P(UnaryFloat, MatchesReferenceAtOddSizesAndThreadCounts) {
  const UnaryCase c = unary_cases()[GetParam()];
  for (int64_t n : {1, 3, 4, 7, 8, 9, 13, 127, 1000, 70001}) {
    const uint32_t seed = static_cast<uint32_t>(n * 31 + GetParam());
    const std::vector<float> x = random_floats(n, seed, c.lo, c.hi);
    std::vector<double> ref(x.size());
    for (size_t i = 0; i < x.size(); ++i) ref[i] = c.ref(x[i]);
    OpCall call{c.op, c.opset, c.attrs, {{Tensor::from_vector<float>({n}, x)}}};
    Tensor y1 = run_one(call);
    ASSERT_EQ(y1.dtype(), DataType::kFloat32);
    EXPECT_TRUE(all_close(y1.data_as<float>(), ref.data(), n, 1e-6, 2e-6, true))
        << c.op << " n=" << n << " seed=" << seed;
    call.threads = 2;
    Tensor y2 = run_one(call);
    EXPECT_EQ(std::memcmp(y1.data(), y2.data(), y1.nbytes()), 0)
        << c.op << " differs with 2 threads";
  }
}

TEST_P(UnaryFloat, Float64MatchesReference) {
  const UnaryCase c = unary_cases()[GetParam()];
  const std::vector<float> xf = random_floats(37, 7, c.lo, c.hi);
  std::vector<double> x(xf.begin(), xf.end()), ref(x.size());
  for (size_t i = 0; i < x.size(); ++i) ref[i] = c.ref(x[i]);
  Tensor y = run_one({c.op, c.opset, c.attrs, {{Tensor::from_vector<double>({37}, x)}}});
  ASSERT_EQ(y.dtype(), DataType::kFloat64);
  // Attributes are float32 in ONNX: the references above use the float-rounded values.
  EXPECT_TRUE(all_close(y.data_as<double>(), ref.data(), 37, 1e-12, 1e-9, true)) << c.op;
}

INSTANTIATE_TEST_SUITE_P(AllOps, UnaryFloat, ::testing::Range<size_t>(0, unary_cases().size()),
                         [](const ::testing::TestParamInfo<size_t>& info) {
                           return unary_cases()[info.param].op + "_" + std::to_string(info.param);
                         });

TEST(Unary, SigmoidSaturatesWithoutNaN) {
  Tensor y = run_one(
      {"Sigmoid", 13, {}, {{Tensor::from_vector<float>({4}, {-1000.f, -88.f, 88.f, 1000.f})}}});
  const float* p = y.data_as<float>();
  EXPECT_EQ(p[0], 0.0f);
  EXPECT_LT(p[1], 1e-30f);
  EXPECT_EQ(p[2], 1.0f);
  EXPECT_EQ(p[3], 1.0f);
}

TEST(Unary, ReluKeepsNaN) {
  Tensor y = run_one({"Relu", 14, {}, {{Tensor::from_vector<float>({2}, {NAN, -1.0f})}}});
  EXPECT_TRUE(std::isnan(y.data_as<float>()[0]));
  EXPECT_EQ(y.data_as<float>()[1], 0.0f);
}

TEST(Unary, IntegerReluNegAbsSign) {
  Tensor x = Tensor::from_vector<int32_t>({5}, {-7, 0, 3, INT32_MIN, INT32_MAX});
  Tensor relu = run_one({"Relu", 14, {}, {{x}}});
  EXPECT_EQ(std::vector<int32_t>(relu.data_as<int32_t>(), relu.data_as<int32_t>() + 5),
            (std::vector<int32_t>{0, 0, 3, 0, INT32_MAX}));
  Tensor neg = run_one({"Neg", 13, {}, {{x}}});
  EXPECT_EQ(std::vector<int32_t>(neg.data_as<int32_t>(), neg.data_as<int32_t>() + 5),
            (std::vector<int32_t>{7, 0, -3, INT32_MIN, -INT32_MAX}));
  Tensor abs = run_one({"Abs", 13, {}, {{Tensor::from_vector<int8_t>({3}, {-5, 5, -128})}}});
  EXPECT_EQ(abs.data_as<int8_t>()[0], 5);
  EXPECT_EQ(abs.data_as<int8_t>()[2], -128);  // wraps like two's complement
  Tensor sign = run_one({"Sign", 13, {}, {{Tensor::from_vector<int64_t>({3}, {-9, 0, 4})}}});
  EXPECT_EQ(sign.data_as<int64_t>()[0], -1);
  EXPECT_EQ(sign.data_as<int64_t>()[1], 0);
  EXPECT_EQ(sign.data_as<int64_t>()[2], 1);
}

TEST(Clip, Opset6ReadsAttributes) {
  Tensor y = run_one({"Clip",
                      6,
                      {{"min", attr_float(-1.0f)}, {"max", attr_float(2.0f)}},
                      {{Tensor::from_vector<float>({4}, {-3.f, 0.5f, 2.5f, 1.f})}}});
  const float* p = y.data_as<float>();
  EXPECT_EQ(p[0], -1.0f);
  EXPECT_EQ(p[1], 0.5f);
  EXPECT_EQ(p[2], 2.0f);
  EXPECT_EQ(p[3], 1.0f);
}

TEST(Clip, Opset13ReadsOptionalInputsAtRunTime) {
  const std::vector<float> xs = random_floats(131, 3, -10, 10);
  Tensor x = Tensor::from_vector<float>({131}, xs);
  // min only (max omitted), given as a runtime (non-constant) input.
  Tensor y = run_one({"Clip", 13, {}, {{x}, {Tensor::scalar<float>(-2.0f)}}});
  for (int i = 0; i < 131; ++i) EXPECT_EQ(y.data_as<float>()[i], std::max(xs[i], -2.0f));
  // max only.
  y = run_one({"Clip", 13, {}, {{x}, {Tensor()}, {Tensor::scalar<float>(1.5f)}}});
  for (int i = 0; i < 131; ++i) EXPECT_EQ(y.data_as<float>()[i], std::min(xs[i], 1.5f));
  // min > max gives max everywhere.
  y = run_one(
      {"Clip", 13, {}, {{x}, {Tensor::scalar<float>(3.0f)}, {Tensor::scalar<float>(1.0f)}}});
  for (int i = 0; i < 131; ++i) EXPECT_EQ(y.data_as<float>()[i], 1.0f);
}

TEST(Clip, IntegerTypes) {
  Tensor y = run_one({"Clip",
                      13,
                      {},
                      {{Tensor::from_vector<int8_t>({4}, {-100, -5, 5, 100})},
                       {Tensor::scalar<int8_t>(-10)},
                       {Tensor::scalar<int8_t>(10)}}});
  EXPECT_EQ(std::vector<int8_t>(y.data_as<int8_t>(), y.data_as<int8_t>() + 4),
            (std::vector<int8_t>{-10, -5, 5, 10}));
  y = run_one({"Clip", 12, {}, {{Tensor::from_vector<uint64_t>({2}, {0, ~uint64_t{0}})}}});
  EXPECT_EQ(y.data_as<uint64_t>()[1], ~uint64_t{0});
}

TEST(Not, FlipsBools) {
  Tensor y = run_one({"Not", 1, {}, {{bool_tensor({3}, {1, 0, 1})}}});
  ASSERT_EQ(y.dtype(), DataType::kBool);
  EXPECT_EQ(y.data_as<uint8_t>()[0], 0);
  EXPECT_EQ(y.data_as<uint8_t>()[1], 1);
}

TEST(Unary, EmptyAndScalarTensors) {
  Tensor y = run_one({"Relu", 14, {}, {{Tensor::from_vector<float>({0, 3}, {})}}});
  EXPECT_EQ(y.shape(), (Shape{0, 3}));
  y = run_one({"Exp", 13, {}, {{Tensor::scalar<float>(1.0f)}}});
  EXPECT_EQ(y.shape(), Shape{});
  EXPECT_NEAR(y.data_as<float>()[0], std::exp(1.0f), 1e-6);
}

TEST(UnaryErrors, UnsupportedTypeIsRejected) {
  auto r = run_op({"Sigmoid", 13, {}, {{Tensor::from_vector<int32_t>({2}, {1, 2})}}});
  ASSERT_FALSE(r.is_ok());
  EXPECT_EQ(r.status().code(), StatusCode::kUnsupported);
  r = run_op({"Relu", 14, {}, {{Tensor::from_vector<uint8_t>({2}, {1, 2})}}});
  EXPECT_FALSE(r.is_ok());
}

TEST(UnaryErrors, BadAttributesAreRejected) {
  auto r = run_op({"Gelu",
                   20,
                   {{"approximate", attr_string("fast")}},
                   {{Tensor::from_vector<float>({1}, {1.f})}}});
  ASSERT_FALSE(r.is_ok());
  EXPECT_EQ(r.status().code(), StatusCode::kInvalidModel);
  r = run_op(
      {"LeakyRelu", 16, {{"alpha", attr_string("x")}}, {{Tensor::from_vector<float>({1}, {1.f})}}});
  EXPECT_FALSE(r.is_ok());
  r = run_op(
      {"Celu", 12, {{"alpha", attr_float(0.0f)}}, {{Tensor::from_vector<float>({1}, {1.f})}}});
  EXPECT_FALSE(r.is_ok());
}

TEST(UnaryErrors, BadInputsAreRejected) {
  Tensor x = Tensor::from_vector<float>({3}, {1.f, 2.f, 3.f});
  auto r = run_op({"Relu", 14, {}, {{x}, {x}}});
  EXPECT_FALSE(r.is_ok());
  r = run_op({"Clip", 13, {}, {{x}, {Tensor::from_vector<float>({2}, {0.f, 1.f})}}});
  ASSERT_FALSE(r.is_ok());
  EXPECT_EQ(r.status().code(), StatusCode::kInvalidModel);
  r = run_op({"Clip", 13, {}, {{x}, {Tensor::scalar<double>(0.0)}}});
  EXPECT_FALSE(r.is_ok());
  r = run_op({"Clip", 6, {}, {{x}, {Tensor::scalar<float>(0.0f)}}});
  EXPECT_FALSE(r.is_ok());
  r = run_op({"Not", 1, {}, {{x}}});
  EXPECT_FALSE(r.is_ok());
}

}  // namespace
}  // namespace keel
