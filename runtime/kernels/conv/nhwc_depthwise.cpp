// conv_nhwc_depthwise: one input and one output channel per group on NHWC activations: the
// per-ISA depthwise ukernel (vectorized over channels), parallel over (n, output row); it pools
// a fused GlobalAveragePool from its rows.
#include <memory>
#include <string>
#include <vector>

#include "kernels/conv/conv_implementation.hpp"
#include "kernels/conv/nhwc_rows.hpp"
#include "ukernels/dwconv_dispatch.hpp"

namespace keel {
namespace {

class ConvNhwcDepthwise final : public Kernel {
 public:
  ConvNhwcDepthwise(int64_t batch, int64_t out_h, bool has_bias, const DwConvParams& p, bool pool)
      : batch_(batch),
        out_h_(out_h),
        has_bias_(has_bias),
        params_(p),
        pool_{pool, p.channels},
        uk_(dwconv_ukernels_active()) {}

  // W [C, 1, kH, kW] -> [kH*kW, C]: one contiguous channel vector per tap.
  void prepack(const float* w) {
    const int64_t taps = params_.k_h * params_.k_w, ch = params_.channels;
    w_.resize(static_cast<size_t>(taps * ch));
    for (int64_t c = 0; c < ch; ++c) {
      for (int64_t t = 0; t < taps; ++t) w_[t * ch + c] = w[c * taps + t];
    }
  }

  const char* name() const override { return "conv_nhwc_depthwise"; }
  size_t scratch_bytes() const override { return pool_.bytes(batch_ * out_h_); }

  void run(const KernelRun& r) const override {
    DwConvParams p = params_;
    p.w = w_.data();
    p.bias = has_bias_ ? r.in(ConvOperand::kBias).as<float>() : nullptr;
    for_each_output_row(uk_->row, p, r, batch_, out_h_, p.in_h * p.in_w * p.channels,
                        p.out_w * p.channels, p.k_h * p.k_w, pool_);
  }

 private:
  int64_t batch_, out_h_;
  bool has_bias_;
  DwConvParams params_;
  RowPooling pool_;
  const DwConvUkernels* uk_;
  std::vector<float> w_;
};

}  // namespace

const ConvImplementation kConvNhwcDepthwise = {
    "conv_nhwc_depthwise",
    [](const ConvDescriptor& d, const ExecutionOptions&) {
      std::string why = declines_nhwc(d, false);
      if (why.empty() && !d.depthwise()) {
        why = "groups of " + std::to_string(d.shapes.cin_g) + " inputs and " +
              std::to_string(d.shapes.cout_g) + " outputs, not 1 and 1";
      }
      return why;
    },
    conv_never,
    conv_never,
    conv_always,
    [](PrepareContext& ctx, const ConvDescriptor& d, const ConvBuild& b) {
      DwConvParams p;
      set_window_2d(p, d.g);
      p.channels = d.shapes.cin;
      p.act = b.act;
      auto k = std::make_unique<ConvNhwcDepthwise>(d.shapes.batch, d.g.out[1], d.shapes.has_bias, p,
                                                   b.pool);
      k->prepack(ctx.input(ConvOperand::kW).value->data_as<float>());
      return Result<std::unique_ptr<Kernel>>(std::unique_ptr<Kernel>(std::move(k)));
    }};

}  // namespace keel
