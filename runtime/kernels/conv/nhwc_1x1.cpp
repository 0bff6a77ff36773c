// conv_nhwc_1x1: a unit window of one group on NHWC activations is one GEMM with the batch
// folded into the rows, Y[N*H*W, M] = X[N*H*W, C] x W^T. It adds a fused residual in the GEMM
// epilogue and takes a fused gate (kernels/conv/gate_before.hpp) into its packed weights,
// scaled per image, while that is less work than a pass over X (M <= pixels).
#include <memory>
#include <string>

#include "kernels/conv/conv_implementation.hpp"
#include "ukernels/sgemm.hpp"

namespace keel {
namespace {

class ConvNhwc1x1 final : public Kernel {
 public:
  ConvNhwc1x1(int64_t batch, int64_t pixels, int64_t cin, int64_t cout, bool has_bias,
              bool residual, bool gate, ConvActivation act)
      : batch_(batch),
        pixels_(pixels),
        cin_(cin),
        cout_(cout),
        has_bias_(has_bias),
        residual_(residual),
        gate_(gate),
        act_(act) {}

  // W [M, C] is B^T: packed as B [C, M] once.
  bool prepack(const float* w) { return packed_.pack(cin_, cout_, w, cin_, true); }

  const char* name() const override { return "conv_nhwc_1x1"; }
  size_t scratch_bytes() const override {
    return gate_ ? static_cast<size_t>(packed_.packed_floats()) * sizeof(float) : 0;
  }

  void run(const KernelRun& r) const override {
    const float* x = r.in(0).as<float>();
    const float* bias = has_bias_ ? r.in(ConvOperand::kBias).as<float>() : nullptr;
    const float* res = residual_ ? r.in(ConvOperand::kResidual).as<float>() : nullptr;
    float* y = r.out(0).as<float>();
    if (!gate_) {
      sgemm_packed_b(batch_ * pixels_, x, cin_, false, packed_, y, cout_,
                     nhwc_conv_epilogue(bias, res, cout_, act_));
      return;
    }
    // Per image: X_n diag(g_n) W^T = X_n (diag(g_n) B), B's rows scaled into scratch.
    const float* g = r.in(ConvOperand::kGate).as<float>();
    auto* scaled = static_cast<float*>(r.scratch);
    for (int64_t n = 0; n < batch_; ++n) {
      packed_.scale_rows(g + n * cin_, scaled);
      const int64_t row0 = n * pixels_;
      sgemm_packed_b(pixels_, x + row0 * cin_, cin_, false, packed_, y + row0 * cout_, cout_,
                     nhwc_conv_epilogue(bias, res ? res + row0 * cout_ : nullptr, cout_, act_),
                     scaled);
    }
  }

 private:
  int64_t batch_, pixels_, cin_, cout_;  // pixels_: of one image
  bool has_bias_, residual_, gate_;
  ConvActivation act_;
  SgemmPackedB packed_;
};

}  // namespace

const ConvImplementation kConvNhwc1x1 = {
    "conv_nhwc_1x1",
    [](const ConvDescriptor& d, const ExecutionOptions&) {
      std::string why = declines_nhwc(d, false);
      if (!why.empty()) return why;
      why = d.why_not_unit_window();
      if (!why.empty()) return why;
      if (d.shapes.group != 1) return std::to_string(d.shapes.group) + " groups";
      return why;
    },
    conv_always,
    [](const ConvDescriptor& d) { return d.shapes.cout <= d.g.in_size(); },
    conv_never,
    [](PrepareContext& ctx, const ConvDescriptor& d, const ConvBuild& b) {
      const ConvShapes& cs = d.shapes;
      auto k = std::make_unique<ConvNhwc1x1>(cs.batch, d.g.in_size(), cs.cin, cs.cout, cs.has_bias,
                                             b.residual, b.gate, b.act);
      if (!k->prepack(ctx.input(ConvOperand::kW).value->data_as<float>())) {
        return Result<std::unique_ptr<Kernel>>(conv_packing_failed(ctx));
      }
      return Result<std::unique_ptr<Kernel>>(std::unique_ptr<Kernel>(std::move(k)));
    }};

}  // namespace keel
