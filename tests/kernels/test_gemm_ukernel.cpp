// The SGEMM driver and microkernels against the double reference, on every ISA tier the
// host has, for sizes around the tile edges, with every epilogue option.
#include <gtest/gtest.h>
#include <tbb/task_arena.h>

#include <algorithm>
#include <cmath>
#include <random>
#include <string>
#include <vector>

#include "core/cpu_features.hpp"
#include "ref/activation_ref.hpp"
#include "ref/gemm_ref.hpp"
#include "support/test_data.hpp"
#include "support/tolerance.hpp"
#include "ukernels/sgemm.hpp"

namespace keel {
namespace {

using testing::host_tiers;
using testing::random_floats;

double rtol_for(int64_t k) { return 1e-5 * (1.0 + std::sqrt(static_cast<double>(k))); }

struct Case {
  int64_t m, n, k;
  bool ta, tb;
};

void check_case(Isa isa, const Case& cs, uint32_t seed) {
  SCOPED_TRACE("isa " + std::string(isa_name(isa)) + " m" + std::to_string(cs.m) + " n" +
               std::to_string(cs.n) + " k" + std::to_string(cs.k) + " ta" + std::to_string(cs.ta) +
               " tb" + std::to_string(cs.tb) + " seed " + std::to_string(seed));
  const SgemmUkernels* uk = sgemm_ukernels(isa);
  const int64_t lda = (cs.ta ? cs.m : cs.k) + 3, ldb = (cs.tb ? cs.k : cs.n) + 1;
  const int64_t ldc = cs.n + 2;
  auto a = random_floats((cs.ta ? cs.k : cs.m) * lda, seed);
  auto b = random_floats((cs.tb ? cs.n : cs.k) * ldb, seed + 1);
  auto c0 = random_floats(cs.m * ldc, seed + 2);
  auto bias = random_floats(std::max(cs.m, cs.n), seed + 3);
  const double atol = 1e-5, rtol = rtol_for(cs.k);

  // Plain product.
  std::vector<float> got(c0), want(c0);
  sgemm(cs.m, cs.n, cs.k, a.data(), lda, cs.ta, b.data(), ldb, cs.tb, got.data(), ldc, {}, uk);
  ref::gemm(cs.m, cs.n, cs.k, 1.0f, a.data(), lda, cs.ta, b.data(), ldb, cs.tb, 0.0f, want.data(),
            ldc);
  EXPECT_TRUE(testing::all_close(got.data(), want.data(), cs.m * ldc, atol, rtol));

  // alpha, accumulate, per-row bias, residual, clamp.
  const int64_t ldr = cs.n + 5;
  auto residual = random_floats(cs.m * ldr, seed + 4);
  GemmEpilogue ep;
  ep.residual = residual.data();
  ep.ld_residual = ldr;
  ep.alpha = 0.5f;
  ep.accumulate = true;
  ep.bias_kind = GemmBias::kPerRow;
  ep.bias = bias.data();
  ep.act.kind = ActKind::kClip;
  ep.act.lo = -0.25f;
  ep.act.hi = 0.75f;
  got = c0;
  want = c0;
  sgemm(cs.m, cs.n, cs.k, a.data(), lda, cs.ta, b.data(), ldb, cs.tb, got.data(), ldc, ep, uk);
  ref::gemm(cs.m, cs.n, cs.k, 0.5f, a.data(), lda, cs.ta, b.data(), ldb, cs.tb, 1.0f, want.data(),
            ldc);
  for (int64_t i = 0; i < cs.m; ++i) {
    for (int64_t j = 0; j < cs.n; ++j) {
      float& w = want[i * ldc + j];
      w = std::min(std::max(w + bias[i] + residual[i * ldr + j], -0.25f), 0.75f);
    }
  }
  EXPECT_TRUE(testing::all_close(got.data(), want.data(), cs.m * ldc, atol, rtol, true));

  // Prepacked A with per-column bias (Relu), prepacked B: same bits as the unpacked path
  // (which reads A's rows in place when A is not transposed, and packs them when it is).
  GemmEpilogue relu;
  relu.bias_kind = GemmBias::kPerCol;
  relu.bias = bias.data();
  relu.act.kind = ActKind::kRelu;
  std::vector<float> plain(c0), packed_a(c0), packed_b(c0);
  sgemm(cs.m, cs.n, cs.k, a.data(), lda, cs.ta, b.data(), ldb, cs.tb, plain.data(), ldc, relu, uk);
  SgemmPackedA pa;
  ASSERT_TRUE(pa.pack(cs.m, cs.k, a.data(), lda, cs.ta, uk));
  sgemm_packed_a(pa, cs.n, b.data(), ldb, cs.tb, packed_a.data(), ldc, relu);
  SgemmPackedB pb;
  ASSERT_TRUE(pb.pack(cs.k, cs.n, b.data(), ldb, cs.tb, uk));
  sgemm_packed_b(cs.m, a.data(), lda, cs.ta, pb, packed_b.data(), ldc, relu);
  EXPECT_EQ(plain, packed_a);
  EXPECT_EQ(plain, packed_b);
}

TEST(Sgemm, SizesAroundTileEdgesOnEveryTier) {
  const std::vector<int64_t> sizes = {1, 5, 6, 7, 13, 31, 33, 64, 127};
  uint32_t seed = 1;
  for (Isa isa : host_tiers()) {
    for (int64_t m : sizes) {
      for (int64_t n : sizes) {
        for (int64_t k : {int64_t{1}, int64_t{7}, int64_t{33}}) {
          check_case(isa, {m, n, k, false, false}, seed++);
        }
      }
    }
  }
}

TEST(Sgemm, EveryEpilogueActivationOnEveryTier) {
  // Two K blocks (the activation applies after the last one only), edge tiles in M and N.
  const int64_t m = 13, n = 37, k = 300, ldc = n;
  auto a = random_floats(m * k, 31);
  auto b = random_floats(k * n, 32);
  auto bias = random_floats(n, 33);
  std::vector<float> product(static_cast<size_t>(m * n));
  ref::gemm(m, n, k, 1.0f, a.data(), k, false, b.data(), n, false, 0.0f, product.data(), ldc);
  for (Isa isa : host_tiers()) {
    for (int i = 0; i < ref::kActKindCount; ++i) {
      const ActParams act = ref::activation_example(i);
      SCOPED_TRACE(std::string(isa_name(isa)) + " activation " + std::to_string(i));
      GemmEpilogue ep;
      ep.bias_kind = GemmBias::kPerCol;
      ep.bias = bias.data();
      ep.act = act;
      std::vector<float> got(product.size()), want(product.size());
      sgemm(m, n, k, a.data(), k, false, b.data(), n, false, got.data(), ldc, ep,
            sgemm_ukernels(isa));
      for (int64_t r = 0; r < m; ++r) {
        for (int64_t j = 0; j < n; ++j) {
          want[r * n + j] = static_cast<float>(
              ref::activate(static_cast<double>(product[r * n + j]) + bias[j], act));
        }
      }
      EXPECT_TRUE(testing::all_close(got.data(), want.data(), m * n, 1e-5, rtol_for(k)));
    }
  }
}

TEST(Sgemm, ExpBasedActivationsAreAccurateOverTheWholeRange) {
  // C = A (a column of ones) x B (one row of values): the epilogue sees the values themselves,
  // from -120 to 120 (exp of -|v| underflows below -87) and a NaN, which must propagate.
  std::vector<float> values;
  for (float v = -120.0f; v <= 120.0f; v += 0.37f) values.push_back(v);
  for (float v : {-87.5f, -87.0f, -86.9f, -1e-7f, 0.0f, -0.0f, 1e-7f, 88.0f}) values.push_back(v);
  values.push_back(std::nanf(""));
  const int64_t m = 7, n = static_cast<int64_t>(values.size());
  const std::vector<float> ones(static_cast<size_t>(m), 1.0f);
  for (Isa isa : host_tiers()) {
    for (ActKind kind : {ActKind::kSigmoid, ActKind::kSilu}) {
      SCOPED_TRACE(std::string(isa_name(isa)) + " activation " +
                   std::to_string(static_cast<int>(kind)));
      GemmEpilogue ep;
      ep.act.kind = kind;
      std::vector<float> got(static_cast<size_t>(m * n));
      sgemm(m, n, 1, ones.data(), 1, false, values.data(), n, false, got.data(), n, ep,
            sgemm_ukernels(isa));
      for (int64_t r = 0; r < m; ++r) {
        for (int64_t j = 0; j < n; ++j) {
          const float v = values[static_cast<size_t>(j)], y = got[r * n + j];
          if (std::isnan(v)) {
            EXPECT_TRUE(std::isnan(y)) << "NaN input gave " << y;
            continue;
          }
          const double want = ref::activate(static_cast<double>(v), ep.act);
          EXPECT_NEAR(y, want, 1e-30 + 4e-7 * std::fabs(want)) << "at " << v;
        }
      }
    }
  }
}

TEST(Sgemm, TransposesAndLongK) {
  uint32_t seed = 100;
  for (Isa isa : host_tiers()) {
    for (bool ta : {false, true}) {
      for (bool tb : {false, true}) {
        check_case(isa, {13, 37, 300, ta, tb}, seed++);
        check_case(isa, {70, 33, 513, ta, tb}, seed++);
      }
    }
    check_case(isa, {200, 600, 257, false, false}, seed++);
  }
}

TEST(Sgemm, ZeroKGivesEpilogueOfZero) {
  std::vector<float> c(6, 5.0f), bias = {1, 2};
  GemmEpilogue ep;
  ep.bias_kind = GemmBias::kPerRow;
  ep.bias = bias.data();
  sgemm(2, 3, 0, nullptr, 0, false, nullptr, 3, false, c.data(), 3, ep);
  EXPECT_EQ(c, (std::vector<float>{1, 1, 1, 2, 2, 2}));
}

TEST(Sgemm, BitsDoNotDependOnThreadCount) {
  const int64_t m = 150, n = 700, k = 600;
  auto a = random_floats(m * k, 7), b = random_floats(k * n, 8);
  std::vector<float> one(m * n), many(m * n);
  tbb::task_arena(1).execute(
      [&] { sgemm(m, n, k, a.data(), k, false, b.data(), n, false, one.data(), n, {}); });
  tbb::task_arena(4).execute(
      [&] { sgemm(m, n, k, a.data(), k, false, b.data(), n, false, many.data(), n, {}); });
  EXPECT_EQ(one, many);
}

// sgemm_packed_b_f64: products and sums in double, the epilogue added in double, one rounding
// to float. Against a double reference: within half an ulp of the exactly rounded result plus
// the double sums' own error, i.e. at most one float ulp; the same bits on every tier (a float
// product is exact in double, with or without FMA) and thread count; K over several blocks and
// N with a tail.
TEST(Sgemm, Float64AccumulationIsCorrectlyRoundedOnEveryTier) {
  const int64_t k = 600, ldc = 1003;
  for (int64_t n : {int64_t{37}, int64_t{1000}}) {
    for (int64_t m = 1; m <= kSgemmF64MaxRows; ++m) {
      const int64_t lda = k + 3;
      auto a = random_floats(m * lda, 40 + static_cast<uint32_t>(m));
      auto b = random_floats(k * n, 50);
      auto bias = random_floats(n, 51);
      auto res = random_floats(m * n, 52);
      auto c0 = random_floats(m * ldc, 53);
      GemmEpilogue ep;
      ep.alpha = 0.75f;
      ep.accumulate = true;
      ep.bias_kind = GemmBias::kPerCol;
      ep.bias = bias.data();
      ep.residual = res.data();
      ep.ld_residual = n;
      std::vector<double> want(static_cast<size_t>(m * n));
      for (int64_t i = 0; i < m; ++i) {
        for (int64_t j = 0; j < n; ++j) {
          double s = 0.0;
          for (int64_t q = 0; q < k; ++q) {
            s += static_cast<double>(a[i * lda + q]) * static_cast<double>(b[q * n + j]);
          }
          want[i * n + j] = 0.75 * s + c0[i * ldc + j] + bias[j] + res[i * n + j];
        }
      }
      std::vector<float> first;
      for (Isa isa : host_tiers()) {
        for (int threads : {1, 3}) {
          SCOPED_TRACE(std::string(isa_name(isa)) + " m " + std::to_string(m) + " n " +
                       std::to_string(n) + " threads " + std::to_string(threads));
          SgemmPackedB pb;
          ASSERT_TRUE(pb.pack(k, n, b.data(), n, false, sgemm_ukernels(isa)));
          std::vector<float> got(c0);
          tbb::task_arena(threads).execute(
              [&] { sgemm_packed_b_f64(m, a.data(), lda, pb, got.data(), ldc, ep); });
          int bad = 0;
          for (int64_t i = 0; i < m; ++i) {
            for (int64_t j = 0; j < n; ++j) {
              const double w = want[i * n + j];
              const double ulp = std::ldexp(1.0, std::ilogb(static_cast<float>(w)) - 23);
              if (std::abs(got[i * ldc + j] - w) > ulp && ++bad <= 3) {
                ADD_FAILURE() << "(" << i << ", " << j << "): " << got[i * ldc + j] << " vs " << w;
              }
            }
            // Columns past N are not touched.
            for (int64_t j = n; j < ldc; ++j) ASSERT_EQ(got[i * ldc + j], c0[i * ldc + j]);
          }
          if (first.empty()) first = got;
          EXPECT_EQ(got, first);
        }
      }
    }
  }
}

// A gathered A operand: a row-major [m, lda] matrix packed by the caller's function,
// following the SgemmAGather layout contract independently of the driver's pack_a.
struct RowMajor {
  const float* a;
  int64_t lda;
};

void gather_row_major(const void* ctx, int64_t i0, int64_t mc, int64_t k0, int64_t kc, int64_t mr,
                      float* dst) {
  const RowMajor& src = *static_cast<const RowMajor*>(ctx);
  const int64_t panels = (mc + mr - 1) / mr;
  for (int64_t i = 0; i < panels * mr; ++i) {
    for (int64_t k = 0; k < kc; ++k) {
      dst[(i / mr) * mr * kc + k * mr + i % mr] =
          i < mc ? src.a[(i0 + i) * src.lda + k0 + k] : 0.0f;
    }
  }
}

TEST(Sgemm, GatheredAMatchesPackedB) {
  uint32_t seed = 300;
  for (Isa isa : host_tiers()) {
    const SgemmUkernels* uk = sgemm_ukernels(isa);
    for (const Case& cs : std::vector<Case>{{1, 1, 1, false, false},
                                            {7, 13, 5, false, false},
                                            {31, 33, 300, false, false},
                                            {200, 70, 513, false, false},
                                            {600, 17, 64, false, false}}) {
      SCOPED_TRACE("isa " + std::string(isa_name(isa)) + " m" + std::to_string(cs.m) + " n" +
                   std::to_string(cs.n) + " k" + std::to_string(cs.k));
      const int64_t lda = cs.k + 3, ldb = cs.n + 1, ldc = cs.n + 2;
      auto a = random_floats(cs.m * lda, seed++);
      auto b = random_floats(cs.k * ldb, seed++);
      auto bias = random_floats(cs.n, seed++);
      GemmEpilogue ep;
      ep.bias_kind = GemmBias::kPerCol;
      ep.bias = bias.data();
      ep.act.kind = ActKind::kClip;
      ep.act.lo = -0.5f;
      ep.act.hi = 2.0f;
      SgemmPackedB pb;
      ASSERT_TRUE(pb.pack(cs.k, cs.n, b.data(), ldb, false, uk));
      const RowMajor src{a.data(), lda};
      const SgemmAGather gather{&gather_row_major, &src};

      std::vector<float> packed(static_cast<size_t>(cs.m * ldc), 9.0f), want(packed);
      sgemm_packed_b(cs.m, a.data(), lda, false, pb, packed.data(), ldc, ep);
      ref::gemm(cs.m, cs.n, cs.k, 1.0f, a.data(), lda, false, b.data(), ldb, false, 0.0f,
                want.data(), ldc);
      for (int64_t i = 0; i < cs.m; ++i) {
        for (int64_t j = 0; j < cs.n; ++j) {
          float& w = want[i * ldc + j];
          w = std::min(std::max(w + bias[j], -0.5f), 2.0f);
        }
      }
      for (int threads : {1, 2, 7}) {
        std::vector<float> got(static_cast<size_t>(cs.m * ldc), 9.0f);
        tbb::task_arena(threads).execute(
            [&] { sgemm_gather_a(cs.m, gather, pb, got.data(), ldc, ep); });
        EXPECT_EQ(got, packed) << "threads " << threads;  // same bits, padding untouched
        EXPECT_TRUE(
            testing::all_close(got.data(), want.data(), cs.m * ldc, 1e-5, rtol_for(cs.k), true));
      }
    }
  }
}

TEST(Sgemm, ActiveTableFollowsTheCap) {
  const Isa uncapped = active_isa();  // may already be capped by KEEL_MAX_ISA
  for (Isa isa : host_tiers()) {
    set_isa_cap_for_testing(isa);
    const Isa want = static_cast<int>(isa) < static_cast<int>(uncapped) ? isa : uncapped;
    EXPECT_EQ(sgemm_ukernels_active(), sgemm_ukernels(want));
  }
  set_isa_cap_for_testing(std::nullopt);
  EXPECT_NE(std::string(sgemm_ukernel_name(sgemm_ukernels(Isa::kAvx2))).find("avx2"),
            std::string::npos);
}

}  // namespace
}  // namespace keel
