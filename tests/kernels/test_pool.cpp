// MaxPool, AveragePool, GlobalAveragePool and GlobalMaxPool against the scalar references.
#include <gtest/gtest.h>

#include <cmath>
#include <map>
#include <random>
#include <string>
#include <vector>

#include "ref/pool_ref.hpp"
#include "support/op_runner.hpp"
#include "support/test_data.hpp"
#include "support/tolerance.hpp"

namespace keel {
namespace {

using testing::random_tensor;

using testing::attr_int;
using testing::attr_ints;
using testing::attr_string;
using testing::OpCall;

struct PoolCase {
  std::string name;
  Shape x;
  std::vector<int64_t> kernel;
  std::vector<int64_t> strides = {}, dilations = {}, pads = {};
  bool ceil_mode = false;
  bool count_include_pad = false;
};

std::vector<int64_t> or_fill(const std::vector<int64_t>& v, size_t n, int64_t fill) {
  std::vector<int64_t> out(n, fill);
  for (size_t i = 0; i < v.size() && i < n; ++i) out[i] = v[i];
  return out;
}

// Output size with the ONNX rule: the last window starts inside the left-padded input.
ref::PoolRefParams ref_params(const PoolCase& c) {
  const size_t n = c.kernel.size();
  ref::PoolRefParams p;
  p.x_shape = c.x;
  p.kernel = c.kernel;
  p.strides = or_fill(c.strides, n, 1);
  p.dilations = or_fill(c.dilations, n, 1);
  const std::vector<int64_t> pads = or_fill(c.pads, 2 * n, 0);
  for (size_t i = 0; i < n; ++i) {
    p.pads_begin.push_back(pads[i]);
    p.pads_end.push_back(pads[n + i]);
  }
  p.count_include_pad = c.count_include_pad;
  p.y_shape = {c.x[0], c.x[1]};
  for (size_t i = 0; i < n; ++i) {
    const int64_t dk = (c.kernel[i] - 1) * p.dilations[i] + 1;
    const int64_t span = c.x[i + 2] + pads[i] + pads[i + n] - dk;
    int64_t out =
        (c.ceil_mode ? (span + p.strides[i] - 1) / p.strides[i] : span / p.strides[i]) + 1;
    if (c.ceil_mode && (out - 1) * p.strides[i] >= c.x[i + 2] + pads[i]) --out;
    p.y_shape.push_back(out);
  }
  return p;
}

OpCall pool_call(const std::string& op, const PoolCase& c, const Tensor& x) {
  OpCall call;
  call.op_type = op;
  call.opset = 19;
  call.attributes["kernel_shape"] = attr_ints(c.kernel);
  if (!c.strides.empty()) call.attributes["strides"] = attr_ints(c.strides);
  if (!c.dilations.empty()) call.attributes["dilations"] = attr_ints(c.dilations);
  if (!c.pads.empty()) call.attributes["pads"] = attr_ints(c.pads);
  call.attributes["ceil_mode"] = attr_int(c.ceil_mode);
  if (op == "AveragePool") call.attributes["count_include_pad"] = attr_int(c.count_include_pad);
  call.inputs = {{x, false}};
  return call;
}

const std::vector<PoolCase>& pool_cases() {
  static const std::vector<PoolCase> cases = {
      {"k3_s2_pad1_c13_h17_w17", {2, 13, 17, 17}, {3, 3}, {2, 2}, {}, {1, 1, 1, 1}},
      {"k2_s2_c3_h7_w7_ceil", {1, 3, 7, 7}, {2, 2}, {2, 2}, {}, {}, true},
      {"k3_s2_asym_pads_ceil_count_pad",
       {1, 2, 8, 9},
       {3, 3},
       {2, 2},
       {},
       {0, 1, 2, 1},
       true,
       true},
      {"k3_dil2_s1", {1, 2, 9, 9}, {3, 3}, {}, {2, 2}},
      {"k5_s3_dil2_ceil_count_pad", {1, 1, 13, 14}, {5, 5}, {3, 3}, {2, 2}, {}, true, true},
      {"k7_global_like", {1, 4, 7, 7}, {7, 7}},
      {"pool1d_k3_s2_pad1", {2, 3, 15}, {3}, {2}, {}, {1, 1}},
      {"pool3d_k2_s2_ceil", {1, 2, 5, 6, 7}, {2, 2, 2}, {2, 2, 2}, {}, {}, true},
      {"pool3d_k3_pad1_count_pad",
       {1, 1, 4, 5, 6},
       {3, 3, 3},
       {1, 1, 1},
       {},
       {1, 1, 1, 1, 1, 1},
       false,
       true},
  };
  return cases;
}

TEST(MaxPool, MatchesReferenceWithAndWithoutIndices) {
  uint32_t seed = 1;
  for (const PoolCase& c : pool_cases()) {
    for (int threads : {1, 3}) {
      SCOPED_TRACE(c.name + " threads " + std::to_string(threads));
      Tensor x = random_tensor(c.x, seed++);
      const ref::PoolRefParams p = ref_params(c);
      std::vector<float> want(static_cast<size_t>(numel(p.y_shape)));
      std::vector<int64_t> want_idx(want.size());
      ref::max_pool(p, x.data_as<float>(), want.data(), want_idx.data());
      OpCall call = pool_call("MaxPool", c, x);
      call.threads = threads;
      auto got = testing::run_op(call);
      ASSERT_TRUE(got.is_ok()) << got.status().to_string();
      ASSERT_EQ((*got)[0].shape(), p.y_shape);
      EXPECT_TRUE(testing::all_close((*got)[0].data_as<float>(), want.data(),
                                     static_cast<int64_t>(want.size()), 0.0, 0.0));
      call.num_outputs = 2;
      got = testing::run_op(call);
      ASSERT_TRUE(got.is_ok()) << got.status().to_string();
      EXPECT_TRUE(testing::all_close((*got)[0].data_as<float>(), want.data(),
                                     static_cast<int64_t>(want.size()), 0.0, 0.0));
      ASSERT_EQ((*got)[1].dtype(), DataType::kInt64);
      const int64_t* idx = (*got)[1].data_as<int64_t>();
      EXPECT_EQ(std::vector<int64_t>(idx, idx + want.size()), want_idx);
    }
  }
}

TEST(MaxPool, ColumnMajorIndices) {
  // 1x1x2x3 input, 2x2 window at stride 1: maxima at (1,1) and (1,2).
  Tensor x = Tensor::from_vector<float>({1, 1, 2, 3}, {0, 1, 2, 3, 4, 5});
  OpCall call;
  call.op_type = "MaxPool";
  call.opset = 12;
  call.attributes["kernel_shape"] = attr_ints({2, 2});
  call.attributes["storage_order"] = attr_int(1);
  call.inputs = {{x, false}};
  call.num_outputs = 2;
  auto got = testing::run_op(call);
  ASSERT_TRUE(got.is_ok()) << got.status().to_string();
  const int64_t* idx = (*got)[1].data_as<int64_t>();
  EXPECT_EQ(std::vector<int64_t>(idx, idx + 2), (std::vector<int64_t>{3, 5}));  // h + w*H
}

TEST(MaxPool, Uint8AndInt8) {
  Tensor x = Tensor::from_vector<uint8_t>({1, 1, 3, 3}, {1, 200, 3, 4, 5, 6, 7, 8, 255});
  OpCall call;
  call.op_type = "MaxPool";
  call.opset = 12;
  call.attributes["kernel_shape"] = attr_ints({2, 2});
  call.inputs = {{x, false}};
  auto got = testing::run_op(call);
  ASSERT_TRUE(got.is_ok()) << got.status().to_string();
  const uint8_t* y = (*got)[0].data_as<uint8_t>();
  EXPECT_EQ(std::vector<uint8_t>(y, y + 4), (std::vector<uint8_t>{200, 200, 8, 255}));

  Tensor xi = Tensor::from_vector<int8_t>({1, 1, 1, 4}, {-128, -100, -3, -50});
  call.attributes["kernel_shape"] = attr_ints({1, 2});
  call.attributes["pads"] = attr_ints({0, 1, 0, 1});
  call.inputs = {{xi, false}};
  got = testing::run_op(call);
  ASSERT_TRUE(got.is_ok()) << got.status().to_string();
  const int8_t* yi = (*got)[0].data_as<int8_t>();
  EXPECT_EQ(std::vector<int8_t>(yi, yi + 5), (std::vector<int8_t>{-128, -100, -3, -3, -50}));
}

TEST(AveragePool, MatchesReference) {
  uint32_t seed = 100;
  for (const PoolCase& c : pool_cases()) {
    for (bool include_pad : {false, true}) {
      PoolCase cc = c;
      cc.count_include_pad = include_pad;
      SCOPED_TRACE(c.name + (include_pad ? " count_include_pad" : ""));
      Tensor x = random_tensor(c.x, seed++);
      const ref::PoolRefParams p = ref_params(cc);
      std::vector<float> want(static_cast<size_t>(numel(p.y_shape)));
      ref::average_pool(p, x.data_as<float>(), want.data());
      OpCall call = pool_call("AveragePool", cc, x);
      call.threads = 2;
      auto got = testing::run_op(call);
      ASSERT_TRUE(got.is_ok()) << got.status().to_string();
      ASSERT_EQ((*got)[0].shape(), p.y_shape);
      EXPECT_TRUE(testing::all_close((*got)[0].data_as<float>(), want.data(),
                                     static_cast<int64_t>(want.size()), 1e-6, 1e-5));
    }
  }
}

TEST(AveragePool, SameUpperAndLowerShapesAndValues) {
  Tensor x = Tensor::from_vector<float>({1, 1, 1, 3}, {1, 2, 3});
  for (auto [mode, expect] : std::vector<std::pair<std::string, std::vector<float>>>{
           {"SAME_UPPER", {1.5f, 2.5f, 3.0f}}, {"SAME_LOWER", {1.0f, 1.5f, 2.5f}}}) {
    OpCall call;
    call.op_type = "AveragePool";
    call.attributes["kernel_shape"] = attr_ints({1, 2});
    call.attributes["auto_pad"] = attr_string(mode);
    call.inputs = {{x, false}};
    auto got = testing::run_op(call);
    ASSERT_TRUE(got.is_ok()) << got.status().to_string();
    ASSERT_EQ((*got)[0].shape(), (Shape{1, 1, 1, 3}));
    const float* y = (*got)[0].data_as<float>();
    EXPECT_EQ(std::vector<float>(y, y + 3), expect) << mode;
  }
}

TEST(GlobalPool, AverageAndMax) {
  for (Shape s : {Shape{2, 3, 5, 7}, Shape{1, 13, 127}, Shape{1, 2, 3, 4, 5}}) {
    Tensor x = random_tensor(s, 7);
    const int64_t planes = s[0] * s[1], size = numel(s) / planes;
    std::vector<double> avg(planes), mx(planes);
    for (int64_t p = 0; p < planes; ++p) {
      double sum = 0, m = -INFINITY;
      for (int64_t i = 0; i < size; ++i) {
        sum += x.data_as<float>()[p * size + i];
        m = std::max<double>(m, x.data_as<float>()[p * size + i]);
      }
      avg[p] = sum / size;
      mx[p] = m;
    }
    Shape out = s;
    for (size_t i = 2; i < out.size(); ++i) out[i] = 1;
    for (auto [op, want] :
         {std::pair{"GlobalAveragePool", &avg}, std::pair{"GlobalMaxPool", &mx}}) {
      OpCall call;
      call.op_type = op;
      call.inputs = {{x, false}};
      auto got = testing::run_op(call);
      ASSERT_TRUE(got.is_ok()) << got.status().to_string();
      ASSERT_EQ((*got)[0].shape(), out);
      EXPECT_TRUE(testing::all_close((*got)[0].data_as<float>(), want->data(), planes, 1e-6, 1e-5));
    }
  }
}

StatusCode pool_status(const std::string& op, Shape x, std::map<std::string, Attribute> attrs,
                       int opset = 19, DataType dt = DataType::kFloat32) {
  OpCall call;
  call.op_type = op;
  call.opset = opset;
  call.attributes = std::move(attrs);
  call.inputs = {{Tensor::allocate(dt, std::move(x)).value(), false}};
  auto r = testing::run_op(call);
  return r.is_ok() ? StatusCode::kOk : r.status().code();
}

TEST(Pool, RejectsMalformedNodes) {
  const Shape x = {1, 2, 6, 6};
  const Attribute k2 = attr_ints({2, 2});
  for (const std::string op : {"MaxPool", "AveragePool"}) {
    SCOPED_TRACE(op);
    EXPECT_EQ(pool_status(op, x, {}), StatusCode::kInvalidModel);  // no kernel_shape
    EXPECT_EQ(pool_status(op, x, {{"kernel_shape", attr_ints({2})}}), StatusCode::kInvalidModel);
    EXPECT_EQ(pool_status(op, x, {{"kernel_shape", attr_ints({0, 2})}}), StatusCode::kInvalidModel);
    EXPECT_EQ(pool_status(op, x, {{"kernel_shape", k2}, {"pads", attr_ints({1, 1})}}),
              StatusCode::kInvalidModel);
    EXPECT_EQ(pool_status(op, x, {{"kernel_shape", k2}, {"strides", attr_ints({0, 1})}}),
              StatusCode::kInvalidModel);
    EXPECT_EQ(pool_status(op, x, {{"kernel_shape", attr_ints({7, 7})}}), StatusCode::kInvalidModel);
    EXPECT_EQ(pool_status(op, x, {{"kernel_shape", k2}, {"ceil_mode", attr_int(2)}}),
              StatusCode::kInvalidModel);
    EXPECT_EQ(pool_status(op, {2, 6}, {{"kernel_shape", k2}}), StatusCode::kInvalidModel);
    EXPECT_EQ(pool_status(op, x, {{"kernel_shape", k2}, {"auto_pad", attr_string("BAD")}}),
              StatusCode::kInvalidModel);
    EXPECT_EQ(pool_status(op, x, {{"kernel_shape", k2}}), StatusCode::kOk);
  }
  // Dilations are AveragePool-19 only; int8 MaxPool needs opset 12.
  EXPECT_EQ(
      pool_status("AveragePool", x, {{"kernel_shape", k2}, {"dilations", attr_ints({2, 2})}}, 11),
      StatusCode::kInvalidModel);
  EXPECT_EQ(pool_status("MaxPool", x, {{"kernel_shape", k2}}, 11, DataType::kInt8),
            StatusCode::kInvalidModel);
  EXPECT_EQ(pool_status("AveragePool", x, {{"kernel_shape", k2}}, 19, DataType::kInt32),
            StatusCode::kUnsupported);
  EXPECT_EQ(pool_status("GlobalAveragePool", {2, 3}, {}), StatusCode::kInvalidModel);
}

}  // namespace
}  // namespace keel
