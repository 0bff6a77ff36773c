#include "kernels/registry.hpp"

namespace keel {

const KernelRegistry& KernelRegistry::global() {
  static const KernelRegistry registry = [] {
    KernelRegistry r;
    register_elementwise_kernels(r);
    register_math_kernels(r);
    register_conv_kernels(r);
    register_gemm_kernels(r);
    register_pool_kernels(r);
    register_normalization_kernels(r);
    register_shape_kernels(r);
    register_data_movement_kernels(r);
    register_resize_kernels(r);
    return r;
  }();
  return registry;
}

void KernelRegistry::add(std::string op_type, KernelFactory factory, int min_opset, int max_opset,
                         std::string domain) {
  ops_.push_back({std::move(domain), std::move(op_type), min_opset, max_opset, factory});
}

const OpRegistration* KernelRegistry::find(const std::string& domain, const std::string& op_type,
                                           int opset) const {
  const std::string d = domain == "ai.onnx" ? "" : domain;
  for (const auto& op : ops_) {
    if (op.domain == d && op.op_type == op_type && opset >= op.min_opset && opset <= op.max_opset) {
      return &op;
    }
  }
  return nullptr;
}

}  // namespace keel
