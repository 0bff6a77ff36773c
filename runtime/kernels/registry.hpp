// Which ops keel implements: (domain, op_type, opset range) -> factory.
#pragma once

#include <string>
#include <vector>

#include "kernels/kernel.hpp"

namespace keel {

struct OpRegistration {
  std::string domain;  // "" = default ONNX domain
  std::string op_type;
  int min_opset = 1;  // the registration covers opsets [min_opset, max_opset]
  int max_opset = 1000;
  KernelFactory factory = nullptr;
};

class KernelRegistry {
 public:
  // The registry of every op keel implements (built once, immutable).
  static const KernelRegistry& global();

  void add(std::string op_type, KernelFactory factory, int min_opset = 1, int max_opset = 1000,
           std::string domain = "");
  const OpRegistration* find(const std::string& domain, const std::string& op_type,
                             int opset) const;
  const std::vector<OpRegistration>& all() const { return ops_; }

 private:
  std::vector<OpRegistration> ops_;
};

// One function per kernel family file; each adds its ops (explicit calls, not static
// initialisers, so nothing is dropped when linking the static library).
void register_elementwise_kernels(KernelRegistry& r);
void register_math_kernels(KernelRegistry& r);
void register_conv_kernels(KernelRegistry& r);
void register_gemm_kernels(KernelRegistry& r);
void register_pool_kernels(KernelRegistry& r);
void register_normalization_kernels(KernelRegistry& r);
void register_shape_kernels(KernelRegistry& r);
void register_data_movement_kernels(KernelRegistry& r);
void register_resize_kernels(KernelRegistry& r);

}  // namespace keel
