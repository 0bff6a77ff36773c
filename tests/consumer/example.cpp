// The README's C++ example: run a model on one input and print the output.
#include <cstdio>
#include <vector>

#include "keel/keel.hpp"

int main(int argc, char** argv) {
  if (argc != 2) return 2;
  auto model = keel::Model::load_file(argv[1]);  // shared_ptr<const Model>, immutable
  if (!model.is_ok()) return std::fprintf(stderr, "%s\n", model.status().to_string().c_str()), 1;
  keel::SessionOptions options;
  options.threads = 2;  // the session's own thread pool; 0 = all cores
  auto session = keel::Session::create(*model, options);
  if (!session.is_ok()) return std::fprintf(stderr, "%s\n", session.status().to_string().c_str()), 1;

  std::vector<float> pixels(1 * 3 * 64 * 64, 0.5f);  // caller memory, viewed (no copy)
  keel::Tensor x = keel::Tensor::view(keel::DataType::kFloat32, {1, 3, 64, 64}, pixels.data());
  auto outputs = (*session)->run({{"input", x}});  // thread-safe; outputs in model order
  if (!outputs.is_ok()) return std::fprintf(stderr, "%s\n", outputs.status().to_string().c_str()), 1;
  const keel::Tensor& y = (*outputs)[0];
  for (int64_t i = 0; i < y.numel(); ++i) std::printf("%.6g\n", y.data_as<float>()[i]);
  return 0;
}
