// The bfloat16 GEMM (ukernels/bf16_gemm.hpp) on every tier the host has (the float32-FMA
// emulation on each AVX tier, vdpbf16ps, AMX) against a scalar reference that rounds A and B to
// bfloat16 and sums in double, for sizes around the tiles' edges, the K-pair boundary (odd K)
// and the K padding, with every epilogue option; and the rounding itself.
#include <gtest/gtest.h>
#include <tbb/task_arena.h>

#include <cmath>
#include <cstring>
#include <limits>
#include <string>
#include <vector>

#include "core/cpu_features.hpp"
#include "core/float16.hpp"
#include "ref/activation_ref.hpp"
#include "support/test_data.hpp"
#include "ukernels/bf16_gemm.hpp"
#include "ukernels/bf16_gemm_ukernel.hpp"

namespace keel {
namespace {

using testing::random_floats;

// Every table the host can run.
std::vector<const Bf16GemmUkernels*> host_tables() {
  std::vector<const Bf16GemmUkernels*> tables = {&ukernels_sse2::kBf16Gemm};
  if (detected_isa() >= Isa::kAvx2) tables.push_back(&ukernels_avx2::kBf16Gemm);
  if (detected_isa() >= Isa::kAvx512) tables.push_back(&ukernels_avx512::kBf16Gemm);
  if (detected_bf16_tier() >= Bf16Tier::kAvx512Bf16) {
    tables.push_back(&ukernels_avx512_bf16::kBf16GemmDot);
  }
  if (detected_bf16_tier() >= Bf16Tier::kAmx) tables.push_back(&ukernels_avx512_bf16::kBf16GemmAmx);
  return tables;
}

double bf16(float v) { return bfloat16_bits_to_float(bfloat16_bits_from_float(v)); }

struct Case {
  int64_t m, n, k;
};

// C (ldc apart) against the reference: each output within what float32 sums of k exact
// products can lose (k roundings of at most 2^-24 of the running sum, bounded by sum |a b|).
void check_case(const Bf16GemmUkernels* uk, const Case& cs, const GemmEpilogue& ep_in, bool gather,
                uint32_t seed) {
  SCOPED_TRACE(std::string(uk->name) + " m" + std::to_string(cs.m) + " n" + std::to_string(cs.n) +
               " k" + std::to_string(cs.k) + (gather ? " gather" : "") + " seed " +
               std::to_string(seed));
  const int64_t lda = cs.k + 3, ldc = cs.n + 2, ldr = cs.n + 5;
  const auto a = random_floats(cs.m * lda, seed);
  const auto b = random_floats(cs.k * cs.n, seed + 1);
  const auto c0 = random_floats(cs.m * ldc, seed + 2);
  const auto bias = random_floats(std::max(cs.m, cs.n), seed + 3);
  const auto residual = random_floats(cs.m * ldr, seed + 4);
  GemmEpilogue ep = ep_in;
  if (ep.bias_kind != GemmBias::kNone) ep.bias = bias.data();
  if (ep.residual != nullptr) {
    ep.residual = residual.data();
    ep.ld_residual = ldr;
  }
  Bf16PackedB packed;
  ASSERT_TRUE(packed.pack(cs.k, cs.n, b.data(), cs.n, false, uk));
  std::vector<float> got(c0);
  if (gather) {
    struct Rows {
      const float* a;
      int64_t lda, k;
    } rows{a.data(), lda, cs.k};
    Bf16AGather g;
    g.ctx = &rows;
    g.rows = [](const void* ctx, int64_t i0, int64_t mc, uint16_t* dst, int64_t ld,
                void (*round)(const float*, int64_t, uint16_t*)) {
      const auto& r = *static_cast<const Rows*>(ctx);
      for (int64_t i = 0; i < mc; ++i) round(r.a + (i0 + i) * r.lda, r.k, dst + i * ld);
    };
    bf16_gemm_gather_a(cs.m, g, packed, got.data(), ldc, ep);
  } else {
    bf16_gemm_packed_b(cs.m, a.data(), lda, packed, got.data(), ldc, ep);
  }
  int64_t bad = 0;
  std::string first;
  for (int64_t i = 0; i < cs.m; ++i) {
    for (int64_t j = 0; j < ldc; ++j) {
      const float g = got[i * ldc + j];
      if (j >= cs.n) {  // outside C: untouched
        if (std::memcmp(&g, &c0[i * ldc + j], sizeof g) != 0) ++bad;
        continue;
      }
      double sum = 0, mag = 0;
      for (int64_t p = 0; p < cs.k; ++p) {
        const double prod = bf16(a[i * lda + p]) * bf16(b[p * cs.n + j]);
        sum += prod;
        mag += std::fabs(prod);
      }
      double v = ep.alpha * sum;
      if (ep.accumulate) v += c0[i * ldc + j];
      if (ep.bias_kind == GemmBias::kPerCol) v += bias[j];
      if (ep.bias_kind == GemmBias::kPerRow) v += bias[i];
      if (ep.residual != nullptr) v += residual[i * ldr + j];
      const double want = ref::activate(v, ep.act);
      const double tol =
          std::ldexp(mag * (cs.k + 4) * std::fabs(ep.alpha), -24) + 1e-6 * (1 + std::fabs(want));
      if (!(std::fabs(g - want) <= tol)) {
        if (bad < 4)
          first += " (" + std::to_string(i) + "," + std::to_string(j) + ") got " +
                   std::to_string(g) + " want " + std::to_string(want) + ";";
        ++bad;
      }
    }
  }
  EXPECT_EQ(bad, 0) << first;
}

TEST(Bf16Gemm, EveryTierAgainstTheReference) {
  const int64_t ms[] = {1, 5, 6, 7, 31, 32, 33, 70};
  const int64_t ns[] = {1, 15, 16, 17, 33, 64, 100};
  const int64_t ks[] = {1, 2, 3, 31, 32, 33, 65, 300};
  for (const Bf16GemmUkernels* uk : host_tables()) {
    uint32_t seed = 1;
    for (int64_t m : ms) {
      for (int64_t n : ns) {
        for (int64_t k : ks) check_case(uk, {m, n, k}, {}, false, seed++);
      }
    }
  }
}

TEST(Bf16Gemm, EpiloguesAndGatheredRows) {
  GemmEpilogue full;
  full.alpha = 0.5f;
  full.accumulate = true;
  full.bias_kind = GemmBias::kPerCol;
  full.residual = reinterpret_cast<const float*>(1);  // replaced by check_case
  full.act.kind = ActKind::kRelu;
  GemmEpilogue per_row;
  per_row.bias_kind = GemmBias::kPerRow;
  per_row.act.kind = ActKind::kSilu;
  GemmEpilogue gelu;
  gelu.act.kind = ActKind::kGelu;
  for (const Bf16GemmUkernels* uk : host_tables()) {
    uint32_t seed = 100;
    for (const Case& cs : {Case{7, 33, 65}, Case{33, 17, 31}, Case{70, 64, 96}, Case{1, 100, 300},
                           Case{63, 64, 720}}) {
      for (const GemmEpilogue& ep : {full, per_row, gelu}) {
        check_case(uk, cs, ep, false, seed);
        check_case(uk, cs, ep, true, seed++);
      }
    }
  }
}

// Blocks and their split over threads never change a bit.
TEST(Bf16Gemm, BitsDoNotDependOnTheThreadCount) {
  const int64_t m = 300, n = 200, k = 150;
  const auto a = random_floats(m * k, 7), b = random_floats(k * n, 8);
  for (const Bf16GemmUkernels* uk : host_tables()) {
    SCOPED_TRACE(uk->name);
    Bf16PackedB packed;
    ASSERT_TRUE(packed.pack(k, n, b.data(), n, false, uk));
    std::vector<std::vector<float>> out;
    for (int threads : {1, 2, 3}) {
      std::vector<float> c(static_cast<size_t>(m * n));
      tbb::task_arena(threads).execute(
          [&] { bf16_gemm_packed_b(m, a.data(), k, packed, c.data(), n, {}); });
      out.push_back(c);
    }
    EXPECT_EQ(0, std::memcmp(out[0].data(), out[1].data(), out[0].size() * sizeof(float)));
    EXPECT_EQ(0, std::memcmp(out[0].data(), out[2].data(), out[0].size() * sizeof(float)));
  }
}

// Every table's rounding is the scalar converter's (round to nearest even, NaN kept), on ties,
// carries into the exponent, infinities, NaN and the largest finite values; subnormal inputs
// only on the emulated tiers (vcvtneps2bf16 reads them as zero).
TEST(Bf16Gemm, RoundingIsNearestEven) {
  std::vector<float> v = random_floats(1000, 3, -1e3f, 1e3f);
  for (uint32_t bits :
       {0x3f808000u, 0x3f818000u, 0x3f80ffffu, 0x3f7fffffu, 0x7f7fffffu, 0xff7fffffu, 0x7f800000u,
        0xff800000u, 0x7fc00000u, 0x7f800001u, 0x00000000u, 0x80000000u, 0x3f800001u}) {
    float f;
    std::memcpy(&f, &bits, sizeof f);
    v.push_back(f);
  }
  for (const Bf16GemmUkernels* uk : host_tables()) {
    SCOPED_TRACE(uk->name);
    for (int64_t n : {int64_t{1}, int64_t{15}, int64_t{17}, static_cast<int64_t>(v.size())}) {
      std::vector<uint16_t> got(static_cast<size_t>(n));
      uk->round(v.data() + v.size() - n, n, got.data());
      for (int64_t i = 0; i < n; ++i) {
        const float x = v[v.size() - n + i];
        const uint16_t want = bfloat16_bits_from_float(x);
        if (std::isnan(x)) {
          EXPECT_TRUE(std::isnan(bfloat16_bits_to_float(got[i])));
        } else {
          EXPECT_EQ(got[i], want) << "value " << x;
        }
      }
    }
  }
}

}  // namespace
}  // namespace keel
