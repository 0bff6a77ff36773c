#include "kernels/registry.hpp"

#include "graph/onnx_op_versions.hpp"

namespace keel {

const KernelRegistry& KernelRegistry::global() {
  static const KernelRegistry registry = [] {
    KernelRegistry r;
    register_elementwise_kernels(r);
    register_math_kernels(r);
    register_conv_kernels(r);
    register_conv_transpose_kernels(r);
    register_gemm_kernels(r);
    register_pool_kernels(r);
    register_normalization_kernels(r);
    register_shape_kernels(r);
    register_data_movement_kernels(r);
    register_resize_kernels(r);
    register_quantize_kernels(r);
    register_matmul_integer_kernels(r);
    return r;
  }();
  return registry;
}

void KernelRegistry::add(std::string op_type, KernelFactory factory, int min_opset, int max_since,
                         std::string domain) {
  ops_.push_back({std::move(domain), std::move(op_type), min_opset, max_since, factory});
}

const OpRegistration* KernelRegistry::find(const std::string& domain, const std::string& op_type,
                                           int opset) const {
  const std::string d = domain == "ai.onnx" ? "" : domain;
  const int since = d.empty() ? onnx_since_version(op_type, opset) : opset;
  for (const auto& op : ops_) {
    if (op.domain == d && op.op_type == op_type && opset >= op.min_opset && since <= op.max_since) {
      return &op;
    }
  }
  return nullptr;
}

}  // namespace keel
