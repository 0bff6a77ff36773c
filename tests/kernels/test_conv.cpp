// Conv and ConvTranspose against the scalar references, on every ISA tier the host has.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstring>
#include <limits>
#include <map>
#include <string>
#include <tuple>
#include <vector>

#include "core/cpu_features.hpp"
#include "kernels/conv/conv_implementation.hpp"
#include "kernels/conv/winograd.hpp"
#include "kernels/fused_activation.hpp"
#include "ref/activation_ref.hpp"
#include "ref/conv_ref.hpp"
#include "support/nhwc_test_util.hpp"
#include "support/op_runner.hpp"
#include "support/prepared_op.hpp"
#include "support/tolerance.hpp"

namespace keel {
namespace {

using testing::attr_float;
using testing::attr_int;
using testing::attr_ints;
using testing::attr_string;
using testing::host_tiers;
using testing::OpCall;
using testing::random_tensor;
using testing::transpose4;

struct ConvCase {
  std::string name;
  Shape x;    // [N, C, spatial...] (the NHWC tests transpose it)
  int64_t m;  // output channels
  Shape kernel;
  std::vector<int64_t> strides = {}, dilations = {}, pads = {};  // empty = defaults
  int64_t group = 1;
  bool bias = true;
  bool const_w = true;
  std::string act = {};  // fused activation: "" or its name (parameters: activation_example)
};

std::vector<int64_t> or_fill(const std::vector<int64_t>& v, size_t n, int64_t fill) {
  return v.empty() ? std::vector<int64_t>(n, fill) : v;
}

// A case's inputs, its NCHW op call and its float64 reference output (activation applied).
struct ConvSetup {
  Tensor x, w, b;
  OpCall call;
  Shape y_shape;
  std::vector<float> want;
  double atol = 1e-5, rtol = 1e-5;
};

// The example parameters (ref::activation_example) of the fused activation called `name`.
ActParams activation_named(const std::string& name) {
  for (int i = 0; i < ref::kActKindCount; ++i) {
    const ActParams p = ref::activation_example(i);
    if (name == fused_activation_name(p.kind)) return p;
  }
  ADD_FAILURE() << "no activation named " << name;
  return {};
}

// With `gate` ([N, C, 1, 1]): a gated conv (kernels/conv/gate_before.hpp) whose reference reads X *
// G.
ConvSetup setup_conv(const ConvCase& c, uint32_t seed, const Tensor* gate = nullptr) {
  const size_t nsp = c.kernel.size();
  Shape w_shape = {c.m, c.x[1] / c.group};
  w_shape.insert(w_shape.end(), c.kernel.begin(), c.kernel.end());
  ref::ConvRefParams p;
  p.x_shape = c.x;
  p.w_shape = w_shape;
  p.strides = or_fill(c.strides, nsp, 1);
  p.dilations = or_fill(c.dilations, nsp, 1);
  const std::vector<int64_t> pads = or_fill(c.pads, 2 * nsp, 0);
  p.pads_begin.assign(pads.begin(), pads.begin() + static_cast<int64_t>(nsp));
  p.group = c.group;
  p.y_shape = {c.x[0], c.m};
  for (size_t i = 0; i < nsp; ++i) {
    const int64_t dk = (c.kernel[i] - 1) * p.dilations[i] + 1;
    p.y_shape.push_back((c.x[i + 2] + pads[i] + pads[i + nsp] - dk) / p.strides[i] + 1);
  }
  ConvSetup s;
  s.x = random_tensor(c.x, seed);
  s.w = random_tensor(w_shape, seed + 1);
  s.b = random_tensor({c.m}, seed + 2);
  s.y_shape = p.y_shape;
  s.want.resize(static_cast<size_t>(numel(p.y_shape)));
  std::vector<float> x_ref(s.x.data_as<float>(), s.x.data_as<float>() + s.x.numel());
  if (gate != nullptr) {
    const int64_t planes = c.x[0] * c.x[1], plane = s.x.numel() / std::max<int64_t>(planes, 1);
    for (int64_t i = 0; i < s.x.numel(); ++i) x_ref[i] *= gate->data_as<float>()[i / plane];
  }
  ref::conv(p, x_ref.data(), s.w.data_as<float>(), c.bias ? s.b.data_as<float>() : nullptr,
            s.want.data());
  const ActParams act = activation_named(c.act);
  for (float& v : s.want) v = static_cast<float>(ref::activate(v, act));
  s.rtol = 1e-5 * (1.0 + std::sqrt(static_cast<double>(numel(w_shape) / c.m)));

  OpCall& call = s.call;
  call.op_type = "Conv";
  call.attributes["group"] = attr_int(c.group);
  call.attributes["kernel_shape"] = attr_ints(c.kernel);
  if (!c.strides.empty()) call.attributes["strides"] = attr_ints(c.strides);
  if (!c.dilations.empty()) call.attributes["dilations"] = attr_ints(c.dilations);
  if (!c.pads.empty()) call.attributes["pads"] = attr_ints(c.pads);
  if (!c.act.empty()) {
    testing::use_fused_kind(call);
    call.decisions.activation = act;
  }
  call.inputs = {{s.x, false}, {s.w, c.const_w}};
  if (c.bias) call.inputs.push_back({s.b, true});
  if (gate != nullptr) {
    testing::use_fused_kind(call);
    call.inputs.resize(ConvOperand::kGate);
    call.inputs.push_back({*gate, false});
  }
  return s;
}

Result<std::vector<Tensor>> run_on(const OpCall& call, Isa isa, int threads) {
  OpCall with_threads = call;
  with_threads.threads = threads;
  set_isa_cap_for_testing(isa);
  auto got = testing::run_op(with_threads);
  set_isa_cap_for_testing(std::nullopt);
  return got;
}

void run_conv_case(const ConvCase& c, Isa isa, int threads, uint32_t seed) {
  SCOPED_TRACE(c.name + "_" + isa_name(isa) + " threads " + std::to_string(threads) + " seed " +
               std::to_string(seed));
  const ConvSetup s = setup_conv(c, seed);
  auto got = run_on(s.call, isa, threads);
  ASSERT_TRUE(got.is_ok()) << got.status().to_string();
  ASSERT_EQ((*got)[0].shape(), s.y_shape);
  EXPECT_TRUE(testing::all_close((*got)[0].data_as<float>(), s.want.data(),
                                 static_cast<int64_t>(s.want.size()), s.atol, s.rtol,
                                 !c.act.empty()));
}

const std::vector<ConvCase>& conv_cases() {
  static const std::vector<ConvCase> cases = {
      {.name = "pointwise_c13_m7_h7_w7", .x = {1, 13, 7, 7}, .m = 7, .kernel = {1, 1}},
      {.name = "pointwise_n2_c64_m33_h5_w9_no_bias",
       .x = {2, 64, 5, 9},
       .m = 33,
       .kernel = {1, 1},
       .bias = false},
      {.name = "k3_pad1_c3_m16_h13_w13",
       .x = {1, 3, 13, 13},
       .m = 16,
       .kernel = {3, 3},
       .pads = {1, 1, 1, 1}},
      {.name = "k3_s2_pad1_c32_m13_h17_w15",
       .x = {1, 32, 17, 15},
       .m = 13,
       .kernel = {3, 3},
       .strides = {2, 2},
       .pads = {1, 1, 1, 1}},
      {.name = "k7_s2_pad3_c3_m8_h31_w31",
       .x = {1, 3, 31, 31},
       .m = 8,
       .kernel = {7, 7},
       .strides = {2, 2},
       .pads = {3, 3, 3, 3}},
      {.name = "k3_dil2_asym_pads",
       .x = {2, 5, 11, 9},
       .m = 6,
       .kernel = {3, 3},
       .strides = {1, 2},
       .dilations = {2, 2},
       .pads = {2, 0, 1, 3}},
      {.name = "k3_long_k_c64_m7",
       .x = {1, 64, 9, 9},
       .m = 7,
       .kernel = {3, 3},
       .pads = {1, 1, 1, 1}},
      {.name = "k1_s2_c8_m5", .x = {1, 8, 9, 9}, .m = 5, .kernel = {1, 1}, .strides = {2, 2}},
      {.name = "group2_c8_m6",
       .x = {1, 8, 7, 7},
       .m = 6,
       .kernel = {3, 3},
       .pads = {1, 1, 1, 1},
       .group = 2},
      {.name = "group4_pointwise_c8_m12", .x = {2, 8, 5, 5}, .m = 12, .kernel = {1, 1}, .group = 4},
      {.name = "depthwise_c13_k3_pad1",
       .x = {2, 13, 9, 11},
       .m = 13,
       .kernel = {3, 3},
       .pads = {1, 1, 1, 1},
       .group = 13},
      {.name = "depthwise_c13_k3_s2_pad1",
       .x = {1, 13, 9, 11},
       .m = 13,
       .kernel = {3, 3},
       .strides = {2, 2},
       .pads = {1, 1, 1, 1},
       .group = 13},
      {.name = "depthwise_multiplier2_k5_dil2",
       .x = {1, 4, 12, 12},
       .m = 8,
       .kernel = {5, 5},
       .dilations = {2, 2},
       .pads = {2, 2, 2, 2},
       .group = 4},
      {.name = "weights_not_constant",
       .x = {1, 6, 8, 8},
       .m = 5,
       .kernel = {3, 3},
       .pads = {0, 1, 0, 1},
       .const_w = false},
      {.name = "conv1d_k3_s2_pad1",
       .x = {2, 5, 17},
       .m = 7,
       .kernel = {3},
       .strides = {2},
       .pads = {1, 1}},
      {.name = "conv1d_depthwise",
       .x = {1, 6, 17},
       .m = 6,
       .kernel = {3},
       .pads = {1, 1},
       .group = 6},
      {.name = "conv3d_k3_pad1",
       .x = {1, 3, 5, 6, 7},
       .m = 4,
       .kernel = {3, 3, 3},
       .pads = {1, 1, 1, 1, 1, 1}},
      {.name = "conv3d_s2_dil2",
       .x = {1, 2, 9, 8, 7},
       .m = 3,
       .kernel = {2, 3, 2},
       .strides = {2, 1, 2},
       .dilations = {2, 1, 2}},
  };
  return cases;
}

TEST(Conv, MatchesReferenceOnEveryTier) {
  uint32_t seed = 1;
  for (Isa isa : host_tiers()) {
    for (const ConvCase& c : conv_cases()) run_conv_case(c, isa, 1, seed++);
  }
}

TEST(Conv, MatchesReferenceMultithreaded) {
  uint32_t seed = 500;
  for (const ConvCase& c : conv_cases()) run_conv_case(c, active_isa(), 3, seed++);
}

TEST(Conv, FusedActivationNchw) {
  const std::vector<ConvCase> cases = {
      {.name = "pointwise_relu", .x = {2, 16, 5, 7}, .m = 9, .kernel = {1, 1}, .act = "Relu"},
      {.name = "k3_clip",
       .x = {1, 8, 9, 9},
       .m = 12,
       .kernel = {3, 3},
       .strides = {2, 2},
       .pads = {1, 1, 1, 1},
       .act = "Clip"},
      {.name = "k3_relu_w_not_const",
       .x = {1, 4, 6, 6},
       .m = 5,
       .kernel = {3, 3},
       .pads = {1, 1, 1, 1},
       .bias = false,
       .const_w = false,
       .act = "Relu"},
      {.name = "depthwise_relu",
       .x = {2, 13, 9, 11},
       .m = 13,
       .kernel = {3, 3},
       .pads = {1, 1, 1, 1},
       .group = 13,
       .act = "Relu"},
      {.name = "depthwise_clip",
       .x = {1, 6, 8, 8},
       .m = 12,
       .kernel = {3, 3},
       .strides = {2, 2},
       .pads = {1, 1, 1, 1},
       .group = 6,
       .act = "Clip"},
      {.name = "conv1d_clip",
       .x = {1, 5, 17},
       .m = 4,
       .kernel = {3},
       .pads = {1, 1},
       .act = "Clip"},
  };
  uint32_t seed = 700;
  for (Isa isa : host_tiers()) {
    for (const ConvCase& c : cases) run_conv_case(c, isa, 1, seed++);
  }
}

// ------------------------------------------------------------------------------- NHWC

// Runs the case in NHWC on every host tier with 1, 2 and 7 threads: close to the reference,
// and the same bits for every thread count. x_nchw: X stays NCHW, read in place
// (NodeDecisions::input_layout), only the output is NHWC.
void run_nhwc_case(const ConvCase& c, uint32_t seed, bool x_nchw = false) {
  ConvSetup s = setup_conv(c, seed);
  s.call.decisions.layout = Layout::kNhwc;
  if (x_nchw) {
    s.call.decisions.has_input_layout = true;
    s.call.decisions.input_layout = Layout::kNchw;
  } else {
    s.call.inputs[0].tensor = transpose4(s.x, {0, 2, 3, 1});
  }
  const Tensor want = transpose4(Tensor::from_vector(s.y_shape, s.want), {0, 2, 3, 1});
  for (Isa isa : host_tiers()) {
    std::vector<float> first;
    for (int threads : {1, 2, 7}) {
      SCOPED_TRACE(c.name + (x_nchw ? "_nchw_to_nhwc_" : "_nhwc_") + isa_name(isa) + " threads " +
                   std::to_string(threads) + " seed " + std::to_string(seed));
      auto got = run_on(s.call, isa, threads);
      ASSERT_TRUE(got.is_ok()) << got.status().to_string();
      ASSERT_EQ((*got)[0].shape(), want.shape());
      const float* y = (*got)[0].data_as<float>();
      const size_t n = static_cast<size_t>(want.numel());
      EXPECT_TRUE(testing::all_close(y, want.data_as<float>(), want.numel(), s.atol, s.rtol,
                                     !c.act.empty()));
      if (first.empty()) {
        first.assign(y, y + n);
      } else {
        EXPECT_EQ(0, std::memcmp(first.data(), y, n * sizeof(float)));
      }
    }
  }
}

TEST(ConvNhwc, GemmPathsMatchReference) {
  const std::vector<ConvCase> cases = {
      {.name = "pointwise_c13_m7", .x = {1, 13, 7, 7}, .m = 7, .kernel = {1, 1}},
      {.name = "pointwise_n3_c64_m33_no_bias",
       .x = {3, 64, 5, 9},
       .m = 33,
       .kernel = {1, 1},
       .bias = false},
      {.name = "pointwise_relu", .x = {2, 24, 6, 5}, .m = 40, .kernel = {1, 1}, .act = "Relu"},
      {.name = "k3_pad1_s1_c32_m24",
       .x = {1, 32, 13, 13},
       .m = 24,
       .kernel = {3, 3},
       .pads = {1, 1, 1, 1}},
      {.name = "k3_pad1_s2_n3_c32_m13",
       .x = {3, 32, 17, 15},
       .m = 13,
       .kernel = {3, 3},
       .strides = {2, 2},
       .pads = {1, 1, 1, 1}},
      {.name = "k3_pad1_s1_clip_no_bias",
       .x = {2, 16, 9, 8},
       .m = 20,
       .kernel = {3, 3},
       .pads = {1, 1, 1, 1},
       .bias = false,
       .act = "Clip"},
      {.name = "stem_k7_s2_pad3_c3_m8",
       .x = {1, 3, 31, 31},
       .m = 8,
       .kernel = {7, 7},
       .strides = {2, 2},
       .pads = {3, 3, 3, 3}},
      {.name = "stem_k7_s2_pad3_relu",
       .x = {3, 3, 20, 22},
       .m = 16,
       .kernel = {7, 7},
       .strides = {2, 2},
       .pads = {3, 3, 3, 3},
       .act = "Relu"},
      {.name = "k3_dil2_asym_pads",
       .x = {2, 5, 11, 9},
       .m = 6,
       .kernel = {3, 3},
       .strides = {1, 2},
       .dilations = {2, 2},
       .pads = {2, 0, 1, 3}},
      {.name = "k2x3_asym_pads_s2x1",
       .x = {1, 7, 10, 9},
       .m = 5,
       .kernel = {2, 3},
       .strides = {2, 1},
       .pads = {0, 2, 1, 0}},
      {.name = "k3_long_k_c64_m7",
       .x = {1, 64, 9, 9},
       .m = 7,
       .kernel = {3, 3},
       .pads = {1, 1, 1, 1}},
      // K = 9 * 40: K blocks of 256 start in the middle of a tap.
      {.name = "k3_long_k_c40_m20",
       .x = {1, 40, 8, 8},
       .m = 20,
       .kernel = {3, 3},
       .pads = {1, 1, 1, 1}},
      {.name = "k1_s2_c8_m5", .x = {1, 8, 9, 9}, .m = 5, .kernel = {1, 1}, .strides = {2, 2}},
      {.name = "k1_pad1_c8_m5", .x = {1, 8, 4, 4}, .m = 5, .kernel = {1, 1}, .pads = {1, 1, 1, 1}},
      {.name = "group2_c8_m6",
       .x = {1, 8, 7, 7},
       .m = 6,
       .kernel = {3, 3},
       .pads = {1, 1, 1, 1},
       .group = 2},
      {.name = "group4_pointwise_c8_m12", .x = {2, 8, 5, 5}, .m = 12, .kernel = {1, 1}, .group = 4},
      // RegNet-like: 8 channels per group.
      {.name = "regnet_g4_c32_s1",
       .x = {2, 32, 9, 9},
       .m = 32,
       .kernel = {3, 3},
       .pads = {1, 1, 1, 1},
       .group = 4,
       .act = "Relu"},
      {.name = "regnet_g6_c48_s2",
       .x = {1, 48, 10, 11},
       .m = 48,
       .kernel = {3, 3},
       .strides = {2, 2},
       .pads = {1, 1, 1, 1},
       .group = 6},
      // The direct grouped kernel: 8 and 4 inside pixels per block (widths 21 and 15), masked
      // output tails (12 per group), multiplier 3 (cin_g 1), stride 2, dilation.
      {.name = "grouped_g4_c32_w21",
       .x = {1, 32, 5, 21},
       .m = 32,
       .kernel = {3, 3},
       .pads = {1, 1, 1, 1},
       .group = 4,
       .act = "Silu"},
      {.name = "grouped_g2_c24_m24_w15",
       .x = {2, 24, 4, 15},
       .m = 24,
       .kernel = {3, 3},
       .pads = {1, 1, 1, 1},
       .group = 2},
      {.name = "grouped_mult3_c5_s2",
       .x = {1, 5, 9, 30},
       .m = 15,
       .kernel = {3, 3},
       .strides = {2, 2},
       .pads = {1, 1, 1, 1},
       .group = 5},
      {.name = "grouped_g3_c12_dil2",
       .x = {1, 12, 9, 24},
       .m = 12,
       .kernel = {3, 3},
       .dilations = {2, 2},
       .pads = {2, 2, 2, 2},
       .group = 3},
      // Bundled groups (8 or 4 channels in and out, two or more groups to a vector): a last
      // bundle with idle lanes (5, 13 and 7 groups), 8- and 4-pixel tiles and edge pixels,
      // asymmetric pads, an image smaller than the kernel's reach, dilation with a 5x5 kernel.
      {.name = "bundled_g5_c40_s2_no_bias",
       .x = {1, 40, 11, 37},
       .m = 40,
       .kernel = {3, 3},
       .strides = {2, 2},
       .pads = {1, 0, 1, 2},
       .group = 5,
       .bias = false},
      {.name = "bundled_g13_c104_w3",
       .x = {2, 104, 3, 3},
       .m = 104,
       .kernel = {3, 3},
       .pads = {1, 1, 1, 1},
       .group = 13},
      {.name = "bundled_g7_c28_k5_dil2",
       .x = {1, 28, 12, 17},
       .m = 28,
       .kernel = {5, 5},
       .dilations = {2, 2},
       .pads = {4, 4, 4, 4},
       .group = 7},
      {.name = "depthwise_multiplier2_k5_dil2",
       .x = {1, 4, 12, 12},
       .m = 8,
       .kernel = {5, 5},
       .dilations = {2, 2},
       .pads = {2, 2, 2, 2},
       .group = 4},
      {.name = "window_in_padding",
       .x = {1, 3, 2, 2},
       .m = 4,
       .kernel = {3, 3},
       .pads = {3, 3, 3, 3}},
      // More than 64 outputs: the implicit GEMM (kernel-row gather at the stem, K blocks of
      // 256 starting mid-tap, dilation, large groups); up to 64 the direct kernel (above).
      {.name = "gemm_stem_k7_s2_pad3_c3_m72",
       .x = {1, 3, 23, 25},
       .m = 72,
       .kernel = {7, 7},
       .strides = {2, 2},
       .pads = {3, 3, 3, 3}},
      {.name = "gemm_k3_s2_n2_c40_m80",
       .x = {2, 40, 9, 11},
       .m = 80,
       .kernel = {3, 3},
       .strides = {2, 2},
       .pads = {1, 1, 1, 1},
       .act = "Relu"},
      {.name = "gemm_k3_dil2_asym_m66",
       .x = {1, 5, 11, 9},
       .m = 66,
       .kernel = {3, 3},
       .strides = {1, 2},
       .dilations = {2, 2},
       .pads = {2, 0, 1, 3}},
      {.name = "gemm_group2_c64_m130",
       .x = {1, 64, 6, 7},
       .m = 130,
       .kernel = {3, 3},
       .pads = {1, 1, 1, 1},
       .group = 2},
      // Direct, 64 outputs: weight chunks of 32 on AVX2 (K x 64 floats pass 16 KB), one chunk
      // in four-vector blocks on AVX-512; edge pixels in blocks of four vectors.
      {.name = "direct_k3_c32_m64_chunks",
       .x = {1, 32, 7, 19},
       .m = 64,
       .kernel = {3, 3},
       .pads = {1, 1, 1, 1}},
  };
  uint32_t seed = 1000;
  for (const ConvCase& c : cases) run_nhwc_case(c, seed++);
}

// Stem convolutions reading the model's NCHW image in place (the direct kernel through its
// strides): pixel tiles of 6 and 3 then single edge pixels (widths 23, 30, 9), two-vector
// blocks with single-vector and masked tails (16, 20, 24, 40, 64 outputs on AVX2; every count
// splits differently on SSE2), 1 to 4 input channels, dilation, groups, batch 3.
TEST(ConvNhwc, StridedNchwInputMatchesReference) {
  const std::vector<ConvCase> cases = {
      {.name = "stem_k3_s2_c3_m16_hardswish",
       .x = {1, 3, 23, 30},
       .m = 16,
       .kernel = {3, 3},
       .strides = {2, 2},
       .pads = {1, 1, 1, 1},
       .act = "HardSwish"},
      {.name = "stem_k3_s2_n3_c3_m24",
       .x = {3, 3, 17, 23},
       .m = 24,
       .kernel = {3, 3},
       .strides = {2, 2},
       .pads = {1, 1, 1, 1}},
      {.name = "stem_k7_s2_c3_m64_relu",
       .x = {1, 3, 29, 30},
       .m = 64,
       .kernel = {7, 7},
       .strides = {2, 2},
       .pads = {3, 3, 3, 3},
       .act = "Relu"},
      {.name = "patchify_k4_s4_c3_m40",
       .x = {1, 3, 16, 36},
       .m = 40,
       .kernel = {4, 4},
       .strides = {4, 4}},
      {.name = "k3_c4_m20_no_bias",
       .x = {2, 4, 9, 9},
       .m = 20,
       .kernel = {3, 3},
       .pads = {1, 1, 1, 1},
       .bias = false},
      {.name = "k3_c1_m8_dil2_asym",
       .x = {1, 1, 12, 23},
       .m = 8,
       .kernel = {3, 3},
       .strides = {1, 2},
       .dilations = {2, 2},
       .pads = {2, 0, 1, 3}},
      {.name = "group3_c3_m12",
       .x = {1, 3, 10, 23},
       .m = 12,
       .kernel = {3, 3},
       .pads = {1, 1, 1, 1},
       .group = 3},
      {.name = "window_in_padding_c2",
       .x = {1, 2, 2, 2},
       .m = 5,
       .kernel = {3, 3},
       .pads = {3, 3, 3, 3}},
  };
  uint32_t seed = 1500;
  for (const ConvCase& c : cases) run_nhwc_case(c, seed++, true);
}

TEST(ConvNhwc, DepthwiseMatchesReference) {
  uint32_t seed = 2000;
  for (int64_t ch : {1, 3, 13, 24, 40, 58, 116, 127}) {
    const std::string cn = "c" + std::to_string(ch);
    const std::vector<ConvCase> cases = {
        {.name = "dw_k3_s1_" + cn,
         .x = {1, ch, 9, 11},
         .m = ch,
         .kernel = {3, 3},
         .pads = {1, 1, 1, 1},
         .group = ch},
        {.name = "dw_k3_s2_n3_relu_" + cn,
         .x = {3, ch, 9, 10},
         .m = ch,
         .kernel = {3, 3},
         .strides = {2, 2},
         .pads = {1, 1, 1, 1},
         .group = ch,
         .act = "Relu"},
        {.name = "dw_k5_s1_clip_no_bias_" + cn,
         .x = {1, ch, 7, 8},
         .m = ch,
         .kernel = {5, 5},
         .pads = {2, 2, 2, 2},
         .group = ch,
         .bias = false,
         .act = "Clip"},
        {.name = "dw_k5_s2_n3_" + cn,
         .x = {3, ch, 11, 9},
         .m = ch,
         .kernel = {5, 5},
         .strides = {2, 2},
         .pads = {2, 2, 2, 2},
         .group = ch},
    };
    for (const ConvCase& c : cases) run_nhwc_case(c, seed++);
  }
  const std::vector<ConvCase> odd = {
      {.name = "dw_k3_dil2_asym",
       .x = {2, 24, 10, 9},
       .m = 24,
       .kernel = {3, 3},
       .strides = {1, 2},
       .dilations = {2, 2},
       .pads = {2, 0, 1, 3},
       .group = 24},
      {.name = "dw_k3_no_pad", .x = {1, 17, 6, 7}, .m = 17, .kernel = {3, 3}, .group = 17},
      {.name = "dw_k3_window_in_padding",
       .x = {1, 9, 2, 2},
       .m = 9,
       .kernel = {3, 3},
       .pads = {3, 3, 3, 3},
       .group = 9},
      {.name = "dw_k2x4_s2x1",
       .x = {1, 20, 7, 9},
       .m = 20,
       .kernel = {2, 4},
       .strides = {2, 1},
       .pads = {1, 2, 0, 1},
       .group = 20},
  };
  for (const ConvCase& c : odd) run_nhwc_case(c, seed++);
}

// Winograd F(2x2, 3x3) (3x3, stride 1, >= 64 channels in, >= 32 out): odd output sizes (a tile's
// second row or column outside), pads of 0 to 2 (windows reaching past the image), channel
// tails on every tier (67 in, 70 out), more than 256 inputs (GEMM K blocks) and outputs
// (channel chunks), several tile blocks (a 30x34 image), batch 2, an image smaller than a tile.
TEST(ConvNhwc, WinogradMatchesReference) {
  const std::vector<ConvCase> cases = {
      {.name = "wino_c64_m64_h9_w11",
       .x = {1, 64, 9, 11},
       .m = 64,
       .kernel = {3, 3},
       .pads = {1, 1, 1, 1}},
      {.name = "wino_n2_c67_m70_relu",
       .x = {2, 67, 7, 6},
       .m = 70,
       .kernel = {3, 3},
       .pads = {1, 1, 1, 1},
       .act = "Relu"},
      {.name = "wino_no_pad_no_bias", .x = {1, 64, 8, 7}, .m = 96, .kernel = {3, 3}, .bias = false},
      {.name = "wino_asym_pads",
       .x = {1, 80, 6, 9},
       .m = 64,
       .kernel = {3, 3},
       .pads = {2, 0, 1, 2}},
      {.name = "wino_c300_m72_silu",
       .x = {1, 300, 12, 11},
       .m = 72,
       .kernel = {3, 3},
       .pads = {1, 1, 1, 1},
       .act = "Silu"},
      {.name = "wino_c64_m520",
       .x = {1, 64, 12, 12},
       .m = 520,
       .kernel = {3, 3},
       .pads = {1, 1, 1, 1}},
      {.name = "wino_many_blocks",
       .x = {1, 64, 30, 34},
       .m = 64,
       .kernel = {3, 3},
       .pads = {1, 1, 1, 1}},
      {.name = "wino_image_1x2",
       .x = {1, 64, 1, 2},
       .m = 64,
       .kernel = {3, 3},
       .pads = {2, 2, 2, 2}},
      {.name = "wino_densenet_m32",
       .x = {1, 64, 5, 7},
       .m = 32,
       .kernel = {3, 3},
       .pads = {1, 1, 1, 1}},
  };
  uint32_t seed = 2500;
  for (const ConvCase& c : cases) {
    run_nhwc_case(c, seed++);
    ConvSetup s = setup_conv(c, seed);
    s.call.decisions.layout = Layout::kNhwc;
    s.call.inputs[0].tensor = transpose4(s.x, {0, 2, 3, 1});
    auto op = testing::PreparedOp::prepare(s.call);
    ASSERT_TRUE(op.is_ok()) << op.status().to_string();
    EXPECT_STREQ((*op)->kernel_name(), "conv_nhwc_winograd") << c.name;
    s.call.options.winograd = false;  // the execution option
    op = testing::PreparedOp::prepare(s.call);
    ASSERT_TRUE(op.is_ok()) << op.status().to_string();
    EXPECT_STRNE((*op)->kernel_name(), "conv_nhwc_winograd") << c.name;
  }
  // ResNet-18's last stage: 16 tiles share 16.8 MB of transformed weights.
  ConvSetup s = setup_conv({.name = "resnet18_512_at_7",
                            .x = {1, 512, 7, 7},
                            .m = 512,
                            .kernel = {3, 3},
                            .pads = {1, 1, 1, 1}},
                           seed);
  s.call.decisions.layout = Layout::kNhwc;
  s.call.inputs[0].tensor = transpose4(s.x, {0, 2, 3, 1});
  auto op = testing::PreparedOp::prepare(s.call);
  ASSERT_TRUE(op.is_ok()) << op.status().to_string();
  EXPECT_STRNE((*op)->kernel_name(), "conv_nhwc_winograd");
}

// An empty batch through every NHWC implementation: an empty output, no work, no crash.
TEST(ConvNhwc, EmptyBatchGivesEmptyOutput) {
  const std::vector<ConvCase> cases = {
      {.name = "winograd", .x = {0, 64, 6, 6}, .m = 64, .kernel = {3, 3}, .pads = {1, 1, 1, 1}},
      {.name = "pointwise", .x = {0, 16, 5, 5}, .m = 24, .kernel = {1, 1}},
      {.name = "direct", .x = {0, 16, 5, 5}, .m = 24, .kernel = {3, 3}, .pads = {1, 1, 1, 1}},
      {.name = "gemm",
       .x = {0, 16, 5, 5},
       .m = 80,
       .kernel = {3, 3},
       .strides = {2, 2},
       .pads = {1, 1, 1, 1}},
      {.name = "depthwise",
       .x = {0, 16, 5, 5},
       .m = 16,
       .kernel = {3, 3},
       .pads = {1, 1, 1, 1},
       .group = 16},
  };
  for (const ConvCase& c : cases) {
    SCOPED_TRACE(c.name);
    ConvSetup s = setup_conv(c, 2700);
    s.call.decisions.layout = Layout::kNhwc;
    s.call.inputs[0].tensor = transpose4(s.x, {0, 2, 3, 1});
    for (int threads : {1, 2}) {
      auto got = run_on(s.call, active_isa(), threads);
      ASSERT_TRUE(got.is_ok()) << got.status().to_string();
      EXPECT_EQ((*got)[0].numel(), 0);
    }
  }
}

// A residual (input 3, Y's shape) added in the Winograd output transform, before the ReLU.
TEST(ConvNhwc, WinogradAddsAResidual) {
  const ConvCase c{"wino_residual", {1, 64, 7, 9}, 72, {3, 3}, {}, {}, {1, 1, 1, 1}};
  ConvSetup s = setup_conv(c, 2600);
  const Tensor y = transpose4(Tensor::from_vector(s.y_shape, s.want), {0, 2, 3, 1});
  const Tensor r = random_tensor(y.shape(), 2601);
  std::vector<float> want(static_cast<size_t>(y.numel()));
  for (size_t i = 0; i < want.size(); ++i) {
    want[i] = std::max(0.0f, y.data_as<float>()[i] + r.data_as<float>()[i]);
  }
  s.call.decisions.layout = Layout::kNhwc;
  testing::use_fused_kind(s.call);  // a residual operand
  s.call.decisions.activation.kind = ActKind::kRelu;
  s.call.inputs[0].tensor = transpose4(s.x, {0, 2, 3, 1});
  s.call.inputs.push_back({r, false});
  for (Isa isa : host_tiers()) {
    SCOPED_TRACE(isa_name(isa));
    auto got = run_on(s.call, isa, 2);
    ASSERT_TRUE(got.is_ok()) << got.status().to_string();
    EXPECT_TRUE(testing::all_close((*got)[0].data_as<float>(), want.data(), y.numel(), s.atol,
                                   s.rtol, true));
  }
  auto op = testing::PreparedOp::prepare(s.call);
  ASSERT_TRUE(op.is_ok()) << op.status().to_string();
  EXPECT_STREQ((*op)->kernel_name(), "conv_nhwc_winograd");
}

// A squeeze-excitation gate (input 4, one value per image and input channel) scales X's
// channels: in the NHWC 1x1 GEMM's packed weights while M <= the pixels of an image (K blocks
// and channel tails included), else X * G into scratch first (every other kernel, NCHW too);
// with a residual and an activation after it.
TEST(Conv, GateScalesTheInputChannels) {
  struct GateCase {
    ConvCase c;
    const char* nhwc_kernel;
  };
  const std::vector<GateCase> cases = {
      {{.name = "pointwise_in_weights", .x = {2, 40, 5, 6}, .m = 24, .kernel = {1, 1}},
       "conv_nhwc_1x1"},
      {{.name = "pointwise_k_blocks",
        .x = {1, 300, 4, 5},
        .m = 19,
        .kernel = {1, 1},
        .bias = false},
       "conv_nhwc_1x1"},
      {{.name = "pointwise_wider_than_image", .x = {2, 24, 2, 3}, .m = 20, .kernel = {1, 1}},
       "conv_nhwc_1x1"},
      {{.name = "k3_direct", .x = {2, 16, 6, 6}, .m = 13, .kernel = {3, 3}, .pads = {1, 1, 1, 1}},
       "conv_nhwc_direct"},
      {{.name = "depthwise",
        .x = {1, 16, 6, 5},
        .m = 16,
        .kernel = {3, 3},
        .strides = {2, 2},
        .pads = {1, 1, 1, 1},
        .group = 16},
       "conv_nhwc_depthwise"},
  };
  uint32_t seed = 3300;
  for (const GateCase& gc : cases) {
    for (bool residual : {false, true}) {
      const ConvCase& c = gc.c;
      SCOPED_TRACE(c.name + (residual ? " residual" : ""));
      const Tensor gate = random_tensor({c.x[0], c.x[1], 1, 1}, seed++);
      ConvSetup s = setup_conv(c, seed++, &gate);
      Tensor r;
      if (residual) {
        r = random_tensor(s.y_shape, seed++);
        for (size_t i = 0; i < s.want.size(); ++i) {
          s.want[i] = std::max(0.0f, s.want[i] + r.data_as<float>()[i]);
        }
        testing::use_fused_kind(s.call);  // a residual operand
        s.call.decisions.activation.kind = ActKind::kRelu;
        s.call.inputs[3] = {r, false};
      }
      for (Isa isa : host_tiers()) {
        SCOPED_TRACE(isa_name(isa));
        auto got = run_on(s.call, isa, 2);
        ASSERT_TRUE(got.is_ok()) << got.status().to_string();
        EXPECT_TRUE(testing::all_close((*got)[0].data_as<float>(), s.want.data(), (*got)[0].numel(),
                                       s.atol, s.rtol, true));
      }
      // NHWC, the gate given as [N, C, 1, 1] and as [N, 1, 1, C] (the same floats).
      const Tensor y_nhwc = transpose4(Tensor::from_vector(s.y_shape, s.want), {0, 2, 3, 1});
      s.call.decisions.layout = Layout::kNhwc;
      s.call.inputs[0].tensor = transpose4(s.x, {0, 2, 3, 1});
      if (residual) s.call.inputs[3].tensor = transpose4(r, {0, 2, 3, 1});
      for (const Shape& g_shape : {gate.shape(), Shape{c.x[0], 1, 1, c.x[1]}}) {
        s.call.inputs[4].tensor = gate.reshaped(g_shape);
        for (int threads : {1, 2}) {
          auto got = run_on(s.call, active_isa(), threads);
          ASSERT_TRUE(got.is_ok()) << got.status().to_string();
          EXPECT_TRUE(testing::all_close((*got)[0].data_as<float>(), y_nhwc.data_as<float>(),
                                         y_nhwc.numel(), s.atol, s.rtol, true));
        }
      }
      auto op = testing::PreparedOp::prepare(s.call);
      ASSERT_TRUE(op.is_ok()) << op.status().to_string();
      EXPECT_STREQ((*op)->kernel_name(), gc.nhwc_kernel);
      // A gate of another shape is an error that names it.
      s.call.inputs[4].tensor = random_tensor({c.x[0], c.x[1] + 1, 1, 1}, seed++);
      auto bad = testing::run_op(s.call);
      ASSERT_FALSE(bad.is_ok());
      EXPECT_NE(bad.status().to_string().find("gate"), std::string::npos);
    }
  }
}

TEST(Conv, EveryFusedActivationInEveryPath) {
  // NHWC: 1x1 GEMM, direct ukernel, implicit GEMM, Winograd, depthwise ukernel; NCHW: im2col GEMM,
  // depthwise loop.
  uint32_t seed = 3000;
  for (int i = 1; i < ref::kActKindCount; ++i) {
    const std::string act = fused_activation_name(ref::activation_example(i).kind);
    const std::vector<ConvCase> cases = {
        {.name = "pointwise_" + act, .x = {1, 24, 5, 6}, .m = 20, .kernel = {1, 1}, .act = act},
        {.name = "k3_" + act,
         .x = {1, 16, 7, 7},
         .m = 13,
         .kernel = {3, 3},
         .pads = {1, 1, 1, 1},
         .act = act},
        {.name = "k3_gemm_" + act,
         .x = {1, 8, 6, 7},
         .m = 70,
         .kernel = {3, 3},
         .pads = {1, 1, 1, 1},
         .act = act},
        {.name = "k3_wino_" + act,
         .x = {1, 64, 5, 6},
         .m = 32,
         .kernel = {3, 3},
         .pads = {1, 1, 1, 1},
         .act = act},
        {.name = "dw_k3_" + act,
         .x = {1, 19, 7, 6},
         .m = 19,
         .kernel = {3, 3},
         .strides = {2, 2},
         .pads = {1, 1, 1, 1},
         .group = 19,
         .act = act},
        {.name = "g8_k3_" + act,
         .x = {1, 24, 6, 13},
         .m = 24,
         .kernel = {3, 3},
         .pads = {1, 1, 1, 1},
         .group = 3,
         .act = act},
    };
    for (const ConvCase& c : cases) {
      run_nhwc_case(c, seed);
      for (Isa isa : host_tiers()) run_conv_case(c, isa, 2, seed);
      ++seed;
    }
  }
}

TEST(ConvNhwc, RejectsWhatItCannotRun) {
  // Non-constant weights: the layout pass only marks convs with constant W.
  ConvSetup s =
      setup_conv({.name = "k3", .x = {1, 4, 6, 6}, .m = 5, .kernel = {3, 3}, .const_w = false}, 1);
  s.call.decisions.layout = Layout::kNhwc;
  s.call.inputs[0].tensor = transpose4(s.x, {0, 2, 3, 1});
  auto got = testing::run_op(s.call);
  ASSERT_FALSE(got.is_ok());
  EXPECT_EQ(got.status().code(), StatusCode::kUnsupported);
  EXPECT_NE(got.status().to_string().find("test_Conv"), std::string::npos);

  // X of rank 3 cannot be NHWC.
  ConvSetup s1 = setup_conv({.name = "conv1d", .x = {1, 5, 17}, .m = 4, .kernel = {3}}, 2);
  s1.call.decisions.layout = Layout::kNhwc;
  got = testing::run_op(s1.call);
  ASSERT_FALSE(got.is_ok());
  EXPECT_EQ(got.status().code(), StatusCode::kInvalidModel);
  EXPECT_NE(got.status().to_string().find("test_Conv"), std::string::npos);

  // The only mixed layouts: an NCHW X of a 2-D conv marked NHWC.
  ConvSetup s3 = setup_conv({.name = "k3", .x = {1, 4, 6, 6}, .m = 5, .kernel = {3, 3}}, 4);
  s3.call.decisions.has_input_layout = true;
  s3.call.decisions.input_layout = Layout::kNhwc;
  got = testing::run_op(s3.call);
  ASSERT_FALSE(got.is_ok());
  EXPECT_EQ(got.status().code(), StatusCode::kInvalidModel);
  ConvSetup s4 =
      setup_conv({.name = "conv3d", .x = {1, 2, 4, 5, 6}, .m = 3, .kernel = {3, 3, 3}}, 5);
  s4.call.decisions.layout = Layout::kNhwc;
  s4.call.decisions.has_input_layout = true;
  s4.call.decisions.input_layout = Layout::kNchw;
  got = testing::run_op(s4.call);
  ASSERT_FALSE(got.is_ok());
  EXPECT_EQ(got.status().code(), StatusCode::kInvalidModel);
  EXPECT_NE(got.status().to_string().find("input layout"), std::string::npos);
}

TEST(Conv, BitsDoNotDependOnThreadCount) {
  Tensor x = random_tensor({1, 32, 20, 20}, 3), w = random_tensor({40, 32, 3, 3}, 4);
  OpCall call;
  call.op_type = "Conv";
  call.attributes["pads"] = attr_ints({1, 1, 1, 1});
  call.inputs = {{x, false}, {w, true}};
  auto one = testing::run_op(call);
  call.threads = 4;
  auto many = testing::run_op(call);
  ASSERT_TRUE(one.is_ok() && many.is_ok());
  EXPECT_EQ(0, std::memcmp((*one)[0].data(), (*many)[0].data(), (*one)[0].nbytes()));
}

TEST(Conv, AutoPadSameAndValidShapes) {
  Tensor x = random_tensor({1, 2, 7, 8}, 5), w = random_tensor({3, 2, 3, 2}, 6);
  for (auto [mode, h, wd] : std::vector<std::tuple<std::string, int64_t, int64_t>>{
           {"SAME_UPPER", 4, 4}, {"SAME_LOWER", 4, 4}, {"VALID", 3, 4}}) {
    OpCall call;
    call.op_type = "Conv";
    call.attributes["auto_pad"] = attr_string(mode);
    call.attributes["strides"] = attr_ints({2, 2});
    call.inputs = {{x, false}, {w, true}};
    auto got = testing::run_op(call);
    ASSERT_TRUE(got.is_ok()) << mode << ": " << got.status().to_string();
    EXPECT_EQ((*got)[0].shape(), (Shape{1, 3, h, wd})) << mode;
  }
}

TEST(Conv, SameLowerPutsTheOddPadFirst) {
  // 1x1 input channel, all-ones 2x2 kernel, stride 1: SAME_LOWER pads top/left.
  Tensor x = Tensor::from_vector<float>({1, 1, 2, 2}, {1, 2, 3, 4});
  Tensor w = Tensor::from_vector<float>({1, 1, 2, 2}, {1, 1, 1, 1});
  OpCall call;
  call.op_type = "Conv";
  call.attributes["auto_pad"] = attr_string("SAME_LOWER");
  call.inputs = {{x, false}, {w, true}};
  auto got = testing::run_op(call);
  ASSERT_TRUE(got.is_ok());
  const float* y = (*got)[0].data_as<float>();
  EXPECT_EQ(std::vector<float>(y, y + 4), (std::vector<float>{1, 3, 4, 10}));
}

Status conv_status(Shape x, Shape w, std::map<std::string, Attribute> attrs, Shape b = {},
                   DataType dt = DataType::kFloat32) {
  OpCall call;
  call.op_type = "Conv";
  call.attributes = std::move(attrs);
  Tensor xt = Tensor::allocate(dt, std::move(x)).value();
  call.inputs = {{xt, false}, {Tensor::allocate(DataType::kFloat32, std::move(w)).value(), true}};
  if (!b.empty()) call.inputs.push_back({Tensor::allocate(DataType::kFloat32, b).value(), true});
  auto r = testing::run_op(call);
  return r.is_ok() ? Status::ok() : r.status();
}

TEST(Conv, RejectsMalformedNodes) {
  const Shape x = {1, 4, 8, 8};
  EXPECT_EQ(conv_status(x, {2, 4, 3}, {}).code(), StatusCode::kInvalidModel);     // rank
  EXPECT_EQ(conv_status(x, {2, 3, 3, 3}, {}).code(), StatusCode::kInvalidModel);  // channels
  EXPECT_EQ(conv_status(x, {3, 2, 3, 3}, {{"group", attr_int(2)}}).code(),
            StatusCode::kInvalidModel);  // M not divisible by group
  EXPECT_EQ(conv_status(x, {2, 4, 3, 3}, {{"group", attr_int(0)}}).code(),
            StatusCode::kInvalidModel);
  EXPECT_EQ(conv_status(x, {2, 4, 3, 3}, {{"kernel_shape", attr_ints({3, 2})}}).code(),
            StatusCode::kInvalidModel);
  EXPECT_EQ(conv_status(x, {2, 4, 3, 3}, {{"strides", attr_ints({1})}}).code(),
            StatusCode::kInvalidModel);
  EXPECT_EQ(conv_status(x, {2, 4, 3, 3}, {{"strides", attr_ints({0, 1})}}).code(),
            StatusCode::kInvalidModel);
  EXPECT_EQ(conv_status(x, {2, 4, 3, 3}, {{"pads", attr_ints({1, 1, -1, 1})}}).code(),
            StatusCode::kInvalidModel);
  EXPECT_EQ(conv_status(x, {2, 4, 3, 3}, {{"auto_pad", attr_string("SAME")}}).code(),
            StatusCode::kInvalidModel);
  EXPECT_EQ(conv_status(x, {2, 4, 3, 3}, {{"strides", attr_string("2")}}).is_ok(), false);
  EXPECT_EQ(conv_status(x, {2, 4, 9, 9}, {}).code(), StatusCode::kInvalidModel);       // too big
  EXPECT_EQ(conv_status(x, {2, 4, 3, 3}, {}, {3}).code(), StatusCode::kInvalidModel);  // bias
  EXPECT_EQ(conv_status(x, {2, 4, 3, 3}, {}, {}, DataType::kInt32).code(),
            StatusCode::kUnsupported);
  EXPECT_EQ(conv_status({1, 1, 2, 2, 2, 2}, {1, 1, 1, 1, 1, 1}, {}).code(),
            StatusCode::kUnsupported);  // 4-D
  EXPECT_TRUE(conv_status(x, {2, 4, 3, 3}, {}, {2}).is_ok());
}

// ------------------------------------------------------------------------- ConvTranspose

struct ConvTransposeCase {
  std::string name;
  Shape x;
  int64_t m;  // output channels
  Shape kernel;
  std::vector<int64_t> strides = {}, dilations = {}, pads = {}, output_padding = {};
  int64_t group = 1;
  bool bias = true;
};

void run_conv_transpose_case(const ConvTransposeCase& c, Isa isa, uint32_t seed) {
  SCOPED_TRACE(c.name + "_" + isa_name(isa) + " seed " + std::to_string(seed));
  const size_t nsp = c.kernel.size();
  Shape w_shape = {c.x[1], c.m / c.group};
  w_shape.insert(w_shape.end(), c.kernel.begin(), c.kernel.end());
  ref::ConvRefParams p;
  p.x_shape = c.x;
  p.w_shape = w_shape;
  p.strides = or_fill(c.strides, nsp, 1);
  p.dilations = or_fill(c.dilations, nsp, 1);
  const std::vector<int64_t> pads = or_fill(c.pads, 2 * nsp, 0);
  const std::vector<int64_t> opad = or_fill(c.output_padding, nsp, 0);
  p.pads_begin.assign(pads.begin(), pads.begin() + static_cast<int64_t>(nsp));
  p.group = c.group;
  p.y_shape = {c.x[0], c.m};
  for (size_t i = 0; i < nsp; ++i) {
    const int64_t dk = (c.kernel[i] - 1) * p.dilations[i] + 1;
    p.y_shape.push_back(p.strides[i] * (c.x[i + 2] - 1) + opad[i] + dk - pads[i] - pads[i + nsp]);
  }
  Tensor x = random_tensor(c.x, seed), w = random_tensor(w_shape, seed + 1);
  Tensor b = random_tensor({c.m}, seed + 2);
  OpCall call;
  call.op_type = "ConvTranspose";
  call.attributes["group"] = attr_int(c.group);
  if (!c.strides.empty()) call.attributes["strides"] = attr_ints(c.strides);
  if (!c.dilations.empty()) call.attributes["dilations"] = attr_ints(c.dilations);
  if (!c.pads.empty()) call.attributes["pads"] = attr_ints(c.pads);
  if (!c.output_padding.empty()) call.attributes["output_padding"] = attr_ints(c.output_padding);
  call.inputs = {{x, false}, {w, true}};
  if (c.bias) call.inputs.push_back({b, true});
  set_isa_cap_for_testing(isa);
  auto got = testing::run_op(call);
  set_isa_cap_for_testing(std::nullopt);
  ASSERT_TRUE(got.is_ok()) << got.status().to_string();
  ASSERT_EQ((*got)[0].shape(), p.y_shape);
  std::vector<float> want(static_cast<size_t>(numel(p.y_shape)));
  ref::conv_transpose(p, x.data_as<float>(), w.data_as<float>(),
                      c.bias ? b.data_as<float>() : nullptr, want.data());
  EXPECT_TRUE(testing::all_close((*got)[0].data_as<float>(), want.data(),
                                 static_cast<int64_t>(want.size()), 1e-5, 1e-4));
}

TEST(ConvTranspose, MatchesReferenceOnEveryTier) {
  const std::vector<ConvTransposeCase> cases = {
      {"k3_c3_m5_h7_w6", {1, 3, 7, 6}, 5, {3, 3}},
      {"k4_s2_pad1_c16_m8", {2, 16, 5, 5}, 8, {4, 4}, {2, 2}, {}, {1, 1, 1, 1}},
      {"k3_s3x2_outpad_asym_pads", {1, 2, 4, 5}, 3, {3, 3}, {3, 2}, {}, {1, 0, 2, 1}, {1, 1}},
      {"k2_dil2", {1, 2, 5, 5}, 2, {2, 2}, {}, {2, 2}},
      {"group2_c4_m6", {2, 4, 4, 4}, 6, {3, 3}, {2, 2}, {}, {}, {}, 2, false},
      {"depthwise_c5", {1, 5, 6, 6}, 5, {3, 3}, {2, 2}, {}, {1, 1, 1, 1}, {1, 1}, 5},
      {"conv1d_s2", {1, 3, 9}, 4, {3}, {2}},
      {"conv3d_s2", {1, 2, 3, 4, 3}, 3, {2, 3, 2}, {2, 1, 2}, {}, {0, 1, 0, 0, 1, 1}},
  };
  uint32_t seed = 900;
  for (Isa isa : host_tiers()) {
    for (const auto& c : cases) run_conv_transpose_case(c, isa, seed++);
  }
}

TEST(ConvTranspose, OutputShapeAndAutoPad) {
  Tensor x = random_tensor({1, 1, 3, 3}, 11), w = random_tensor({1, 2, 3, 3}, 12);
  OpCall call;
  call.op_type = "ConvTranspose";
  call.attributes["strides"] = attr_ints({3, 2});
  call.attributes["output_shape"] = attr_ints({10, 8});
  call.inputs = {{x, false}, {w, true}};
  auto got = testing::run_op(call);
  ASSERT_TRUE(got.is_ok()) << got.status().to_string();
  EXPECT_EQ((*got)[0].shape(), (Shape{1, 2, 10, 8}));

  call.attributes.erase("output_shape");
  call.attributes["strides"] = attr_ints({2, 2});
  call.attributes["auto_pad"] = attr_string("SAME_UPPER");
  got = testing::run_op(call);
  ASSERT_TRUE(got.is_ok()) << got.status().to_string();
  EXPECT_EQ((*got)[0].shape(), (Shape{1, 2, 6, 6}));
}

TEST(ConvTranspose, RejectsMalformedNodes) {
  auto status = [](Shape x, Shape w, std::map<std::string, Attribute> attrs) {
    OpCall call;
    call.op_type = "ConvTranspose";
    call.attributes = std::move(attrs);
    call.inputs = {{Tensor::allocate(DataType::kFloat32, std::move(x)).value(), false},
                   {Tensor::allocate(DataType::kFloat32, std::move(w)).value(), true}};
    auto r = testing::run_op(call);
    return r.is_ok() ? StatusCode::kOk : r.status().code();
  };
  EXPECT_EQ(status({1, 2, 4, 4}, {3, 2, 3, 3}, {}), StatusCode::kInvalidModel);
  EXPECT_EQ(status({1, 2, 4, 4}, {2, 2, 3, 3}, {{"output_padding", attr_ints({2, 0})}}),
            StatusCode::kInvalidModel);
  EXPECT_EQ(status({1, 2, 4, 4}, {2, 2, 3, 3}, {{"output_shape", attr_ints({4})}}),
            StatusCode::kInvalidModel);
  EXPECT_EQ(status({1, 2, 4, 4}, {2, 2, 3, 3}, {{"group", attr_int(3)}}),
            StatusCode::kInvalidModel);
  EXPECT_EQ(status({1, 2, 4, 4}, {2, 2, 3, 3}, {{"pads", attr_ints({3, 3, 3, 3})}}),
            StatusCode::kInvalidModel);
  EXPECT_EQ(status({1, 2, 4, 4}, {2, 2, 3, 3}, {}), StatusCode::kOk);
}

// ------------------------------------------------------------------ the implementation list

// One case of the list test: a complete op call and its float64 reference in the call's layout.
struct ListCase {
  std::string name;
  OpCall call;
  Tensor want;
  double atol = 1e-5, rtol = 1e-5;
  bool act = false;
};

// A depthwise conv with its 1x1 expansion fused (kernels/conv/expand_depthwise.cpp), NHWC:
// the reference is the two convs, the expansion's Relu between them.
ListCase expand_depthwise_case(uint32_t seed) {
  const int64_t n = 2, cin = 5, c = 12, h = 9, w = 8;
  Tensor x = random_tensor({n, cin, h, w}, seed), we = random_tensor({c, cin, 1, 1}, seed + 1);
  Tensor be = random_tensor({c}, seed + 2), wd = random_tensor({c, 1, 3, 3}, seed + 3);
  Tensor bd = random_tensor({c}, seed + 4);
  ref::ConvRefParams pe;
  pe.x_shape = {n, cin, h, w};
  pe.w_shape = {c, cin, 1, 1};
  pe.y_shape = {n, c, h, w};
  pe.strides = pe.dilations = {1, 1};
  pe.pads_begin = {0, 0};
  std::vector<float> mid(static_cast<size_t>(n * c * h * w)), y(mid.size());
  ref::conv(pe, x.data_as<float>(), we.data_as<float>(), be.data_as<float>(), mid.data());
  for (float& v : mid) v = std::max(v, 0.0f);
  ref::ConvRefParams pd = pe;
  pd.x_shape = pd.y_shape;
  pd.w_shape = {c, 1, 3, 3};
  pd.pads_begin = {1, 1};
  pd.group = c;
  ref::conv(pd, mid.data(), wd.data_as<float>(), bd.data_as<float>(), y.data());
  ListCase lc;
  lc.name = "expand_c5_to_12_dw3x3_nhwc";
  lc.call.op_type = "Conv";
  lc.call.attributes["group"] = attr_int(c);
  lc.call.attributes["pads"] = attr_ints({1, 1, 1, 1});
  testing::use_fused_kind(lc.call);
  lc.call.decisions.layout = Layout::kNhwc;
  lc.call.decisions.expand_activation = activation_named("Relu");
  lc.call.inputs = {{transpose4(x, {0, 2, 3, 1}), false}, {wd, true}, {bd, true}};
  lc.call.inputs.resize(ConvOperand::kExpandW);
  lc.call.inputs.push_back({we, true});
  lc.call.inputs.push_back({be, true});
  lc.want = transpose4(Tensor::from_vector({n, c, h, w}, y), {0, 2, 3, 1});
  return lc;
}

// The case table of the list test, each in NCHW and (2-D ones) NHWC.
std::vector<ListCase> list_cases() {
  // Named fields: what each case exercises reads in its line.
  const std::vector<ConvCase> table = {
      {.name = "pointwise_c13_m7", .x = {2, 13, 7, 7}, .m = 7, .kernel = {1, 1}},
      {.name = "pointwise_n3_c64_m33_no_bias",
       .x = {3, 64, 5, 9},
       .m = 33,
       .kernel = {1, 1},
       .bias = false},
      {.name = "pointwise_s2", .x = {1, 8, 9, 9}, .m = 5, .kernel = {1, 1}, .strides = {2, 2}},
      {.name = "k3_pad1_c16_m13_relu",
       .x = {1, 16, 7, 7},
       .m = 13,
       .kernel = {3, 3},
       .pads = {1, 1, 1, 1},
       .act = "Relu"},
      {.name = "k3_c8_m70_wide",
       .x = {1, 8, 6, 7},
       .m = 70,
       .kernel = {3, 3},
       .pads = {1, 1, 1, 1}},
      {.name = "k3_c64_m32_winograd_sized",
       .x = {1, 64, 7, 6},
       .m = 32,
       .kernel = {3, 3},
       .pads = {1, 1, 1, 1}},
      {.name = "k3_n2_c67_m70_silu",
       .x = {2, 67, 7, 6},
       .m = 70,
       .kernel = {3, 3},
       .pads = {1, 1, 1, 1},
       .act = "Silu"},
      {.name = "k3_c80_m64_asym_pads",
       .x = {1, 80, 6, 9},
       .m = 64,
       .kernel = {3, 3},
       .pads = {2, 0, 1, 2}},
      {.name = "k3_s2_dil2_asym_pads",
       .x = {2, 5, 11, 9},
       .m = 6,
       .kernel = {3, 3},
       .strides = {1, 2},
       .dilations = {2, 2},
       .pads = {2, 0, 1, 3}},
      {.name = "group3_c24_k3",
       .x = {1, 24, 6, 13},
       .m = 24,
       .kernel = {3, 3},
       .pads = {1, 1, 1, 1},
       .group = 3},
      {.name = "depthwise_n2_c13_k3",
       .x = {2, 13, 9, 11},
       .m = 13,
       .kernel = {3, 3},
       .pads = {1, 1, 1, 1},
       .group = 13},
      {.name = "depthwise_multiplier2_k5_dil2",
       .x = {1, 4, 12, 12},
       .m = 8,
       .kernel = {5, 5},
       .dilations = {2, 2},
       .pads = {2, 2, 2, 2},
       .group = 4},
      {.name = "depthwise_c19_k3_s2_clip",
       .x = {1, 19, 7, 6},
       .m = 19,
       .kernel = {3, 3},
       .strides = {2, 2},
       .pads = {1, 1, 1, 1},
       .group = 19,
       .act = "Clip"},
      {.name = "no_bias_w_not_constant",
       .x = {1, 6, 8, 8},
       .m = 5,
       .kernel = {3, 3},
       .pads = {0, 1, 0, 1},
       .bias = false,
       .const_w = false},
      {.name = "conv1d_k3_s2",
       .x = {2, 5, 17},
       .m = 7,
       .kernel = {3},
       .strides = {2},
       .pads = {1, 1}},
  };
  std::vector<ListCase> cases;
  uint32_t seed = 9000;
  for (const ConvCase& c : table) {
    const ConvSetup s = setup_conv(c, seed++);
    ListCase nchw{c.name + "_nchw", s.call, Tensor::from_vector(s.y_shape, s.want),
                  s.atol,           s.rtol, !c.act.empty()};
    cases.push_back(nchw);
    // NHWC: 2-D convs with constant W (the layout pass marks no other).
    if (c.x.size() != 4 || !c.const_w) continue;
    ListCase nhwc = nchw;
    nhwc.name = c.name + "_nhwc";
    nhwc.call.decisions.layout = Layout::kNhwc;
    nhwc.call.inputs[0].tensor = transpose4(s.x, {0, 2, 3, 1});
    nhwc.want = transpose4(nchw.want, {0, 2, 3, 1});
    cases.push_back(nhwc);
    // bfloat16 (conv_nhwc_bf16; the float32 entries run it too): 8 bits of each weight and
    // input against the same float64 reference. Each product is off by up to 2^-8 of itself
    // (about 2^-10 on average for values in [-1, 1)), in random directions: about
    // 2^-10 * sqrt(K) in all, bounded here by 4x that; a misplaced value costs about sqrt(K)/3.
    int64_t k = c.x[1] / c.group;
    for (int64_t d : c.kernel) k *= d;
    ListCase bf16 = nhwc;
    bf16.name = c.name + "_nhwc_bf16";
    bf16.call.decisions.precision = Precision::kBf16;
    bf16.atol = 4.0 / 1024.0 * std::sqrt(static_cast<double>(k));
    bf16.rtol = 0;
    cases.push_back(bf16);
  }
  cases.push_back(expand_depthwise_case(seed));
  return cases;
}

// Every entry of the Conv implementation list, forced through the execution options, on every
// case of the table it accepts, on every ISA tier the host has: the list is what runs, so the
// list is what is tested. A case an entry declines fails with the reason; every entry must
// accept at least one case, and every case must be run by at least one entry.
TEST(ConvImplementations, EveryEntryMatchesReferenceOnEveryTier) {
  const std::vector<ListCase> cases = list_cases();
  std::map<std::string, int> runs_of_case;
  for (const ConvImplementation* impl : conv_implementations()) {
    int accepted = 0;
    for (const ListCase& lc : cases) {
      OpCall call = lc.call;
      call.options.conv_implementation = impl->name;
      auto op = testing::PreparedOp::prepare(call);
      if (!op.is_ok()) {
        EXPECT_EQ(op.status().code(), StatusCode::kUnsupported) << op.status().to_string();
        EXPECT_NE(op.status().to_string().find(std::string(impl->name) + " declines: "),
                  std::string::npos)
            << op.status().to_string();
        continue;
      }
      EXPECT_STREQ((*op)->kernel_name(), impl->name) << lc.name;
      ++accepted;
      ++runs_of_case[lc.name];
      for (Isa isa : host_tiers()) {
        SCOPED_TRACE(std::string(impl->name) + " " + lc.name + "_" + isa_name(isa));
        auto got = run_on(call, isa, 2);
        ASSERT_TRUE(got.is_ok()) << got.status().to_string();
        ASSERT_EQ((*got)[0].shape(), lc.want.shape());
        EXPECT_TRUE(testing::all_close((*got)[0].data_as<float>(), lc.want.data_as<float>(),
                                       lc.want.numel(), lc.atol, lc.rtol, lc.act));
      }
    }
    EXPECT_GT(accepted, 0) << impl->name << " accepted no case of the table";
  }
  for (const ListCase& lc : cases) EXPECT_GT(runs_of_case[lc.name], 0) << lc.name;
}

// Without a forced entry the first that accepts runs, and the declines before it are recorded.
TEST(ConvImplementations, TheFirstAcceptingEntryRunsAndTheDeclinesAreNamed) {
  ConvSetup s = setup_conv({.name = "k3", .x = {1, 16, 7, 7}, .m = 70, .kernel = {3, 3}}, 1);
  s.call.decisions.layout = Layout::kNhwc;
  s.call.inputs[0].tensor = transpose4(s.x, {0, 2, 3, 1});
  auto op = testing::PreparedOp::prepare(s.call);
  ASSERT_TRUE(op.is_ok()) << op.status().to_string();
  EXPECT_STREQ((*op)->kernel_name(), "conv_nhwc_gemm");
  const std::string& why = (*op)->dispatch();
  EXPECT_EQ(why.rfind("conv_nhwc_gemm; declined: conv_nhwc_bf16: the node runs float32; "
                      "conv_nhwc_expand_depthwise: ",
                      0),
            0u)
      << why;
  EXPECT_NE(why.find("conv_nhwc_1x1: kernel [3,3]"), std::string::npos) << why;
  EXPECT_NE(why.find("conv_nhwc_direct: 70 outputs"), std::string::npos) << why;
  EXPECT_EQ(why.find("conv_nchw"), std::string::npos) << why;  // entries after the choice

  s.call.options.conv_implementation = "conv_nhwc_nonexistent";
  auto unknown = testing::PreparedOp::prepare(s.call);
  ASSERT_FALSE(unknown.is_ok());
  EXPECT_EQ(unknown.status().code(), StatusCode::kInvalidArgument);
  EXPECT_NE(unknown.status().to_string().find("conv_nhwc_nonexistent"), std::string::npos);
}

}  // namespace
}  // namespace keel
