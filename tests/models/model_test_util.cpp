#include "model_test_util.hpp"

#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <filesystem>

#include "core/npy.hpp"

namespace keel::testing {

namespace fs = std::filesystem;

std::vector<std::string> model_folders(const std::string& root) {
  std::vector<std::string> out;
  std::error_code ec;
  if (!fs::is_directory(root, ec)) return out;
  for (const auto& e : fs::directory_iterator(root)) {
    if (e.is_directory() && fs::exists(e.path() / "model.onnx")) out.push_back(e.path().string());
  }
  std::sort(out.begin(), out.end());
  return out;
}

Result<ModelCase> load_model_case(const std::string& dir, const Model& model) {
  ModelCase c;
  c.dir = dir;
  c.name = fs::path(dir).filename().string();
  for (const IoInfo& in : model.inputs()) {
    KEEL_ASSIGN_OR_RETURN(Tensor t,
                          read_npy((fs::path(dir) / "inputs" / (in.name + ".npy")).string()));
    c.inputs.push_back({in.name, std::move(t)});
  }
  for (const IoInfo& out : model.outputs()) {
    KEEL_ASSIGN_OR_RETURN(Tensor t,
                          read_npy((fs::path(dir) / "outputs_f64" / (out.name + ".npy")).string()));
    c.references.push_back(std::move(t));
  }
  return c;
}

double relative_error(const Tensor& got, const Tensor& ref) {
  if (got.numel() != ref.numel() || got.dtype() != DataType::kFloat32 ||
      ref.dtype() != DataType::kFloat64) {
    return INFINITY;
  }
  double max_abs = 0, scale = 0;
  for (int64_t i = 0; i < ref.numel(); ++i) {
    const double r = ref.data_as<double>()[i];
    const double g = got.data_as<float>()[i];
    if (std::isnan(g)) return INFINITY;
    max_abs = std::max(max_abs, std::fabs(g - r));
    scale = std::max(scale, std::fabs(r));
  }
  return scale > 0 ? max_abs / scale : max_abs;
}

std::vector<Tensor> run_model(const std::shared_ptr<const Model>& model,
                              const std::vector<NamedTensor>& inputs, int threads) {
  SessionOptions o;
  o.threads = threads;
  auto s = Session::create(model, o);
  EXPECT_TRUE(s.is_ok()) << s.status().to_string();
  if (!s.is_ok()) return {};
  auto out = (*s)->run(inputs);
  EXPECT_TRUE(out.is_ok()) << out.status().to_string();
  return out.is_ok() ? std::move(*out) : std::vector<Tensor>{};
}

}  // namespace keel::testing
