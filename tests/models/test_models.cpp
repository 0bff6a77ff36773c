// The committed small models: accuracy against float64, determinism across thread counts,
// concurrent runs on one session, and re-planning for a new batch size; each in both layouts
// (activations stored NCHW, or NHWC through the choose_layout pass).
#include <gtest/gtest.h>

#include <cmath>
#include <cstring>
#include <limits>
#include <thread>

#include "model_test_util.hpp"

namespace keel::testing {
namespace {

constexpr double kMaxRelativeError = 1e-5;

class CommittedModel : public ::testing::TestWithParam<std::tuple<std::string, LayoutOption>> {
 protected:
  const std::string& dir() const { return std::get<0>(GetParam()); }
  ModelOptions options() const {
    ModelOptions o;
    o.layout = std::get<1>(GetParam());
    return o;
  }
  void SetUp() override {
    auto m = Model::load_file(dir() + "/model.onnx", options());
    ASSERT_TRUE(m.is_ok()) << m.status().to_string();
    model_ = *m;
    auto c = load_model_case(dir(), *model_);
    ASSERT_TRUE(c.is_ok()) << c.status().to_string();
    case_ = std::move(*c);
  }
  std::vector<Tensor> run(int threads) { return run_model(model_, case_.inputs, threads); }
  std::shared_ptr<const Model> model_;
  ModelCase case_;
};

bool bit_identical(const std::vector<Tensor>& a, const std::vector<Tensor>& b) {
  if (a.size() != b.size()) return false;
  for (size_t i = 0; i < a.size(); ++i) {
    if (a[i].shape() != b[i].shape() || a[i].nbytes() != b[i].nbytes() ||
        std::memcmp(a[i].data(), b[i].data(), a[i].nbytes()) != 0) {
      return false;
    }
  }
  return true;
}

TEST_P(CommittedModel, MatchesFloat64Reference) {
  auto out = run(0);
  ASSERT_EQ(out.size(), case_.references.size());
  for (size_t i = 0; i < out.size(); ++i) {
    const double err = relative_error(out[i], case_.references[i]);
    std::printf("%s output %zu: max|keel - f64| / max|f64| = %.3g\n", case_.name.c_str(), i, err);
    EXPECT_LE(err, kMaxRelativeError);
  }
}

TEST_P(CommittedModel, FoldedAndUnfoldedMatchFloat64) {
  ModelOptions off = options();
  off.fold = false;
  auto unfolded = Model::load_file(dir() + "/model.onnx", off);
  ASSERT_TRUE(unfolded.is_ok());
  auto s = Session::create(*unfolded, {});
  ASSERT_TRUE(s.is_ok());
  auto out = (*s)->run(case_.inputs);
  ASSERT_TRUE(out.is_ok()) << out.status().to_string();
  for (size_t i = 0; i < out->size(); ++i) {
    EXPECT_LE(relative_error((*out)[i], case_.references[i]), kMaxRelativeError);
  }
}

TEST_P(CommittedModel, SameBitsForOneTwoAndSevenThreads) {
  auto one = run(1);
  EXPECT_TRUE(bit_identical(one, run(2)));
  EXPECT_TRUE(bit_identical(one, run(7)));
}

TEST_P(CommittedModel, EightConcurrentRunsOnOneSessionGiveIdenticalBits) {
  SessionOptions o;
  o.threads = 2;
  auto s = Session::create(model_, o);
  ASSERT_TRUE(s.is_ok()) << s.status().to_string();
  auto expected = (*s)->run(case_.inputs);
  ASSERT_TRUE(expected.is_ok());
  std::vector<int> ok(8, 0);
  std::vector<std::thread> threads;
  for (int t = 0; t < 8; ++t) {
    threads.emplace_back([&, t] {
      int good = 1;
      for (int i = 0; i < 5; ++i) {
        auto out = (*s)->run(case_.inputs);
        good = good && out.is_ok() && bit_identical(*out, *expected);
      }
      ok[t] = good;
    });
  }
  for (auto& th : threads) th.join();
  for (int t = 0; t < 8; ++t) EXPECT_EQ(ok[t], 1) << "thread " << t;
}

TEST_P(CommittedModel, NewBatchSizeReplansAndMatches) {
  if (model_->inputs().size() != 1 || model_->inputs()[0].shape.empty() ||
      model_->inputs()[0].shape[0] >= 0) {
    GTEST_SKIP() << "no dynamic batch dimension";
  }
  const Tensor& x = case_.inputs[0].tensor;
  Shape shape = x.shape();
  shape[0] = 3;
  auto batch = Tensor::allocate(x.dtype(), shape);
  ASSERT_TRUE(batch.is_ok());
  for (int b = 0; b < 3; ++b) {
    std::memcpy(static_cast<char*>(batch->data()) + b * x.nbytes(), x.data(), x.nbytes());
  }
  auto s = Session::create(model_, {});
  ASSERT_TRUE(s.is_ok());
  auto out = (*s)->run({{case_.inputs[0].name, *batch}});
  ASSERT_TRUE(out.is_ok()) << out.status().to_string();
  const Tensor& y = (*out)[0];
  ASSERT_EQ(y.shape()[0], 3);
  const int64_t per = y.numel() / 3;
  for (int b = 0; b < 3; ++b) {
    Tensor row = Tensor::view(y.dtype(), case_.references[0].shape(),
                              const_cast<float*>(y.data_as<float>()) + b * per);
    EXPECT_LE(relative_error(row, case_.references[0]), kMaxRelativeError) << "image " << b;
  }
}

// IEEE special values in the image: a NaN reaches every output (convolutions, fused and plain
// activations, max pooling and the classifier propagate it), an infinity runs too, neither
// crashes or hangs, and the session's next clean run gives the same bits as before.
TEST_P(CommittedModel, NanAndInfinityPropagateAndTheSessionGoesOn) {
  auto s = Session::create(model_, {});
  ASSERT_TRUE(s.is_ok()) << s.status().to_string();
  auto clean = (*s)->run(case_.inputs);
  ASSERT_TRUE(clean.is_ok()) << clean.status().to_string();
  const float specials[] = {std::numeric_limits<float>::quiet_NaN(),
                            std::numeric_limits<float>::infinity(),
                            -std::numeric_limits<float>::infinity()};
  for (float special : specials) {
    SCOPED_TRACE(special);
    std::vector<NamedTensor> feeds;
    for (const NamedTensor& in : case_.inputs)
      feeds.push_back({in.name, in.tensor.clone().value()});
    Tensor& x = feeds[0].tensor;
    ASSERT_EQ(x.dtype(), DataType::kFloat32);
    x.data_as<float>()[x.numel() / 2] = special;
    auto out = (*s)->run(feeds);
    ASSERT_TRUE(out.is_ok()) << out.status().to_string();
    for (const Tensor& y : *out) {
      int64_t nan = 0, finite = 0;
      for (int64_t i = 0; i < y.numel(); ++i) {
        nan += std::isnan(y.data_as<float>()[i]);
        finite += std::isfinite(y.data_as<float>()[i]);
      }
      // An infinity may be clipped to a finite value (ReLU6 is Clip(0, 6)); a NaN never is.
      if (std::isnan(special)) {
        EXPECT_EQ(nan, y.numel()) << "of " << y.numel() << " outputs, " << finite << " finite";
      }
    }
  }
  auto again = (*s)->run(case_.inputs);
  ASSERT_TRUE(again.is_ok());
  EXPECT_TRUE(bit_identical(*clean, *again));
}

INSTANTIATE_TEST_SUITE_P(Models, CommittedModel,
                         ::testing::Combine(::testing::ValuesIn(model_folders(KEEL_MODELS_DIR)),
                                            ::testing::Values(LayoutOption::kNchw,
                                                              LayoutOption::kNhwc)),
                         [](const auto& info) {
                           const std::string& dir = std::get<0>(info.param);
                           std::string n = dir.substr(dir.find_last_of('/') + 1);
                           for (char& c : n)
                             if (!isalnum(static_cast<unsigned char>(c))) c = '_';
                           return n + "_" + layout_option_name(std::get<1>(info.param));
                         });

}  // namespace
}  // namespace keel::testing
