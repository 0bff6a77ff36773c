// The full zoo (models/generate_zoo.py): every model against its float64 reference.
// Skipped with a message when the zoo has not been generated.
#include <gtest/gtest.h>

#include <chrono>
#include <fstream>

#include "model_test_util.hpp"

namespace keel::testing {
namespace {

const std::vector<std::string> kZoo = {"resnet18", "resnet50", "mobilenet_v2", "mobilenet_v3_small", "densenet121",
                            "efficientnet_b0", "convnext_tiny", "shufflenet_v2_x1_0", "regnet_y_400mf"};

class ZooModel : public ::testing::TestWithParam<std::string> {};

TEST_P(ZooModel, MatchesFloat64Reference) {
  const std::string dir = std::string(KEEL_MODELS_DIR) + "/zoo/" + GetParam();
  if (!std::ifstream(dir + "/model.onnx")) {
    GTEST_SKIP() << "zoo model '" << GetParam() << "' not generated: run /usr/bin/python3 models/generate_zoo.py";
  }
  auto model = Model::load_file(dir + "/model.onnx");
  ASSERT_TRUE(model.is_ok()) << model.status().to_string();
  auto c = load_model_case(dir, **model);
  ASSERT_TRUE(c.is_ok()) << c.status().to_string();
  auto session = Session::create(*model, {});
  ASSERT_TRUE(session.is_ok()) << session.status().to_string();
  const auto t0 = std::chrono::steady_clock::now();
  auto out = (*session)->run(c->inputs);
  const double ms = std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0).count();
  ASSERT_TRUE(out.is_ok()) << out.status().to_string();
  ASSERT_EQ(out->size(), c->references.size());
  for (size_t i = 0; i < out->size(); ++i) {
    const double err = relative_error((*out)[i], c->references[i]);
    std::printf("zoo %s: max|keel - f64| / max|f64| = %.3g (first run %.1f ms)\n", GetParam().c_str(), err, ms);
    EXPECT_LE(err, 1e-5);
  }
}

INSTANTIATE_TEST_SUITE_P(Zoo, ZooModel, ::testing::ValuesIn(kZoo),
                         [](const auto& info) { return info.param; });

}  // namespace
}  // namespace keel::testing
