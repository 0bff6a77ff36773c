// MatMulInteger against a scalar reference: every signedness pair, per-tensor and per-row /
// per-column zero points, broadcast batches, constant B (subtracted once at plan time) and
// run-time B, two threads; and the shapes it refuses.
#include <gtest/gtest.h>

#include <random>
#include <vector>

#include "support/op_runner.hpp"

namespace keel {
namespace {

using testing::OpCall;
using testing::run_op;

template <typename T>
std::vector<T> random_values(size_t n, std::mt19937& rng) {
  std::uniform_int_distribution<int> d(std::numeric_limits<T>::min(),
                                       std::numeric_limits<T>::max());
  std::vector<T> v(n);
  for (T& x : v) x = static_cast<T>(d(rng));
  return v;
}

template <typename TA, typename TB>
void check(bool per_row_and_column, bool constant_b) {
  SCOPED_TRACE(std::string(dtype_name(dtype_of<TA>())) + " x " + dtype_name(dtype_of<TB>()) +
               (per_row_and_column ? ", per row/column" : ", per tensor") +
               (constant_b ? ", constant B" : ", run-time B"));
  std::mt19937 rng(11);
  const int64_t batch = 3, m = 17, k = 70, n = 33;
  const auto a = random_values<TA>(static_cast<size_t>(batch * m * k), rng);
  const auto b = random_values<TB>(static_cast<size_t>(k * n), rng);
  const auto za = random_values<TA>(per_row_and_column ? m : 1, rng);
  const auto zb = random_values<TB>(per_row_and_column ? n : 1, rng);
  const Shape za_shape = per_row_and_column ? Shape{m} : Shape{};
  const Shape zb_shape = per_row_and_column ? Shape{n} : Shape{};
  OpCall call("MatMulInteger", 10, {},
              {{Tensor::from_vector({batch, m, k}, a)},
               {Tensor::from_vector({k, n}, b), constant_b},
               {Tensor::from_vector(za_shape, za), true},
               {Tensor::from_vector(zb_shape, zb), true}});
  call.threads = 2;
  auto r = run_op(call);
  ASSERT_TRUE(r.is_ok()) << r.status().to_string();
  ASSERT_EQ((*r)[0].shape(), (Shape{batch, m, n}));
  const int32_t* y = (*r)[0].data_as<int32_t>();
  for (int64_t t = 0; t < batch; ++t)
    for (int64_t i = 0; i < m; ++i)
      for (int64_t j = 0; j < n; ++j) {
        int64_t want = 0;
        for (int64_t p = 0; p < k; ++p) {
          want += (int64_t{a[static_cast<size_t>((t * m + i) * k + p)]} -
                   za[per_row_and_column ? static_cast<size_t>(i) : 0]) *
                  (int64_t{b[static_cast<size_t>(p * n + j)]} -
                   zb[per_row_and_column ? static_cast<size_t>(j) : 0]);
        }
        ASSERT_EQ(y[(t * m + i) * n + j], want) << t << "," << i << "," << j;
      }
}

TEST(MatMulInteger, MatchesTheReferenceForEveryTypePairAndZeroPointForm) {
  for (bool per : {false, true})
    for (bool constant : {false, true}) {
      check<uint8_t, int8_t>(per, constant);
      check<uint8_t, uint8_t>(per, constant);
      check<int8_t, int8_t>(per, constant);
      check<int8_t, uint8_t>(per, constant);
    }
}

TEST(MatMulInteger, BroadcastBatchesAndNoZeroPoints) {
  // A [2,1,3,4] x B [5,4,2] -> [2,5,3,2].
  std::vector<uint8_t> a(24), b(40);
  for (size_t i = 0; i < a.size(); ++i) a[i] = static_cast<uint8_t>(i * 7 % 251);
  for (size_t i = 0; i < b.size(); ++i) b[i] = static_cast<uint8_t>(i * 13 % 253);
  auto r = run_op({"MatMulInteger",
                   10,
                   {},
                   {{Tensor::from_vector({2, 1, 3, 4}, a)}, {Tensor::from_vector({5, 4, 2}, b)}}});
  ASSERT_TRUE(r.is_ok()) << r.status().to_string();
  ASSERT_EQ((*r)[0].shape(), (Shape{2, 5, 3, 2}));
  const int32_t* y = (*r)[0].data_as<int32_t>();
  for (int64_t s = 0; s < 2; ++s)
    for (int64_t t = 0; t < 5; ++t)
      for (int64_t i = 0; i < 3; ++i)
        for (int64_t j = 0; j < 2; ++j) {
          int32_t want = 0;
          for (int64_t p = 0; p < 4; ++p)
            want += a[static_cast<size_t>(s * 12 + i * 4 + p)] *
                    b[static_cast<size_t>(t * 8 + p * 2 + j)];
          EXPECT_EQ(y[((s * 5 + t) * 3 + i) * 2 + j], want);
        }
}

TEST(MatMulInteger, RefusesOtherTypesAndZeroPointShapes) {
  const Tensor a = Tensor::from_vector({2, 3}, std::vector<uint8_t>(6, 1));
  const Tensor b = Tensor::from_vector({3, 2}, std::vector<int8_t>(6, 1));
  auto r = run_op(
      {"MatMulInteger", 10, {}, {{Tensor::from_vector({2, 3}, std::vector<int32_t>(6, 1))}, {b}}});
  EXPECT_EQ(r.status().code(), StatusCode::kInvalidModel);
  r = run_op({"MatMulInteger",
              10,
              {},
              {{a}, {b}, {Tensor::from_vector({3}, std::vector<uint8_t>(3, 1))}}});
  EXPECT_EQ(r.status().code(), StatusCode::kUnsupported);  // 3 is neither 1 nor M = 2
  r = run_op({"MatMulInteger", 10, {}, {{a}, {b}, {Tensor::scalar(int8_t{1})}}});
  EXPECT_EQ(r.status().code(), StatusCode::kInvalidModel);  // zero point type differs from A's
}

}  // namespace
}  // namespace keel
