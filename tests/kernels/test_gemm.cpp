// Gemm and MatMul ops against the double reference (every ISA tier the host has).
#include <gtest/gtest.h>

#include <cmath>
#include <cstring>
#include <map>
#include <random>
#include <string>
#include <vector>

#include "core/cpu_features.hpp"
#include "ref/gemm_ref.hpp"
#include "support/op_runner.hpp"
#include "support/test_data.hpp"
#include "support/tolerance.hpp"

namespace keel {
namespace {

using testing::host_tiers;
using testing::random_tensor;

using testing::attr_float;
using testing::attr_int;
using testing::OpCall;

struct GemmCase {
  int64_t m, n, k;
  bool ta, tb;
  float alpha, beta;
  Shape c;  // {} with has_c = false: no C
  bool has_c;
  bool const_b;
};

void run_gemm_case(const GemmCase& g, Isa isa, uint32_t seed) {
  SCOPED_TRACE("m" + std::to_string(g.m) + "_n" + std::to_string(g.n) + "_k" + std::to_string(g.k) +
               (g.ta ? "_ta" : "") + (g.tb ? "_tb" : "") + "_c" + shape_to_string(g.c) + "_" +
               isa_name(isa) + " seed " + std::to_string(seed));
  Tensor a = random_tensor(g.ta ? Shape{g.k, g.m} : Shape{g.m, g.k}, seed);
  Tensor b = random_tensor(g.tb ? Shape{g.n, g.k} : Shape{g.k, g.n}, seed + 1);
  Tensor c = random_tensor(g.c, seed + 2);
  OpCall call;
  call.op_type = "Gemm";
  call.opset = 13;
  call.attributes["transA"] = attr_int(g.ta);
  call.attributes["transB"] = attr_int(g.tb);
  call.attributes["alpha"] = attr_float(g.alpha);
  call.attributes["beta"] = attr_float(g.beta);
  call.inputs = {{a, false}, {b, g.const_b}};
  if (g.has_c) call.inputs.push_back({c, true});
  set_isa_cap_for_testing(isa);
  auto got = testing::run_op(call);
  set_isa_cap_for_testing(std::nullopt);
  ASSERT_TRUE(got.is_ok()) << got.status().to_string();
  ASSERT_EQ((*got)[0].shape(), (Shape{g.m, g.n}));
  // Expected: broadcast C into the output, then the reference with beta.
  std::vector<float> want(static_cast<size_t>(g.m * g.n), 0.0f);
  if (g.has_c) {
    const int64_t cr = g.c.size() == 2 ? g.c[0] : 1, cc = g.c.empty() ? 1 : g.c.back();
    for (int64_t i = 0; i < g.m; ++i) {
      for (int64_t j = 0; j < g.n; ++j) {
        want[i * g.n + j] = c.data_as<float>()[(cr == 1 ? 0 : i) * cc + (cc == 1 ? 0 : j)];
      }
    }
  }
  ref::gemm(g.m, g.n, g.k, g.alpha, a.data_as<float>(), g.ta ? g.m : g.k, g.ta, b.data_as<float>(),
            g.tb ? g.k : g.n, g.tb, g.has_c ? g.beta : 0.0f, want.data(), g.n);
  EXPECT_TRUE(testing::all_close((*got)[0].data_as<float>(), want.data(), g.m * g.n, 1e-5,
                                 1e-5 * (1 + std::sqrt(static_cast<double>(g.k)))));
}

TEST(Gemm, MatchesReferenceOnEveryTier) {
  const std::vector<GemmCase> cases = {
      {1, 1, 1, false, false, 1.0f, 1.0f, {}, false, true},
      {13, 7, 33, false, false, 1.0f, 1.0f, {7}, true, true},
      {13, 7, 33, true, false, 0.5f, 1.0f, {1, 7}, true, false},
      {5, 127, 64, false, true, 1.0f, 1.0f, {5, 1}, true, true},
      {6, 31, 300, true, true, 0.25f, 0.35f, {6, 31}, true, true},
      {3, 4, 5, false, false, 1.0f, 2.0f, {}, true, false},  // scalar C
      {127, 13, 3, false, true, -1.0f, 0.0f, {127, 13}, true, true},
  };
  uint32_t seed = 1;
  for (Isa isa : host_tiers()) {
    for (const auto& c : cases) run_gemm_case(c, isa, seed++);
  }
}

Status gemm_status(Shape a, Shape b, std::vector<Shape> c, int opset = 13,
                   std::map<std::string, Attribute> attrs = {}) {
  OpCall call;
  call.op_type = "Gemm";
  call.opset = opset;
  call.attributes = std::move(attrs);
  call.inputs = {{Tensor::allocate(DataType::kFloat32, std::move(a)).value(), false},
                 {Tensor::allocate(DataType::kFloat32, std::move(b)).value(), true}};
  for (Shape& s : c) {
    call.inputs.push_back({Tensor::allocate(DataType::kFloat32, std::move(s)).value(), true});
  }
  auto r = testing::run_op(call);
  return r.is_ok() ? Status::ok() : r.status();
}

TEST(Gemm, RejectsMalformedNodes) {
  EXPECT_EQ(gemm_status({2, 3}, {4, 5}, {}).code(), StatusCode::kInvalidModel);
  EXPECT_EQ(gemm_status({2, 3, 1}, {3, 5}, {}).code(), StatusCode::kInvalidModel);
  EXPECT_EQ(gemm_status({2, 3}, {3, 5}, {{3}}).code(), StatusCode::kInvalidModel);
  EXPECT_EQ(gemm_status({2, 3}, {3, 5}, {{2, 5, 1}}).code(), StatusCode::kInvalidModel);
  EXPECT_EQ(gemm_status({2, 3}, {3, 5}, {}, 13, {{"transA", attr_int(2)}}).code(),
            StatusCode::kInvalidModel);
  EXPECT_EQ(gemm_status({2, 3}, {3, 5}, {}, 9).code(), StatusCode::kInvalidModel);  // C needed
  EXPECT_EQ(gemm_status({2, 3}, {3, 5}, {{5}}, 6).code(), StatusCode::kInvalidModel);
  EXPECT_TRUE(gemm_status({2, 3}, {3, 5}, {{5}}, 6, {{"broadcast", attr_int(1)}}).is_ok());
  EXPECT_TRUE(
      gemm_status({3, 2}, {5, 3}, {{2, 1}}, 13, {{"transA", attr_int(1)}, {"transB", attr_int(1)}})
          .is_ok());
}

// -------------------------------------------------------------------------------- MatMul

// Reference MatMul with numpy semantics, via explicit broadcasting of batch indices.
std::vector<double> matmul_ref(const Tensor& a, const Tensor& b, const Shape& out) {
  Shape as = a.shape(), bs = b.shape();
  if (as.size() == 1) as.insert(as.begin(), 1);
  if (bs.size() == 1) bs.push_back(1);
  const int64_t m = as[as.size() - 2], k = as.back(), n = bs.back();
  const size_t nb = std::max(as.size(), bs.size()) - 2;
  Shape batch(nb);
  for (size_t i = 0; i < nb; ++i) {
    const int64_t da = i + as.size() - 2 >= nb ? as[i + as.size() - 2 - nb] : 1;
    const int64_t db = i + bs.size() - 2 >= nb ? bs[i + bs.size() - 2 - nb] : 1;
    batch[i] = std::max(da, db);
  }
  std::vector<double> y(static_cast<size_t>(numel(out)));
  const int64_t nbatch = numel(batch);
  for (int64_t t = 0; t < nbatch; ++t) {
    // Decompose t into batch indices and map to A and B offsets.
    int64_t rem = t, oa = 0, ob = 0, sa = 1, sb = 1;
    for (size_t i = nb; i-- > 0;) {
      const int64_t idx = rem % batch[i];
      rem /= batch[i];
      if (i + as.size() - 2 >= nb) {
        const int64_t d = as[i + as.size() - 2 - nb];
        oa += (d == 1 ? 0 : idx) * sa;
        sa *= d;
      }
      if (i + bs.size() - 2 >= nb) {
        const int64_t d = bs[i + bs.size() - 2 - nb];
        ob += (d == 1 ? 0 : idx) * sb;
        sb *= d;
      }
    }
    for (int64_t i = 0; i < m; ++i) {
      for (int64_t j = 0; j < n; ++j) {
        double acc = 0;
        for (int64_t p = 0; p < k; ++p) {
          acc += static_cast<double>(a.data_as<float>()[oa * m * k + i * k + p]) *
                 b.data_as<float>()[ob * k * n + p * n + j];
        }
        y[t * m * n + i * n + j] = acc;
      }
    }
  }
  return y;
}

TEST(MatMul, BroadcastingAndVectorPromotion) {
  struct Case {
    Shape a, b, out;
    bool const_b;
  };
  const std::vector<Case> cases = {
      {{3}, {3}, {}, false},
      {{4}, {2, 4, 1}, {2, 1}, false},
      {{1, 2, 4, 3}, {3}, {1, 2, 4}, true},
      {{13, 33}, {33, 7}, {13, 7}, true},
      {{2, 5, 13, 33}, {33, 127}, {2, 5, 13, 127}, true},  // batch folded into M, packed B
      {{3, 1, 3, 4}, {1, 2, 4, 2}, {3, 2, 3, 2}, false},
      {{2, 7, 9}, {2, 9, 6}, {2, 7, 6}, true},
      {{6, 5}, {4, 5, 3}, {4, 6, 3}, false},
  };
  uint32_t seed = 40;
  for (Isa isa : host_tiers()) {
    for (const Case& c : cases) {
      SCOPED_TRACE(shape_to_string(c.a) + " x " + shape_to_string(c.b) + " " + isa_name(isa));
      Tensor a = random_tensor(c.a, seed++), b = random_tensor(c.b, seed++);
      OpCall call;
      call.op_type = "MatMul";
      call.opset = 13;
      call.inputs = {{a, false}, {b, c.const_b}};
      set_isa_cap_for_testing(isa);
      auto got = testing::run_op(call);
      set_isa_cap_for_testing(std::nullopt);
      ASSERT_TRUE(got.is_ok()) << got.status().to_string();
      ASSERT_EQ((*got)[0].shape(), c.out);
      const std::vector<double> want = matmul_ref(a, b, c.out);
      EXPECT_TRUE(testing::all_close((*got)[0].data_as<float>(), want.data(),
                                     static_cast<int64_t>(want.size()), 1e-5, 1e-4));
    }
  }
}

// NodeDecisions::precision bf16 (passes/choose_precision.cpp): constant B packed in bfloat16,
// or both operands activations (attention), batched, broadcast or folded into one GEMM; within
// what 8-bit significands allow (about 2^-10 * sqrt(K) for values in [-1, 1), 4x that here).
TEST(MatMul, Bf16WithinItsBound) {
  struct Case {
    Shape a, b, out;
    bool const_b;
  };
  const std::vector<Case> cases = {
      {{13, 33}, {33, 7}, {13, 7}, true},
      {{2, 5, 13, 33}, {33, 127}, {2, 5, 13, 127}, true},
      {{37, 70}, {70, 50}, {37, 50}, false},                  // one GEMM, B packed per run
      {{2, 4, 16, 8}, {2, 4, 8, 16}, {2, 4, 16, 16}, false},  // attention's Q K^T per head
      {{3, 1, 3, 4}, {1, 2, 4, 2}, {3, 2, 3, 2}, false},
      {{6, 5}, {4, 5, 3}, {4, 6, 3}, false},
  };
  uint32_t seed = 400;
  for (Isa isa : host_tiers()) {
    for (const Case& c : cases) {
      SCOPED_TRACE(shape_to_string(c.a) + " x " + shape_to_string(c.b) + " bf16 " + isa_name(isa));
      Tensor a = random_tensor(c.a, seed++), b = random_tensor(c.b, seed++);
      OpCall call;
      call.op_type = "MatMul";
      call.opset = 13;
      call.inputs = {{a, false}, {b, c.const_b}};
      call.decisions.precision = Precision::kBf16;
      set_isa_cap_for_testing(isa);
      auto got = testing::run_op(call);
      set_isa_cap_for_testing(std::nullopt);
      ASSERT_TRUE(got.is_ok()) << got.status().to_string();
      ASSERT_EQ((*got)[0].shape(), c.out);
      const std::vector<double> want = matmul_ref(a, b, c.out);
      const double k = static_cast<double>(c.a.back());
      EXPECT_TRUE(testing::all_close((*got)[0].data_as<float>(), want.data(),
                                     static_cast<int64_t>(want.size()), 4.0 / 1024 * std::sqrt(k),
                                     0.0));
      // Not the float32 numbers: the bfloat16 path ran.
      call.decisions.precision = Precision::kFp32;
      auto exact = testing::run_op(call);
      ASSERT_TRUE(exact.is_ok());
      EXPECT_NE(0, std::memcmp((*got)[0].data(), (*exact)[0].data(), (*got)[0].nbytes()));
    }
  }
}

TEST(MatMul, Int64ForShapeArithmetic) {
  Tensor a = Tensor::from_vector<int64_t>({2, 2}, {1, 2, 3, 4});
  Tensor b = Tensor::from_vector<int64_t>({2}, {10, 100});
  OpCall call;
  call.op_type = "MatMul";
  call.inputs = {{a, true}, {b, true}};
  auto got = testing::run_op(call);
  ASSERT_TRUE(got.is_ok()) << got.status().to_string();
  ASSERT_EQ((*got)[0].shape(), (Shape{2}));
  EXPECT_EQ((*got)[0].data_as<int64_t>()[0], 210);
  EXPECT_EQ((*got)[0].data_as<int64_t>()[1], 430);
}

TEST(MatMul, RejectsMismatchedShapesAndTypes) {
  auto status = [](Shape a, Shape b, DataType tb = DataType::kFloat32) {
    OpCall call;
    call.op_type = "MatMul";
    call.inputs = {{Tensor::allocate(DataType::kFloat32, std::move(a)).value(), false},
                   {Tensor::allocate(tb, std::move(b)).value(), false}};
    auto r = testing::run_op(call);
    return r.is_ok() ? StatusCode::kOk : r.status().code();
  };
  EXPECT_EQ(status({2, 3}, {4, 5}), StatusCode::kInvalidModel);
  EXPECT_EQ(status({2, 2, 3}, {3, 3, 5}), StatusCode::kInvalidModel);
  EXPECT_EQ(status({2, 3}, {3, 5}, DataType::kInt64), StatusCode::kInvalidModel);
  EXPECT_EQ(status({}, {3}), StatusCode::kInvalidModel);
  EXPECT_EQ(status({0, 3}, {3, 5}), StatusCode::kOk);
}

}  // namespace
}  // namespace keel
