// Loading a model folder (model.onnx, inputs/<name>.npy, outputs_f64/<name>.npy) and
// measuring keel's error against the float64 reference.
#pragma once

#include <string>
#include <vector>

#include "keel/keel.hpp"

namespace keel::testing {

struct ModelCase {
  std::string dir;
  std::string name;
  std::vector<NamedTensor> inputs;
  std::vector<Tensor> references;  // float64, in the model's output order
};

// Folders under `root` holding model.onnx (sorted).
std::vector<std::string> model_folders(const std::string& root);
Result<ModelCase> load_model_case(const std::string& dir, const Model& model);
// `model` run once on `inputs` by a session of `threads` threads (0: all cores); a failure is
// a test failure, and returns no outputs.
std::vector<Tensor> run_model(const std::shared_ptr<const Model>& model,
                              const std::vector<NamedTensor>& inputs, int threads);
// max |got - ref| / max |ref| (the bound the issue sets is 1e-5).
double relative_error(const Tensor& got, const Tensor& ref);

}  // namespace keel::testing
