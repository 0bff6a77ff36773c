// lower_qlinear_ops: QLinearConv (per-channel weights, bias) becomes DequantizeLinear, Conv,
// QuantizeLinear at load and its output matches the operator's integer definition (a scalar
// reference here) to within one quantization step, almost everywhere exactly; `keel fold`
// (runtime fusions off) keeps the QOperator node, which a session then refuses by name.
#include <gtest/gtest.h>

#include <cmath>
#include <cstring>
#include <random>
#include <string>
#include <vector>

#include "graph/graph.hpp"
#include "keel/keel.hpp"
#include "support/model_builder.hpp"

namespace keel::testing {
namespace {

template <typename T>
void add_initializer(ModelBuilder& b, const std::string& name, std::vector<int64_t> dims,
                     const std::vector<T>& values, int elem_type) {
  onnx::TensorProto* t = b.proto().mutable_graph()->add_initializer();
  t->set_name(name);
  t->set_data_type(elem_type);
  for (int64_t d : dims) t->add_dims(d);
  t->set_raw_data(
      std::string(reinterpret_cast<const char*>(values.data()), values.size() * sizeof(T)));
}

constexpr int64_t kCin = 4, kCout = 3, kH = 7, kW = 7;

struct QConvCase {
  std::vector<uint8_t> x;
  std::vector<int8_t> w;
  std::vector<float> w_scale;
  std::vector<int32_t> bias;
};

QConvCase make_case() {
  std::mt19937 gen(5);
  std::uniform_int_distribution<int> u8(0, 255), s8(-127, 127), b(-2000, 2000);
  QConvCase c;
  for (int64_t i = 0; i < kCin * kH * kW; ++i) c.x.push_back(static_cast<uint8_t>(u8(gen)));
  for (int64_t i = 0; i < kCout * kCin * 9; ++i) c.w.push_back(static_cast<int8_t>(s8(gen)));
  c.w_scale = {0.011f, 0.0073f, 0.0157f};
  for (int64_t i = 0; i < kCout; ++i) c.bias.push_back(b(gen));
  return c;
}

constexpr float kXScale = 0.021f, kYScale = 0.37f;
constexpr uint8_t kXZero = 131, kYZero = 97;

ModelBuilder qlinear_conv_model(const QConvCase& c, bool y_zero_point) {
  ModelBuilder b(13);
  b.input("x", {1, kCin, kH, kW}, onnx::TensorProto_DataType_UINT8);
  b.initializer("x_scale", {}, {kXScale});
  add_initializer(b, "x_zero", {}, std::vector<uint8_t>{kXZero}, onnx::TensorProto_DataType_UINT8);
  add_initializer(b, "w", {kCout, kCin, 3, 3}, c.w, onnx::TensorProto_DataType_INT8);
  b.initializer("w_scale", {kCout}, c.w_scale);
  add_initializer(b, "w_zero", {kCout}, std::vector<int8_t>(kCout, 0),
                  onnx::TensorProto_DataType_INT8);
  b.initializer("y_scale", {}, {kYScale});
  add_initializer(b, "y_zero", {}, std::vector<uint8_t>{kYZero}, onnx::TensorProto_DataType_UINT8);
  add_initializer(b, "bias", {kCout}, c.bias, onnx::TensorProto_DataType_INT32);
  auto& n = b.node("QLinearConv",
                   {"x", "x_scale", "x_zero", "w", "w_scale", "w_zero", "y_scale",
                    y_zero_point ? "y_zero" : "", "bias"},
                   {"y"}, "qconv");
  set_attr(n, "pads", std::vector<int64_t>{1, 1, 1, 1});
  b.output("y", onnx::TensorProto_DataType_UINT8);
  return b;
}

// The operator's definition: integer sums, one multiplication by x_scale * w_scale / y_scale,
// the zero point, rounding half to even, saturation.
std::vector<uint8_t> reference(const QConvCase& c) {
  std::vector<uint8_t> y;
  for (int64_t o = 0; o < kCout; ++o)
    for (int64_t h = 0; h < kH; ++h)
      for (int64_t w = 0; w < kW; ++w) {
        int64_t acc = c.bias[static_cast<size_t>(o)];
        for (int64_t i = 0; i < kCin; ++i)
          for (int64_t kh = 0; kh < 3; ++kh)
            for (int64_t kw = 0; kw < 3; ++kw) {
              const int64_t ih = h + kh - 1, iw = w + kw - 1;
              if (ih < 0 || ih >= kH || iw < 0 || iw >= kW) continue;
              acc += (int64_t{c.x[static_cast<size_t>((i * kH + ih) * kW + iw)]} - kXZero) *
                     c.w[static_cast<size_t>(((o * kCin + i) * 3 + kh) * 3 + kw)];
            }
        const float m = kXScale * c.w_scale[static_cast<size_t>(o)] / kYScale;
        const double r = std::nearbyint(static_cast<double>(static_cast<float>(acc) * m)) + kYZero;
        y.push_back(static_cast<uint8_t>(std::min(255.0, std::max(0.0, r))));
      }
  return y;
}

Result<std::shared_ptr<const Model>> load(const ModelBuilder& b, bool runtime_fusions) {
  const std::string bytes = b.bytes();
  ModelOptions o;
  o.runtime_fusions = runtime_fusions;
  return Model::load_bytes(bytes.data(), bytes.size(), o);
}

int count_op(const Model& m, const std::string& op) {
  int n = 0;
  for (const Node* node : m.graph().nodes()) n += node->op_type == op;
  return n;
}

TEST(LowerQLinearOps, QLinearConvRunsAsQdqAndMatchesItsIntegerDefinition) {
  const QConvCase c = make_case();
  for (LayoutOption layout : {LayoutOption::kNchw, LayoutOption::kNhwc}) {
    const std::string bytes = qlinear_conv_model(c, true).bytes();
    ModelOptions o;
    o.layout = layout;
    auto m = Model::load_bytes(bytes.data(), bytes.size(), o);
    ASSERT_TRUE(m.is_ok()) << m.status().to_string();
    EXPECT_EQ(count_op(**m, "QLinearConv"), 0);
    EXPECT_EQ(count_op(**m, "Conv") + count_op(**m, "FusedConv"), 1);
    auto s = Session::create(*m, {.threads = 2});
    ASSERT_TRUE(s.is_ok()) << s.status().to_string();
    const Tensor x = Tensor::from_vector({1, kCin, kH, kW}, c.x);
    auto out = (*s)->run({{"x", x}});
    ASSERT_TRUE(out.is_ok()) << out.status().to_string();
    ASSERT_EQ((*out)[0].dtype(), DataType::kUint8);
    const std::vector<uint8_t> want = reference(c);
    const uint8_t* got = (*out)[0].data_as<uint8_t>();
    int exact = 0;
    for (size_t i = 0; i < want.size(); ++i) {
      ASSERT_LE(std::abs(int{got[i]} - int{want[i]}), 1) << "element " << i;
      exact += got[i] == want[i];
    }
    EXPECT_GE(exact * 100, static_cast<int>(want.size()) * 98) << exact << " of " << want.size();
  }
}

TEST(LowerQLinearOps, WithoutOutputZeroPointTheModelIsRefused) {
  auto m = load(qlinear_conv_model(make_case(), false), true);
  ASSERT_FALSE(m.is_ok());
  EXPECT_EQ(m.status().code(), StatusCode::kInvalidModel);
  EXPECT_NE(m.status().message().find("required input 7"), std::string::npos)
      << m.status().message();
}

// keel fold loads without runtime fusions: the node stays (its output is standard ONNX), and a
// session on such a model says why it cannot run it.
TEST(LowerQLinearOps, WithoutRuntimeFusionsTheQOperatorNodeStays) {
  auto m = load(qlinear_conv_model(make_case(), true), false);
  ASSERT_TRUE(m.is_ok()) << m.status().to_string();
  EXPECT_EQ(count_op(**m, "QLinearConv"), 1);
  EXPECT_EQ(count_op(**m, "DequantizeLinear"), 0);
  auto s = Session::create(*m, {.threads = 1});
  ASSERT_FALSE(s.is_ok());
  EXPECT_EQ(s.status().code(), StatusCode::kUnsupported);
  EXPECT_NE(s.status().message().find(
                "runs only as DequantizeLinear, the float operator and QuantizeLinear"),
            std::string::npos)
      << s.status().message();
}

// A com.microsoft node has no ONNX schema to check it at load: one missing operands stays as it
// is and the session names it.
TEST(LowerQLinearOps, MalformedContribNodeIsRefusedNotLowered) {
  ModelBuilder b(13);
  auto* ms = b.proto().add_opset_import();
  ms->set_domain("com.microsoft");
  ms->set_version(1);
  b.input("a", {2, 3}, onnx::TensorProto_DataType_UINT8);
  b.initializer("a_scale", {}, {0.5f});
  auto& q = b.node("QLinearAdd", {"a", "a_scale"}, {"y"}, "short_add");
  q.set_domain("com.microsoft");
  b.output("y", onnx::TensorProto_DataType_UINT8);
  auto m = load(b, true);
  ASSERT_TRUE(m.is_ok()) << m.status().to_string();
  EXPECT_EQ(count_op(**m, "QLinearAdd"), 1);
  auto s = Session::create(*m, {.threads = 1});
  ASSERT_FALSE(s.is_ok());
  EXPECT_EQ(s.status().code(), StatusCode::kUnsupported);
  EXPECT_NE(s.status().message().find("short_add"), std::string::npos) << s.status().message();
}

// ONNX Runtime's QGemm without y_scale returns float32: alpha * A'B' + C, C quantized with
// alpha * a_scale * b_scale (per column of B here).
TEST(LowerQLinearOps, QGemmWithFloatOutputMatchesItsDefinition) {
  const int64_t m = 2, k = 3, n = 4;
  const std::vector<uint8_t> a = {10, 200, 37, 0, 255, 128};
  const std::vector<int8_t> bt = {1, -2, 3, 127, -128, 5, 0, 9, -9, 44, 45, -46};  // [n, k]
  const std::vector<float> b_scale = {0.5f, 0.25f, 0.125f, 2.0f};
  const std::vector<int32_t> c = {100, -7, 0, 33};
  const float a_scale = 0.02f, alpha = 0.5f;
  const uint8_t a_zero = 128;
  ModelBuilder b(13);
  auto* ms = b.proto().add_opset_import();
  ms->set_domain("com.microsoft");
  ms->set_version(1);
  b.input("a", {m, k}, onnx::TensorProto_DataType_UINT8);
  b.initializer("a_scale", {}, {a_scale});
  add_initializer(b, "a_zero", {}, std::vector<uint8_t>{a_zero}, onnx::TensorProto_DataType_UINT8);
  add_initializer(b, "b", {n, k}, bt, onnx::TensorProto_DataType_INT8);
  b.initializer("b_scale", {n}, b_scale);
  add_initializer(b, "b_zero", {n}, std::vector<int8_t>(n, 0), onnx::TensorProto_DataType_INT8);
  add_initializer(b, "c", {n}, c, onnx::TensorProto_DataType_INT32);
  auto& q =
      b.node("QGemm", {"a", "a_scale", "a_zero", "b", "b_scale", "b_zero", "c"}, {"y"}, "qgemm");
  q.set_domain("com.microsoft");
  set_attr(q, "transB", int64_t{1});
  set_attr(q, "alpha", alpha);
  b.output("y");
  auto model = load(b, true);
  ASSERT_TRUE(model.is_ok()) << model.status().to_string();
  EXPECT_EQ(count_op(**model, "QGemm"), 0);
  auto s = Session::create(*model, {.threads = 1});
  ASSERT_TRUE(s.is_ok()) << s.status().to_string();
  auto out = (*s)->run({{"a", Tensor::from_vector({m, k}, a)}});
  ASSERT_TRUE(out.is_ok()) << out.status().to_string();
  ASSERT_EQ((*out)[0].dtype(), DataType::kFloat32);
  for (int64_t i = 0; i < m; ++i)
    for (int64_t j = 0; j < n; ++j) {
      double acc = 0;
      for (int64_t p = 0; p < k; ++p)
        acc += (static_cast<double>(a[static_cast<size_t>(i * k + p)]) - a_zero) *
               bt[static_cast<size_t>(j * k + p)];
      const double sab = double{a_scale} * b_scale[static_cast<size_t>(j)];
      const double want = alpha * sab * (acc + c[static_cast<size_t>(j)]);
      EXPECT_NEAR((*out)[0].data_as<float>()[i * n + j], want,
                  1e-5 * std::max(1.0, std::fabs(want)))
          << i << "," << j;
    }
}

}  // namespace
}  // namespace keel::testing
