// Softmax/LogSoftmax, the Reduce* family and ArgMax/ArgMin against the double reference
// (runtime/ref/elementwise_ref): every axis, opset-specific semantics (2-D coercion before 13,
// axes attribute vs input), keepdims, empty axes and noop_with_empty_axes, empty tensors,
// thread-count independence, and malformed nodes.
#include <gtest/gtest.h>

#include <cmath>
#include <cstring>
#include <random>
#include <string>
#include <vector>

#include "ref/elementwise_ref.hpp"
#include "support/op_runner.hpp"
#include "support/test_data.hpp"
#include "support/tolerance.hpp"

namespace keel {
namespace {

using testing::random_floats;

using testing::all_close;
using testing::attr_int;
using testing::attr_ints;
using testing::OpCall;
using testing::run_op;

Tensor run_one(const OpCall& call) {
  auto r = run_op(call);
  EXPECT_TRUE(r.is_ok()) << r.status().to_string();
  if (!r.is_ok()) return {};
  return r.value()[0];
}

struct SoftmaxCase {
  const char* label;
  Shape shape;
  int64_t axis;
  int opset;
};

class Softmax : public ::testing::TestWithParam<std::tuple<SoftmaxCase, bool>> {};

TEST_P(Softmax, MatchesReference) {
  const auto& [c, log] = GetParam();
  const int64_t n = numel(c.shape);
  const std::vector<float> x = random_floats(n, static_cast<uint32_t>(n), -20, 20);
  const auto rank = static_cast<int64_t>(c.shape.size());
  const int64_t axis = c.axis < 0 ? c.axis + rank : c.axis;
  const std::vector<double> ref =
      ref::softmax(std::vector<double>(x.begin(), x.end()), c.shape, axis, log, c.opset < 13);
  OpCall call{log ? "LogSoftmax" : "Softmax",
              c.opset,
              {{"axis", attr_int(c.axis)}},
              {{Tensor::from_vector<float>(c.shape, x)}}};
  Tensor y1 = run_one(call);
  ASSERT_EQ(y1.shape(), c.shape);
  EXPECT_TRUE(all_close(y1.data_as<float>(), ref.data(), n, 1e-6, 1e-5, true)) << c.label;
  call.threads = 2;
  Tensor y2 = run_one(call);
  EXPECT_EQ(std::memcmp(y1.data(), y2.data(), y1.nbytes()), 0);
}

INSTANTIATE_TEST_SUITE_P(
    Cases, Softmax,
    ::testing::Combine(::testing::Values(SoftmaxCase{"last_axis_3x1", {3, 1}, -1, 13},
                                         SoftmaxCase{"last_axis_13x127", {13, 127}, -1, 13},
                                         SoftmaxCase{"axis0_3x4x5", {3, 4, 5}, 0, 13},
                                         SoftmaxCase{"axis1_3x4x5", {3, 4, 5}, 1, 13},
                                         SoftmaxCase{"axis1_wide_inner", {2, 7, 300}, 1, 13},
                                         SoftmaxCase{"rows_4000x100", {4000, 100}, 1, 13},
                                         SoftmaxCase{"opset11_coerced_axis1", {3, 4, 5}, 1, 11},
                                         SoftmaxCase{"opset11_coerced_axis0", {3, 4, 5}, 0, 11},
                                         SoftmaxCase{"opset1_coerced_axis2", {2, 3, 4}, 2, 1}),
                       ::testing::Bool()),
    [](const auto& info) {
      return std::string(std::get<0>(info.param).label) +
             (std::get<1>(info.param) ? "_log" : "_softmax");
    });

TEST(SoftmaxEdge, LargeValuesStayFinite) {
  Tensor x = Tensor::from_vector<float>({1, 4}, {1000.f, 1001.f, 1002.f, 1003.f});
  Tensor y = run_one({"Softmax", 13, {}, {{x}}});
  Tensor l = run_one({"LogSoftmax", 13, {}, {{x}}});
  const std::vector<double> ref = ref::softmax({1000, 1001, 1002, 1003}, {1, 4}, 1, false, false);
  const std::vector<double> lref = ref::softmax({1000, 1001, 1002, 1003}, {1, 4}, 1, true, false);
  EXPECT_TRUE(all_close(y.data_as<float>(), ref.data(), 4, 1e-7, 1e-5));
  EXPECT_TRUE(all_close(l.data_as<float>(), lref.data(), 4, 1e-6, 1e-5));
}

TEST(SoftmaxEdge, Errors) {
  Tensor x = Tensor::from_vector<float>({2, 3}, {1, 2, 3, 4, 5, 6});
  auto r = run_op({"Softmax", 13, {{"axis", attr_int(2)}}, {{x}}});
  ASSERT_FALSE(r.is_ok());
  EXPECT_EQ(r.status().code(), StatusCode::kInvalidModel);
  r = run_op({"Softmax", 13, {}, {{Tensor::from_vector<int32_t>({2}, {1, 2})}}});
  ASSERT_FALSE(r.is_ok());
  EXPECT_EQ(r.status().code(), StatusCode::kUnsupported);
  r = run_op({"LogSoftmax", 13, {}, {{Tensor::scalar<float>(1.0f)}}});
  EXPECT_FALSE(r.is_ok());
}

struct ReduceCase {
  const char* label;
  Shape shape;
  std::vector<int64_t> axes;  // empty: all
};

const std::vector<ReduceCase>& reduce_cases() {
  static const std::vector<ReduceCase> cases = {
      {"all_3x2x2", {3, 2, 2}, {}},
      {"last_13x127", {13, 127}, {1}},
      {"first_127x13", {127, 13}, {0}},
      {"middle_3x4x5", {3, 4, 5}, {1}},
      {"spatial_2x13x7x7", {2, 13, 7, 7}, {2, 3}},
      {"negative_axis", {3, 4, 5}, {-1}},
      {"non_contiguous_0_2", {3, 4, 5}, {0, 2}},
      {"alternating_1_3", {2, 3, 4, 5, 2}, {1, 3}},
      {"wide_columns", {5, 600}, {0}},
      {"scalar_like", {1, 1, 9}, {2}},
  };
  return cases;
}

const std::vector<std::pair<const char*, const char*>>& reduce_ops() {
  static const std::vector<std::pair<const char*, const char*>> ops = {
      {"ReduceSum", "sum"},        {"ReduceMean", "mean"},
      {"ReduceMax", "max"},        {"ReduceMin", "min"},
      {"ReduceProd", "prod"},      {"ReduceL1", "l1"},
      {"ReduceL2", "l2"},          {"ReduceSumSquare", "sum_square"},
      {"ReduceLogSum", "log_sum"}, {"ReduceLogSumExp", "log_sum_exp"},
  };
  return ops;
}

class Reduce : public ::testing::TestWithParam<std::tuple<size_t, size_t, bool>> {};

TEST_P(Reduce, MatchesReferenceWithAxesAsAttributeAndAsInput) {
  const auto& [op, kind] = reduce_ops()[std::get<0>(GetParam())];
  const ReduceCase& c = reduce_cases()[std::get<1>(GetParam())];
  const bool keepdims = std::get<2>(GetParam());
  const int64_t n = numel(c.shape);
  const std::string k = kind;
  // Products and log-sums need inputs that keep the result in range.
  const float lo = (k == "prod") ? 0.7f : (k == "log_sum" ? 0.1f : -3.0f);
  const float hi = (k == "prod") ? 1.3f : 3.0f;
  const std::vector<float> x = random_floats(n, static_cast<uint32_t>(n + 17), lo, hi);
  const auto rank = static_cast<int64_t>(c.shape.size());
  std::vector<bool> reduced(c.shape.size(), c.axes.empty());
  for (int64_t a : c.axes) reduced[a < 0 ? a + rank : a] = true;
  const std::vector<double> ref =
      ref::reduce(std::vector<double>(x.begin(), x.end()), c.shape, reduced, k);
  Shape want;
  for (size_t d = 0; d < c.shape.size(); ++d) {
    if (!reduced[d])
      want.push_back(c.shape[d]);
    else if (keepdims)
      want.push_back(1);
  }
  const Tensor xt = Tensor::from_vector<float>(c.shape, x);
  // Opset 13 (attribute, except ReduceSum) and opset 18 (input).
  std::vector<OpCall> calls;
  OpCall legacy{op, 13, {{"keepdims", attr_int(keepdims)}}, {{xt}}};
  if (k == "sum") {
    legacy.opset = 11;
  }
  if (!c.axes.empty()) legacy.attributes["axes"] = attr_ints(c.axes);
  calls.push_back(legacy);
  OpCall modern{op, 18, {{"keepdims", attr_int(keepdims)}}, {{xt}}};
  if (!c.axes.empty()) {
    modern.inputs.push_back(
        {Tensor::from_vector<int64_t>({static_cast<int64_t>(c.axes.size())}, c.axes), true});
  }
  calls.push_back(modern);
  for (OpCall& call : calls) {
    Tensor y1 = run_one(call);
    ASSERT_EQ(y1.shape(), want) << op << " opset " << call.opset;
    EXPECT_TRUE(all_close(y1.data_as<float>(), ref.data(), y1.numel(), 1e-5, 1e-5, true))
        << op << " " << c.label << " opset " << call.opset;
    call.threads = 2;
    Tensor y2 = run_one(call);
    EXPECT_EQ(std::memcmp(y1.data(), y2.data(), y1.nbytes()), 0);
  }
}

INSTANTIATE_TEST_SUITE_P(OpsTimesShapes, Reduce,
                         ::testing::Combine(::testing::Range<size_t>(0, reduce_ops().size()),
                                            ::testing::Range<size_t>(0, reduce_cases().size()),
                                            ::testing::Bool()),
                         [](const auto& info) {
                           return std::string(reduce_ops()[std::get<0>(info.param)].first) + "_" +
                                  reduce_cases()[std::get<1>(info.param)].label +
                                  (std::get<2>(info.param) ? "_keepdims" : "_dropdims");
                         });

TEST(ReduceEdge, EmptyAxesInputWithNoopIsIdentity) {
  Tensor x = Tensor::from_vector<float>({2, 2}, {1, 2, 3, 4});
  Tensor empty_axes = Tensor::from_vector<int64_t>({0}, {});
  Tensor y = run_one(
      {"ReduceSum", 13, {{"noop_with_empty_axes", attr_int(1)}}, {{x}, {empty_axes, true}}});
  ASSERT_EQ(y.shape(), (Shape{2, 2}));
  EXPECT_EQ(y.data_as<float>()[3], 4.0f);
  y = run_one({"ReduceSum", 13, {}, {{x}, {empty_axes, true}}});
  ASSERT_EQ(y.shape(), (Shape{1, 1}));
  EXPECT_EQ(y.data_as<float>()[0], 10.0f);
  y = run_one({"ReduceSumSquare", 18, {{"noop_with_empty_axes", attr_int(1)}}, {{x}}});
  ASSERT_EQ(y.shape(), (Shape{2, 2}));
  EXPECT_EQ(y.data_as<float>()[3], 16.0f);
}

TEST(ReduceEdge, EmptyReductionGivesIdentityValues) {
  Tensor x = Tensor::from_vector<float>({2, 0, 4}, {});
  Tensor axes = Tensor::from_vector<int64_t>({1}, {1});
  const std::map<std::string, float> want = {
      {"ReduceSum", 0.0f},     {"ReduceProd", 1.0f}, {"ReduceMax", -INFINITY},
      {"ReduceMin", INFINITY}, {"ReduceL2", 0.0f},   {"ReduceLogSumExp", -INFINITY}};
  for (const auto& [op, v] : want) {
    Tensor y = run_one({op, 18, {}, {{x}, {axes, true}}});
    ASSERT_EQ(y.shape(), (Shape{2, 1, 4})) << op;
    for (int i = 0; i < 8; ++i) EXPECT_EQ(y.data_as<float>()[i], v) << op;
  }
  Tensor mean = run_one({"ReduceMean", 18, {}, {{x}, {axes, true}}});
  EXPECT_TRUE(std::isnan(mean.data_as<float>()[0]));
  // Reducing a non-empty axis of an empty tensor gives an empty output.
  Tensor y = run_one({"ReduceSum", 13, {}, {{x}, {Tensor::from_vector<int64_t>({1}, {2}), true}}});
  EXPECT_EQ(y.shape(), (Shape{2, 0, 1}));
}

TEST(ReduceEdge, IntegerTypes) {
  Tensor x = Tensor::from_vector<int64_t>({2, 3}, {1, -2, 3, 4, 5, -6});
  Tensor y = run_one({"ReduceSum",
                      13,
                      {{"keepdims", attr_int(0)}},
                      {{x}, {Tensor::from_vector<int64_t>({1}, {1}), true}}});
  EXPECT_EQ(y.data_as<int64_t>()[0], 2);
  EXPECT_EQ(y.data_as<int64_t>()[1], 3);
  y = run_one({"ReduceMax", 13, {{"axes", attr_ints({0})}}, {{x}}});
  EXPECT_EQ(y.data_as<int64_t>()[2], 3);
  y = run_one({"ReduceProd", 13, {}, {{Tensor::from_vector<int32_t>({4}, {2, 3, -4, 5})}}});
  EXPECT_EQ(y.data_as<int32_t>()[0], -120);
  y = run_one({"ReduceMean", 13, {}, {{Tensor::from_vector<int32_t>({3}, {1, 2, 4})}}});
  EXPECT_EQ(y.data_as<int32_t>()[0], 2);
}

TEST(ReduceEdge, LargeRowsAreThreadCountIndependent) {
  const std::vector<float> x = random_floats(64 * 4099, 9, -1, 1);
  for (const char* op : {"ReduceMean", "ReduceL2"}) {
    OpCall call{op, 13, {{"axes", attr_ints({1})}}, {{Tensor::from_vector<float>({64, 4099}, x)}}};
    Tensor a = run_one(call);
    call.threads = 2;
    Tensor b = run_one(call);
    EXPECT_EQ(std::memcmp(a.data(), b.data(), a.nbytes()), 0) << op;
  }
}

TEST(ReduceEdge, Errors) {
  Tensor x = Tensor::from_vector<float>({2, 3}, {1, 2, 3, 4, 5, 6});
  auto r = run_op({"ReduceMean", 13, {{"axes", attr_ints({2})}}, {{x}}});
  ASSERT_FALSE(r.is_ok());
  EXPECT_EQ(r.status().code(), StatusCode::kInvalidModel);
  r = run_op({"ReduceMean", 13, {{"axes", attr_ints({1, -1})}}, {{x}}});
  EXPECT_FALSE(r.is_ok());  // repeated axis
  r = run_op({"ReduceMean", 13, {{"keepdims", attr_int(2)}}, {{x}}});
  EXPECT_FALSE(r.is_ok());
  // Axes input that is not known at plan time.
  r = run_op({"ReduceSum", 13, {}, {{x}, {Tensor::from_vector<int64_t>({1}, {0}), false}}});
  ASSERT_FALSE(r.is_ok());
  EXPECT_EQ(r.status().code(), StatusCode::kUnsupported);
  // Axes given as an attribute where the opset takes an input.
  r = run_op({"ReduceMean", 18, {{"axes", attr_ints({0})}}, {{x}}});
  EXPECT_FALSE(r.is_ok());
  // An axes input where the opset takes an attribute.
  r = run_op({"ReduceMean", 13, {}, {{x}, {Tensor::from_vector<int64_t>({1}, {0}), true}}});
  EXPECT_FALSE(r.is_ok());
  r = run_op({"ReduceSum", 13, {}, {{x}, {Tensor::from_vector<int32_t>({1}, {0}), true}}});
  EXPECT_FALSE(r.is_ok());
}

TEST(ArgMax, AxisKeepdimsAndSelectLastIndex) {
  Tensor x = Tensor::from_vector<float>({2, 3}, {1, 5, 5, 7, 2, 7});
  Tensor y = run_one({"ArgMax", 13, {{"axis", attr_int(1)}}, {{x}}});
  ASSERT_EQ(y.dtype(), DataType::kInt64);
  ASSERT_EQ(y.shape(), (Shape{2, 1}));
  EXPECT_EQ(y.data_as<int64_t>()[0], 1);
  EXPECT_EQ(y.data_as<int64_t>()[1], 0);
  y = run_one(
      {"ArgMax",
       13,
       {{"axis", attr_int(1)}, {"select_last_index", attr_int(1)}, {"keepdims", attr_int(0)}},
       {{x}}});
  ASSERT_EQ(y.shape(), (Shape{2}));
  EXPECT_EQ(y.data_as<int64_t>()[0], 2);
  EXPECT_EQ(y.data_as<int64_t>()[1], 2);
  y = run_one({"ArgMin", 13, {{"axis", attr_int(0)}}, {{x}}});
  ASSERT_EQ(y.shape(), (Shape{1, 3}));
  EXPECT_EQ(y.data_as<int64_t>()[0], 0);
  EXPECT_EQ(y.data_as<int64_t>()[1], 1);
  EXPECT_EQ(y.data_as<int64_t>()[2], 0);
  auto r = run_op({"ArgMax", 13, {{"axis", attr_int(2)}}, {{x}}});
  EXPECT_FALSE(r.is_ok());
  r = run_op({"ArgMax", 13, {}, {{Tensor::from_vector<float>({0, 2}, {})}}});
  EXPECT_FALSE(r.is_ok());
}

}  // namespace
}  // namespace keel
