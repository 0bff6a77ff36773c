// The per-ISA normalization ukernels through their layout-aware entry points
// (kernels/norm_rows.hpp), against the double references in runtime/ref/normalization_ref:
// every ISA tier the host has x NCHW/NHWC x sizes around the vector width x odd channel counts
// x N in {1, 3} x in-place; large-offset and constant rows; thread-count invariance.
#include <gtest/gtest.h>
#include <tbb/task_arena.h>

#include <algorithm>
#include <cmath>
#include <cstring>
#include <random>
#include <string>
#include <vector>

#include "core/cpu_features.hpp"
#include "kernels/norm_rows.hpp"
#include "ref/activation_ref.hpp"
#include "ref/normalization_ref.hpp"
#include "support/test_data.hpp"
#include "support/tolerance.hpp"
#include "ukernels/norm_dispatch.hpp"

namespace keel {
namespace {

using testing::host_tiers;

using norm::NormLayout;
using testing::all_close;

constexpr uint32_t kSeed = 20261124;

// Caps active_isa() for the scope and hands out the table the kernels would choose.
class TierScope {
 public:
  explicit TierScope(Isa isa) { set_isa_cap_for_testing(isa); }
  ~TierScope() { set_isa_cap_for_testing(std::nullopt); }
  const NormUkernels* uk() const { return norm_ukernels_active(); }
};

// W-1, W, W+1, UW-1, UW+1 for the tier's vector width W (U = 4).
std::vector<int64_t> edge_sizes(int64_t w) {
  std::vector<int64_t> s = {w - 1, w, w + 1, 4 * w - 1, 4 * w + 1};
  s.erase(std::remove(s.begin(), s.end(), 0), s.end());
  return s;
}

// The shared generator (support/test_data.hpp) over [-2, 2) unless told otherwise.
std::vector<float> random_vec(int64_t n, uint32_t seed, float lo = -2.0f, float hi = 2.0f) {
  return testing::random_floats(n, seed, lo, hi);
}

std::vector<float> offset_vec(int64_t n, uint32_t seed, float offset, float noise) {
  std::mt19937 rng(seed);
  std::normal_distribution<float> dist(0.0f, 1.0f);
  std::vector<float> v(static_cast<size_t>(n));
  for (float& f : v) f = offset + noise * dist(rng);
  return v;
}

// [N, C, S] <-> [N, S, C]
template <typename T>
std::vector<T> nchw_to_nhwc(const std::vector<T>& x, int64_t n, int64_t c, int64_t s) {
  std::vector<T> y(x.size());
  for (int64_t i = 0; i < n; ++i)
    for (int64_t j = 0; j < c; ++j)
      for (int64_t k = 0; k < s; ++k) y[(i * s + k) * c + j] = x[(i * c + j) * s + k];
  return y;
}
template <typename T>
std::vector<T> nhwc_to_nchw(const std::vector<T>& x, int64_t n, int64_t c, int64_t s) {
  std::vector<T> y(x.size());
  for (int64_t i = 0; i < n; ++i)
    for (int64_t j = 0; j < c; ++j)
      for (int64_t k = 0; k < s; ++k) y[(i * c + j) * s + k] = x[(i * s + k) * c + j];
  return y;
}

const char* layout_name(NormLayout l) { return l == NormLayout::kNchw ? "nchw" : "nhwc"; }

std::string case_name(NormLayout l, int64_t n, int64_t c, int64_t s, Isa isa, bool inplace) {
  return std::string(layout_name(l)) + "_n" + std::to_string(n) + "_c" + std::to_string(c) + "_s" +
         std::to_string(s) + "_" + isa_name(isa) + (inplace ? "_inplace" : "") + " seed " +
         std::to_string(kSeed);
}

// Runs a kernel on NCHW data `x` in `layout` (transposing in and out), in place or not.
template <typename Fn>
std::vector<float> run_layout(NormLayout layout, const std::vector<float>& x, int64_t n, int64_t c,
                              int64_t s, bool inplace, Fn fn) {
  std::vector<float> in = layout == NormLayout::kNhwc ? nchw_to_nhwc(x, n, c, s) : x;
  std::vector<float> out(in.size(), -77.0f);
  float* y = inplace ? in.data() : out.data();
  fn(in.data(), y);
  std::vector<float> got = inplace ? in : out;
  return layout == NormLayout::kNhwc ? nhwc_to_nchw(got, n, c, s) : got;
}

std::vector<NormActParams> all_acts() {
  std::vector<NormActParams> acts;
  for (int i = 0; i < ref::kActKindCount; ++i) acts.push_back(ref::activation_example(i));
  return acts;
}

// BatchNorm parameters and the kernel's precomputed a, b.
struct BnParams {
  std::vector<float> scale, bias, mean, var, a, b;
};
BnParams bn_params(int64_t c, uint32_t seed) {
  BnParams p;
  p.scale = random_vec(c, seed + 1, 0.5f, 1.5f);
  p.bias = random_vec(c, seed + 2);
  p.mean = random_vec(c, seed + 3);
  p.var = random_vec(c, seed + 4, 0.1f, 2.0f);
  for (int64_t i = 0; i < c; ++i) {
    const double s = p.scale[i] / std::sqrt(static_cast<double>(p.var[i]) + 1e-5);
    p.a.push_back(static_cast<float>(s));
    p.b.push_back(static_cast<float>(p.bias[i] - p.mean[i] * s));
  }
  return p;
}

TEST(NormIsa, TablesMatchTiers) {
  for (Isa isa : host_tiers()) {
    TierScope t(isa);
    EXPECT_EQ(t.uk(), norm_ukernels(isa));
    EXPECT_EQ(std::string(t.uk()->name), std::string("f32_norm/") + isa_name(isa));
  }
}

TEST(NormIsa, ScaleShiftEveryActivationLayoutAndSize) {
  for (Isa isa : host_tiers()) {
    TierScope tier(isa);
    const NormUkernels* uk = tier.uk();
    for (NormLayout layout : {NormLayout::kNchw, NormLayout::kNhwc}) {
      for (int64_t n : {1, 3}) {
        for (int64_t c : {1, 3, 13, 127}) {
          std::vector<int64_t> spatials = edge_sizes(uk->width);
          spatials.push_back(1);  // the rank-2 [N, C] case
          for (int64_t s : spatials) {
            const BnParams p = bn_params(c, kSeed + static_cast<uint32_t>(c));
            const std::vector<float> x = random_vec(n * c * s, kSeed);
            const std::vector<double> bn =
                ref::batchnorm(x.data(), {n, c, s}, p.scale.data(), p.bias.data(), p.mean.data(),
                               p.var.data(), 1e-5);
            for (const NormActParams& act : all_acts()) {
              for (bool inplace : {false, true}) {
                SCOPED_TRACE(case_name(layout, n, c, s, isa, inplace) + " act " +
                             std::to_string(static_cast<int>(act.kind)));
                std::vector<double> want(bn.size());
                for (size_t i = 0; i < bn.size(); ++i) want[i] = ref::activate(bn[i], act);
                const std::vector<float> got =
                    run_layout(layout, x, n, c, s, inplace, [&](const float* xi, float* yo) {
                      norm::scale_shift_apply(uk, layout, xi, yo, n, c, s, p.a.data(), p.b.data(),
                                              act);
                    });
                EXPECT_TRUE(all_close(got.data(), want.data(), static_cast<int64_t>(got.size()),
                                      1e-5, 1e-5, /*allow_zeros=*/true));
              }
            }
          }
        }
      }
    }
  }
}

// LayerNorm / RMSNorm rows: [N, C, len] normalized over the last axis, gamma/beta optional.
TEST(NormIsa, RowsLayerNormAndRms) {
  for (Isa isa : host_tiers()) {
    TierScope tier(isa);
    const NormUkernels* uk = tier.uk();
    std::vector<int64_t> lens = edge_sizes(uk->width);
    lens.push_back(768);
    for (int64_t n : {1, 3}) {
      for (int64_t c : {1, 3, 13, 127}) {
        for (int64_t len : lens) {
          const std::vector<float> x = random_vec(n * c * len, kSeed + 7);
          const std::vector<float> gamma = random_vec(len, kSeed + 8, 0.5f, 1.5f);
          const std::vector<float> beta = random_vec(len, kSeed + 9);
          const std::vector<float> ones(static_cast<size_t>(len), 1.0f);
          for (bool rms : {false, true}) {
            for (int affine = 0; affine < 4; ++affine) {
              const bool g = affine & 1, b = (affine & 2) && !rms;
              for (bool inplace : {false, true}) {
                SCOPED_TRACE(std::string(rms ? "rms" : "layernorm") + "_n" + std::to_string(n) +
                             "_c" + std::to_string(c) + "_len" + std::to_string(len) + "_gamma" +
                             std::to_string(g) + "_beta" + std::to_string(b) + "_" + isa_name(isa) +
                             (inplace ? "_inplace" : ""));
                const std::vector<double> want =
                    rms ? ref::rmsnorm(x.data(), {n, c, len}, 2, g ? gamma.data() : ones.data(),
                                       1e-5)
                        : ref::layernorm(x.data(), {n, c, len}, 2, g ? gamma.data() : ones.data(),
                                         b ? beta.data() : nullptr, 1e-5);
                norm::RowNormParams p;
                p.rows = n * c;
                p.len = len;
                p.kind = rms ? norm::StatKind::kMeanSquare : norm::StatKind::kMeanVariance;
                p.uk = uk;
                norm::RowAffine a;
                a.gamma = g ? gamma.data() : nullptr;
                a.beta = b ? beta.data() : nullptr;
                std::vector<float> in = x, out(x.size());
                float* y = inplace ? in.data() : out.data();
                norm::normalize_rows(in.data(), y, p, a, nullptr, nullptr, nullptr, 1);
                EXPECT_TRUE(all_close(y, want.data(), static_cast<int64_t>(x.size()), 2e-5, 2e-5,
                                      len == 1));
              }
            }
          }
        }
      }
    }
  }
}

// InstanceNorm (groups == C) and GroupNorm (opset 18 per-group and 21 per-channel affine).
void check_group_norm(Isa isa, const NormUkernels* uk, NormLayout layout, int64_t n, int64_t c,
                      int64_t s, int64_t groups, bool per_channel, bool inplace,
                      const std::vector<float>& x, double atol, bool allow_zeros) {
  const int64_t plen = per_channel ? c : groups;
  const std::vector<float> gamma = random_vec(plen, kSeed + 11, 0.5f, 1.5f);
  const std::vector<float> beta = random_vec(plen, kSeed + 12);
  SCOPED_TRACE(case_name(layout, n, c, s, isa, inplace) + " groups " + std::to_string(groups) +
               (per_channel ? " per-channel" : " per-group"));
  const std::vector<double> want =
      groups == c && per_channel
          ? ref::instancenorm(x.data(), {n, c, s}, gamma.data(), beta.data(), 1e-5)
          : ref::groupnorm(x.data(), {n, c, s}, groups, gamma.data(), beta.data(), 1e-5,
                           per_channel);
  std::vector<std::byte> scratch(norm::group_norm_scratch_bytes(layout, n, c, s, groups) + 8);
  const std::vector<float> got =
      run_layout(layout, x, n, c, s, inplace, [&](const float* xi, float* yo) {
        norm::group_norm_apply(uk, layout, xi, yo, n, c, s, groups, gamma.data(), beta.data(),
                               per_channel, 1e-5, scratch.data());
      });
  EXPECT_TRUE(all_close(got.data(), want.data(), static_cast<int64_t>(got.size()), atol, atol,
                        allow_zeros));
}

TEST(NormIsa, InstanceAndGroupNormBothLayouts) {
  for (Isa isa : host_tiers()) {
    TierScope tier(isa);
    const NormUkernels* uk = tier.uk();
    for (NormLayout layout : {NormLayout::kNchw, NormLayout::kNhwc}) {
      for (int64_t n : {1, 3}) {
        for (int64_t s : edge_sizes(uk->width)) {
          for (bool inplace : {false, true}) {
            for (int64_t c : {1, 3, 13, 127}) {
              const std::vector<float> x = random_vec(n * c * s, kSeed + 13);
              // A single-element instance normalizes to exactly 0 (beta alone): zeros allowed.
              check_group_norm(isa, uk, layout, n, c, s, c, true, inplace, x, 2e-5, s == 1);
              check_group_norm(isa, uk, layout, n, c, s, 1, true, inplace, x, 2e-5, false);
              check_group_norm(isa, uk, layout, n, c, s, 1, false, inplace, x, 2e-5, false);
            }
            for (auto [c, g] : {std::pair<int64_t, int64_t>{12, 4}, {96, 32}, {130, 13}}) {
              const std::vector<float> x = random_vec(n * c * s, kSeed + 14);
              for (bool per_channel : {false, true}) {
                check_group_norm(isa, uk, layout, n, c, s, g, per_channel, inplace, x, 2e-5, false);
              }
            }
          }
        }
      }
    }
  }
}

TEST(NormIsa, LargeOffsetAndConstantRows) {
  for (Isa isa : host_tiers()) {
    TierScope tier(isa);
    const NormUkernels* uk = tier.uk();
    for (int64_t len : {int64_t{768}, uk->width * 4 + 1, int64_t{40000}}) {
      for (bool constant : {false, true}) {
        SCOPED_TRACE(std::string(constant ? "constant" : "offset") + "_len" + std::to_string(len) +
                     "_" + isa_name(isa));
        const std::vector<float> x = constant
                                         ? std::vector<float>(static_cast<size_t>(2 * len), 1234.0f)
                                         : offset_vec(2 * len, kSeed + 15, 1234.0f, 0.01f);
        const std::vector<float> gamma = random_vec(len, kSeed + 16, 0.5f, 1.5f);
        const std::vector<float> beta = random_vec(len, kSeed + 17);
        const std::vector<double> want =
            ref::layernorm(x.data(), {2, len}, 1, gamma.data(), beta.data(), 1e-5);
        norm::RowNormParams p;
        p.rows = 2;
        p.len = len;
        p.uk = uk;
        norm::RowAffine a;
        a.gamma = gamma.data();
        a.beta = beta.data();
        std::vector<float> y(x.size());
        norm::normalize_rows(x.data(), y.data(), p, a, nullptr, nullptr, nullptr, 1);
        for (float v : y) ASSERT_TRUE(std::isfinite(v));
        // 0.01 noise around 1234: float x has ulp 1.2e-4, so outputs near +-1 carry that much.
        EXPECT_TRUE(all_close(y.data(), want.data(), static_cast<int64_t>(y.size()), 1e-4, 1e-4));
        const int64_t c = 13, s = len / 13;
        for (NormLayout layout : {NormLayout::kNchw, NormLayout::kNhwc}) {
          const std::vector<float> xg(x.begin(), x.begin() + 2 * c * s);
          check_group_norm(isa, uk, layout, 2, c, s, c, true, false, xg, 1e-3, false);
          check_group_norm(isa, uk, layout, 2, c, s, 1, true, false, xg, 1e-4, false);
        }
      }
    }
  }
}

// The same bits for 1, 2 and 7 threads, every op and layout, including the few-long-rows
// split path of normalize_rows.
TEST(NormIsa, ThreadCountInvariance) {
  for (Isa isa : host_tiers()) {
    TierScope tier(isa);
    const NormUkernels* uk = tier.uk();
    auto run_all = [&](int threads) {
      std::vector<std::vector<float>> outs;
      tbb::task_arena arena(threads);
      arena.execute([&] {
        for (NormLayout layout : {NormLayout::kNchw, NormLayout::kNhwc}) {
          const int64_t n = 2, c = 96, s = 50 * 50;
          const std::vector<float> x = random_vec(n * c * s, kSeed + 21);
          const BnParams p = bn_params(c, kSeed);
          std::vector<float> y(x.size());
          norm::scale_shift_apply(uk, layout, x.data(), y.data(), n, c, s, p.a.data(), p.b.data(),
                                  NormActParams{});
          outs.push_back(y);
          for (int64_t g : {c, int64_t{32}}) {
            std::vector<std::byte> scratch(norm::group_norm_scratch_bytes(layout, n, c, s, g));
            norm::group_norm_apply(uk, layout, x.data(), y.data(), n, c, s, g, p.scale.data(),
                                   p.bias.data(), true, 1e-5, scratch.data());
            outs.push_back(y);
          }
        }
        for (auto [rows, len] : {std::pair<int64_t, int64_t>{196, 768}, {2, 40000}}) {
          const std::vector<float> x = random_vec(rows * len, kSeed + 22);
          const std::vector<float> gamma = random_vec(len, kSeed + 23);
          norm::RowNormParams p;
          p.rows = rows;
          p.len = len;
          p.uk = uk;
          norm::RowAffine a;
          a.gamma = gamma.data();
          std::vector<float> y(x.size());
          std::vector<std::byte> scratch(norm::normalize_rows_scratch_bytes(rows, len) + 8);
          norm::normalize_rows(x.data(), y.data(), p, a, nullptr, nullptr, scratch.data(), threads);
          outs.push_back(y);
        }
      });
      return outs;
    };
    const auto one = run_all(1);
    for (int threads : {2, 7}) {
      const auto many = run_all(threads);
      ASSERT_EQ(one.size(), many.size());
      for (size_t i = 0; i < one.size(); ++i) {
        EXPECT_EQ(0, std::memcmp(one[i].data(), many[i].data(), one[i].size() * sizeof(float)))
            << "case " << i << " threads " << threads << " " << isa_name(isa);
      }
    }
  }
}

}  // namespace
}  // namespace keel
