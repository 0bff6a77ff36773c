// Runs every ONNX backend node test folder (model.onnx + test_data_set_0/*.pb) through keel
// and compares with the stored outputs the way the ONNX runner does: same number of outputs,
// exactly the same shapes and element types, |got - expected| <= 1e-7 + 1e-3 * |expected|.
// Folders listed in excluded.tsv are skipped with their reason; the rest must pass, once with
// activations stored NCHW (suite OnnxNode) and once NHWC (suite OnnxNodeNhwc: the choose_layout
// pass runs every 2-D Conv and the ops around it on NHWC data).
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <map>
#include <sstream>

#include "keel/keel.hpp"
#include "onnx/tensor_proto.hpp"

namespace fs = std::filesystem;

namespace {

constexpr double kRtol = 1e-3;
constexpr double kAtol = 1e-7;

std::string data_dir() {
  if (const char* env = std::getenv("KEEL_ONNX_NODE_TESTS")) return env;
  return KEEL_DEFAULT_NODE_TESTS;
}

std::map<std::string, std::string> read_exclusions() {
  std::map<std::string, std::string> out;
  std::ifstream f(KEEL_EXCLUSIONS_FILE);
  std::string line;
  while (std::getline(f, line)) {
    if (line.empty() || line[0] == '#') continue;
    const size_t tab = line.find('\t');
    if (tab == std::string::npos) continue;
    out[line.substr(0, tab)] = line.substr(tab + 1);
  }
  return out;
}

template <typename T>
::testing::AssertionResult compare_values(const keel::Tensor& got, const keel::Tensor& want) {
  const T* g = got.data_as<T>();
  const T* w = want.data_as<T>();
  int64_t bad = 0;
  std::ostringstream first;
  for (int64_t i = 0; i < want.numel(); ++i) {
    const double gv = static_cast<double>(g[i]);
    const double wv = static_cast<double>(w[i]);
    bool ok;
    if constexpr (std::is_floating_point_v<T>) {
      ok = (std::isnan(gv) && std::isnan(wv)) || (std::isinf(wv) && gv == wv) ||
           std::fabs(gv - wv) <= kAtol + kRtol * std::fabs(wv);
    } else {
      ok = g[i] == w[i];
    }
    if (!ok) {
      if (bad < 3) first << " [" << i << "] got " << gv << " expected " << wv << ";";
      ++bad;
    }
  }
  if (bad)
    return ::testing::AssertionFailure()
           << bad << " of " << want.numel() << " differ:" << first.str();
  return ::testing::AssertionSuccess();
}

::testing::AssertionResult compare(const keel::Tensor& got, const keel::Tensor& want) {
  using keel::DataType;
  if (got.dtype() != want.dtype()) {
    return ::testing::AssertionFailure() << "dtype " << keel::dtype_name(got.dtype())
                                         << ", expected " << keel::dtype_name(want.dtype());
  }
  if (got.shape() != want.shape()) {
    return ::testing::AssertionFailure() << "shape " << keel::shape_to_string(got.shape())
                                         << ", expected " << keel::shape_to_string(want.shape());
  }
  switch (want.dtype()) {
    case DataType::kFloat32: return compare_values<float>(got, want);
    case DataType::kFloat64: return compare_values<double>(got, want);
    case DataType::kInt64: return compare_values<int64_t>(got, want);
    case DataType::kInt32: return compare_values<int32_t>(got, want);
    case DataType::kInt16: return compare_values<int16_t>(got, want);
    case DataType::kInt8: return compare_values<int8_t>(got, want);
    case DataType::kUint64: return compare_values<uint64_t>(got, want);
    case DataType::kUint32: return compare_values<uint32_t>(got, want);
    case DataType::kUint16:
    case DataType::kFloat16:
    case DataType::kBFloat16: return compare_values<uint16_t>(got, want);
    case DataType::kUint8:
    case DataType::kBool: return compare_values<uint8_t>(got, want);
    default:
      return ::testing::AssertionFailure() << "cannot compare " << keel::dtype_name(want.dtype());
  }
}

class NodeTest : public ::testing::Test {
 public:
  NodeTest(fs::path dir, std::string excluded, keel::LayoutOption layout)
      : dir_(std::move(dir)), excluded_(std::move(excluded)), layout_(layout) {}

  void TestBody() override {
    if (!excluded_.empty()) GTEST_SKIP() << "excluded: " << excluded_;
    keel::ModelOptions model_options;
    model_options.layout = layout_;
    auto model = keel::Model::load_file((dir_ / "model.onnx").string(), model_options);
    ASSERT_TRUE(model.is_ok()) << model.status().to_string();
    keel::SessionOptions opts;
    opts.threads = 1;
    auto session = keel::Session::create(*model, opts);
    ASSERT_TRUE(session.is_ok()) << session.status().to_string();
    const fs::path data = dir_ / "test_data_set_0";
    std::vector<keel::NamedTensor> feeds;
    const auto& inputs = (*model)->inputs();
    for (size_t k = 0;; ++k) {
      const fs::path p = data / ("input_" + std::to_string(k) + ".pb");
      if (!fs::exists(p)) break;
      ASSERT_LT(k, inputs.size()) << "more input files than graph inputs";
      auto t = keel::read_tensor_pb_file(p.string());
      ASSERT_TRUE(t.is_ok()) << t.status().to_string();
      feeds.push_back({inputs[k].name, std::move(*t)});
    }
    auto outputs = (*session)->run(feeds);
    ASSERT_TRUE(outputs.is_ok()) << outputs.status().to_string();
    size_t expected_count = 0;
    for (size_t k = 0;; ++k) {
      const fs::path p = data / ("output_" + std::to_string(k) + ".pb");
      if (!fs::exists(p)) break;
      ++expected_count;
      ASSERT_LT(k, outputs->size()) << "keel returned fewer outputs";
      auto want = keel::read_tensor_pb_file(p.string());
      ASSERT_TRUE(want.is_ok()) << want.status().to_string();
      EXPECT_TRUE(compare((*outputs)[k], *want))
          << "output " << k << " ('" << (*model)->outputs()[k].name << "')";
    }
    EXPECT_EQ(outputs->size(), expected_count);
  }

 private:
  fs::path dir_;
  std::string excluded_;
  keel::LayoutOption layout_;
};

// Prints the totals the way CI logs read them.
class Summary : public ::testing::EmptyTestEventListener {
  void OnTestProgramEnd(const ::testing::UnitTest& u) override {
    int passed = 0, failed = 0, skipped = 0;
    for (int i = 0; i < u.total_test_suite_count(); ++i) {
      const auto* s = u.GetTestSuite(i);
      for (int j = 0; j < s->total_test_count(); ++j) {
        const auto* r = s->GetTestInfo(j)->result();
        if (!s->GetTestInfo(j)->should_run()) continue;
        if (r->Skipped())
          ++skipped;
        else if (r->Failed())
          ++failed;
        else
          ++passed;
      }
    }
    std::printf("conformance: %d passed, %d failed, %d excluded (ONNX node tests in %s)\n", passed,
                failed, skipped, data_dir().c_str());
  }
};

}  // namespace

int main(int argc, char** argv) {
  ::testing::InitGoogleTest(&argc, argv);
  const fs::path root = data_dir();
  if (!fs::is_directory(root)) {
    std::printf(
        "SKIPPED: ONNX node test data not found at '%s'. Set KEEL_ONNX_NODE_TESTS or the CMake "
        "option KEEL_ONNX_NODE_TESTS to the onnx-node-tests folder.\n",
        root.c_str());
    return 77;  // ctest SKIP_RETURN_CODE
  }
  const auto exclusions = read_exclusions();
  std::vector<fs::path> dirs;
  for (const auto& e : fs::directory_iterator(root)) {
    if (e.is_directory() && fs::exists(e.path() / "model.onnx")) dirs.push_back(e.path());
  }
  std::sort(dirs.begin(), dirs.end());
  for (const fs::path& d : dirs) {
    const std::string name = d.filename().string();
    auto it = exclusions.find(name);
    const std::string reason = it == exclusions.end() ? "" : it->second;
    for (keel::LayoutOption layout : {keel::LayoutOption::kNchw, keel::LayoutOption::kNhwc}) {
      const char* suite = layout == keel::LayoutOption::kNchw ? "OnnxNode" : "OnnxNodeNhwc";
      ::testing::RegisterTest(
          suite, name.c_str(), nullptr, nullptr, __FILE__, __LINE__,
          [d, reason, layout]() -> ::testing::Test* { return new NodeTest(d, reason, layout); });
    }
  }
  ::testing::UnitTest::GetInstance()->listeners().Append(new Summary);
  return RUN_ALL_TESTS();
}
