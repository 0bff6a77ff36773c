// Which ops keel implements: (domain, op_type, opset range) -> factory.
#pragma once

#include <string>
#include <vector>

#include "kernels/kernel.hpp"

namespace keel {

// The ONNX schemas up to this opset were read for every operator keel implements. When the
// generated table (graph/onnx_op_versions.inc) is regenerated from a newer ONNX, an operator
// whose definition changed after it is refused by name until its kernel is checked against
// the new definition and its registration raised.
constexpr int kNewestVettedOpset = 28;

struct OpRegistration {
  std::string domain;  // "" = default ONNX domain
  std::string op_type;
  // Opsets from min_opset on, for definitions up to max_since: a default-domain node matches
  // when the definition that applies at its opset (the schemas' since_version) is at most
  // max_since; for other domains max_since bounds the domain's opset itself.
  int min_opset = 1;
  int max_since = kNewestVettedOpset;
  KernelFactory factory = nullptr;
};

class KernelRegistry {
 public:
  // The registry of every op keel implements (built once, immutable).
  static const KernelRegistry& global();

  void add(std::string op_type, KernelFactory factory, int min_opset = 1,
           int max_since = kNewestVettedOpset, std::string domain = "");
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
void register_conv_transpose_kernels(KernelRegistry& r);
void register_gemm_kernels(KernelRegistry& r);
void register_pool_kernels(KernelRegistry& r);
void register_normalization_kernels(KernelRegistry& r);
void register_shape_kernels(KernelRegistry& r);
void register_data_movement_kernels(KernelRegistry& r);
void register_resize_kernels(KernelRegistry& r);
void register_quantize_kernels(KernelRegistry& r);
void register_matmul_integer_kernels(KernelRegistry& r);

}  // namespace keel
