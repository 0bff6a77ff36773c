// Pooling, normalization and LRN ops marked NHWC (graph/layout.hpp) against the same op on NCHW
// data: the NHWC output, transposed back, must match within 1e-6 of the output's scale (the
// reductions run in another order), on every ISA tier the host has, with bit-identical
// results for 1, 2 and 7 threads; and a marked node whose X is not rank 4 is rejected.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstring>
#include <map>
#include <string>
#include <vector>

#include "core/cpu_features.hpp"
#include "support/nhwc_test_util.hpp"
#include "support/op_runner.hpp"

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

struct NhwcCase {
  std::string name;
  OpCall call;  // inputs[0] is the NCHW X
};

// One case per op and shape: channel counts around the vector widths, odd spatial sizes,
// batch 1 and 3.
std::vector<NhwcCase> cases() {
  std::vector<NhwcCase> out;
  uint32_t seed = 1;
  for (const Shape& x : std::vector<Shape>{{1, 1, 5, 7},
                                           {3, 3, 9, 8},
                                           {1, 13, 7, 7},
                                           {1, 24, 6, 5},
                                           {3, 40, 5, 5},
                                           {1, 127, 4, 3}}) {
    const int64_t c = x[1];
    auto add = [&](const std::string& name, OpCall call) {
      call.inputs.insert(call.inputs.begin(), {random_tensor(x, seed++, -3.0f, 5.0f), false});
      out.push_back({name + "_" + std::to_string(x[0]) + "x" + std::to_string(c) + "x" +
                         std::to_string(x[2]) + "x" + std::to_string(x[3]),
                     std::move(call)});
    };
    OpCall maxpool{"MaxPool", 17, {}, {}, 1, 1};
    maxpool.attributes = {{"kernel_shape", attr_ints({3, 3})},
                          {"strides", attr_ints({2, 2})},
                          {"pads", attr_ints({1, 1, 1, 1})},
                          {"ceil_mode", attr_int(1)}};
    add("maxpool3x3s2", maxpool);
    OpCall avg{"AveragePool", 19, {}, {}, 1, 1};
    avg.attributes = {{"kernel_shape", attr_ints({2, 3})},
                      {"strides", attr_ints({1, 2})},
                      {"pads", attr_ints({1, 0, 0, 1})},
                      {"dilations", attr_ints({1, 1})}};
    add("avgpool", avg);
    avg.attributes["count_include_pad"] = attr_int(1);
    avg.attributes["ceil_mode"] = attr_int(1);
    add("avgpool_include_pad_ceil", avg);
    add("globalavgpool", OpCall{"GlobalAveragePool", 17, {}, {}, 1, 1});
    add("globalmaxpool", OpCall{"GlobalMaxPool", 17, {}, {}, 1, 1});
    OpCall bn{"BatchNormalization", 15, {}, {}, 1, 1};
    bn.inputs = {{random_tensor({c}, seed++), true},
                 {random_tensor({c}, seed++), true},
                 {random_tensor({c}, seed++), true},
                 {random_tensor({c}, seed++, 0.5f, 2.0f), true}};
    add("batchnorm", bn);
    testing::use_fused_kind(bn);
    bn.decisions.activation = {ActKind::kClip, 0.0f, 1.0f, 0.0f, 0.0f};
    add("batchnorm_clip", bn);
    OpCall in{"InstanceNormalization", 17, {}, {}, 1, 1};
    in.inputs = {{random_tensor({c}, seed++), true}, {random_tensor({c}, seed++), false}};
    add("instancenorm", in);
    const int64_t groups = c % 3 == 0 ? 3 : 1;
    OpCall gn18{"GroupNormalization", 18, {{"num_groups", attr_int(groups)}}, {}, 1, 1};
    gn18.inputs = {{random_tensor({groups}, seed++), true},
                   {random_tensor({groups}, seed++), true}};
    add("groupnorm18", gn18);
    OpCall lrn{"LRN", 13, {{"size", attr_int(5)}, {"alpha", attr_float(2e-2f)}}, {}, 1, 1};
    add("lrn", lrn);
    lrn.attributes["beta"] = attr_float(0.6f);
    lrn.attributes["size"] = attr_int(4);
    add("lrn_beta06_size4", lrn);
    OpCall gn21{"GroupNormalization", 21, {{"num_groups", attr_int(groups)}}, {}, 1, 1};
    gn21.inputs = {{random_tensor({c}, seed++), true}, {random_tensor({c}, seed++), true}};
    add("groupnorm21", gn21);
  }
  return out;
}

class NhwcOp : public ::testing::TestWithParam<NhwcCase> {};

TEST_P(NhwcOp, MatchesNchwOnEveryTierAndThreadCount) {
  const NhwcCase& c = GetParam();
  auto want = testing::run_op(c.call);
  ASSERT_TRUE(want.is_ok()) << want.status().to_string();
  const Tensor& y_nchw = (*want)[0];
  double scale = 0;
  for (int64_t i = 0; i < y_nchw.numel(); ++i) {
    scale = std::max(scale, std::fabs(static_cast<double>(y_nchw.data_as<float>()[i])));
  }
  OpCall nhwc = c.call;
  nhwc.decisions.layout = Layout::kNhwc;
  nhwc.inputs[0].tensor = transpose4(c.call.inputs[0].tensor, {0, 2, 3, 1});
  for (Isa isa : host_tiers()) {
    set_isa_cap_for_testing(isa);
    std::vector<float> first;
    for (int threads : {1, 2, 7}) {
      SCOPED_TRACE(std::string(isa_name(isa)) + " threads " + std::to_string(threads));
      nhwc.threads = threads;
      auto got = testing::run_op(nhwc);
      ASSERT_TRUE(got.is_ok()) << got.status().to_string();
      const Tensor back = transpose4((*got)[0], {0, 3, 1, 2});
      ASSERT_EQ(back.shape(), y_nchw.shape());
      double err = 0;
      for (int64_t i = 0; i < back.numel(); ++i) {
        err = std::max(err, std::fabs(static_cast<double>(back.data_as<float>()[i]) -
                                      static_cast<double>(y_nchw.data_as<float>()[i])));
      }
      EXPECT_LE(err, 1e-6 * std::max(scale, 1.0));
      const float* p = (*got)[0].data_as<float>();
      if (first.empty()) {
        first.assign(p, p + (*got)[0].numel());
      } else {
        EXPECT_EQ(std::memcmp(first.data(), p, first.size() * sizeof(float)), 0)
            << "bits differ from 1 thread";
      }
    }
  }
  set_isa_cap_for_testing(std::nullopt);
}

INSTANTIATE_TEST_SUITE_P(PoolsAndNorms, NhwcOp, ::testing::ValuesIn(cases()),
                         [](const auto& info) { return info.param.name; });

TEST(NhwcOp, RankThreeXIsRejected) {
  for (const std::string op : {"MaxPool", "GlobalAveragePool", "InstanceNormalization"}) {
    OpCall call{op, 17, {}, {}, 1, 1};
    call.decisions.layout = Layout::kNhwc;
    if (op == "MaxPool") call.attributes["kernel_shape"] = attr_ints({2});
    call.inputs = {{random_tensor({1, 4, 5}, 1), false}};
    if (op == "InstanceNormalization") {
      call.inputs.push_back({random_tensor({4}, 2), true});
      call.inputs.push_back({random_tensor({4}, 3), true});
    }
    auto r = testing::run_op(call);
    ASSERT_FALSE(r.is_ok()) << op;
    EXPECT_NE(r.status().to_string().find("rank-4"), std::string::npos) << r.status().to_string();
  }
}

TEST(NhwcOp, MaxPoolIndicesOnNhwcIsUnsupported) {
  OpCall call{"MaxPool", 17, {}, {}, 2, 1};
  call.decisions.layout = Layout::kNhwc;
  call.attributes["kernel_shape"] = attr_ints({2, 2});
  call.inputs = {{random_tensor({1, 4, 4, 3}, 1), false}};
  auto r = testing::run_op(call);
  ASSERT_FALSE(r.is_ok());
  EXPECT_EQ(r.status().code(), StatusCode::kUnsupported) << r.status().to_string();
}

}  // namespace
}  // namespace keel
