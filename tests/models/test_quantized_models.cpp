// Quantized (QDQ) models as ONNX Runtime's static quantizer writes them
// (models/quantized, made by models/generate_qdq.py), run on keel's exact
// dequantize-compute-quantize path: against what the QDQ graph says (the ONNX reference
// evaluator), against ONNX Runtime's error from the float model's float64 reference, the same
// bits for any thread count, and `keel fold` keeping the weights quantized.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstring>

#include "core/npy.hpp"
#include "graph/graph.hpp"
#include "model_test_util.hpp"

namespace keel::testing {
namespace {

// A float32 evaluation of the same graph rounds some quotient on the other side of a .5 now
// and then (summation order), moving that value one quantization step; the outputs of the
// committed models are then 1-2 output steps (0.6-1.2% of the output's scale) apart.
constexpr double kMaxFromQdqGraph = 1.5e-2;
// keel's error from the float model's float64 reference may exceed ONNX Runtime's by this
// factor plus one output step at most (the same flips, in either direction).
constexpr double kPeerErrorFactor = 1.25;
constexpr double kPeerErrorSlack = 7e-3;

// max |a - b| / max |f64| for float32 a and b (f64: the float64 reference giving the scale).
double difference_to_scale(const Tensor& a, const Tensor& b, const Tensor& f64) {
  if (a.numel() != b.numel() || a.dtype() != DataType::kFloat32 ||
      b.dtype() != DataType::kFloat32) {
    return INFINITY;
  }
  double max_abs = 0, scale = 0;
  for (int64_t i = 0; i < a.numel(); ++i) {
    const double d = std::fabs(double{a.data_as<float>()[i]} - double{b.data_as<float>()[i]});
    if (std::isnan(d)) return INFINITY;
    max_abs = std::max(max_abs, d);
  }
  for (int64_t i = 0; i < f64.numel(); ++i)
    scale = std::max(scale, std::fabs(f64.data_as<double>()[i]));
  return scale > 0 ? max_abs / scale : max_abs;
}

class QuantizedModel : public ::testing::TestWithParam<std::tuple<std::string, LayoutOption>> {
 protected:
  const std::string& dir() const { return std::get<0>(GetParam()); }
  void SetUp() override {
    ModelOptions o;
    o.layout = std::get<1>(GetParam());
    auto m = Model::load_file(dir() + "/model.onnx", o);
    ASSERT_TRUE(m.is_ok()) << m.status().to_string();
    model_ = *m;
    auto c = load_model_case(dir(), *model_);
    ASSERT_TRUE(c.is_ok()) << c.status().to_string();
    case_ = std::move(*c);
  }
  std::vector<Tensor> run(int threads) { return run_model(model_, case_.inputs, threads); }
  Tensor read_output(const std::string& sub, size_t o) {
    auto t = read_npy(dir() + "/" + sub + "/" + model_->outputs()[o].name + ".npy");
    EXPECT_TRUE(t.is_ok()) << t.status().to_string();
    return t.is_ok() ? std::move(*t) : Tensor{};
  }
  std::shared_ptr<const Model> model_;
  ModelCase case_;
};

TEST_P(QuantizedModel, MatchesTheQdqGraphAndOnnxRuntimesError) {
  const std::vector<Tensor> out = run(0);
  ASSERT_EQ(out.size(), case_.references.size());
  for (size_t o = 0; o < out.size(); ++o) {
    const Tensor& f64 = case_.references[o];
    const Tensor qdq = read_output("outputs_qdq", o), ort = read_output("outputs_ort", o);
    const double from_graph = difference_to_scale(out[o], qdq, f64);
    const double keel_error = relative_error(out[o], f64);
    const double ort_error = relative_error(ort, f64);
    std::printf("%s output %zu: from the QDQ graph %.2e; from float64 keel %.2e, ORT %.2e\n",
                case_.name.c_str(), o, from_graph, keel_error, ort_error);
    EXPECT_LE(from_graph, kMaxFromQdqGraph);
    EXPECT_LE(keel_error, kPeerErrorFactor * ort_error + kPeerErrorSlack);
  }
}

TEST_P(QuantizedModel, SameBitsForOneAndTwoThreads) {
  const std::vector<Tensor> a = run(1), b = run(2);
  ASSERT_EQ(a.size(), b.size());
  for (size_t o = 0; o < a.size(); ++o) {
    ASSERT_EQ(a[o].nbytes(), b[o].nbytes());
    EXPECT_EQ(std::memcmp(a[o].data(), b[o].data(), a[o].nbytes()), 0);
  }
}

// `keel fold` loads without runtime fusions: the weights stay int8 (behind their
// DequantizeLinear in a QDQ model), so the folded model is still a quantized model.
TEST_P(QuantizedModel, FoldingKeepsTheWeightsQuantized) {
  ModelOptions o;
  o.runtime_fusions = false;
  o.layout = LayoutOption::kNchw;
  auto m = Model::load_file(dir() + "/model.onnx", o);
  ASSERT_TRUE(m.is_ok()) << m.status().to_string();
  int integer_weights = 0;
  for (const Node* n : (*m)->graph().nodes()) {
    for (const Value* w : n->inputs) {
      if (w && w->is_constant() && w->constant->numel() > 1 &&
          (w->constant->dtype() == DataType::kInt8 || w->constant->dtype() == DataType::kUint8)) {
        ++integer_weights;
      }
    }
  }
  EXPECT_GT(integer_weights, 0);
}

INSTANTIATE_TEST_SUITE_P(
    Quantized, QuantizedModel,
    ::testing::Combine(::testing::ValuesIn(model_folders(KEEL_MODELS_DIR "/quantized")),
                       ::testing::Values(LayoutOption::kNchw, LayoutOption::kNhwc)),
    [](const auto& info) {
      const std::string& dir = std::get<0>(info.param);
      return dir.substr(dir.find_last_of('/') + 1) + "_" +
             layout_option_name(std::get<1>(info.param));
    });

}  // namespace
}  // namespace keel::testing
