// conv_nhwc_direct: the per-ISA direct ukernel (direct_conv_ukernel.hpp: vectorized over a group's
// outputs, input values broadcast, no packing of the image) for groups of few channels
// (cin_g * cout_g <= 1024, RegNet's 8 x 8), for KxK convs of one group with at most 64 outputs
// that Winograd does not take (strided, dilated, few inputs), and for every conv whose X is
// NCHW (NodeDecisions::input_layout, a stem on an RGB image), read in place, strided. Groups of
// 4 or 8 channels in and out are bundled (several per vector). It pools a fused
// GlobalAveragePool from its rows.
#include <algorithm>
#include <memory>
#include <string>
#include <vector>

#include "kernels/conv/conv_implementation.hpp"
#include "kernels/conv/nhwc_rows.hpp"
#include "ukernels/direct_conv_dispatch.hpp"

namespace keel {
namespace {

// The direct kernel while a group's GEMM would be tiny (RegNet's 8-channel groups), or while
// too few outputs share each gathered A panel: measured with bench_conv (AVX2, 2026-11-25),
// 3x3 convs to 32 outputs run 1.1-1.5x faster direct at 7x7 to 56x56, ResNet's 64 -> 64 at
// 56x56 1.15x; at 128 outputs and more the implicit GEMM wins (up to 1.8x at 512).
constexpr int64_t kMaxGroupProducts = 1024;
constexpr int64_t kMaxFewOutputs = 64;

// Few channels per group (RegNet: 8): a direct kernel vectorized over each group's output
// channels, instead of one tiny GEMM per group.
class ConvNhwcDirect final : public Kernel {
 public:
  ConvNhwcDirect(int64_t batch, int64_t out_h, bool has_bias, const DirectConvParams& p, bool pool)
      : batch_(batch),
        out_h_(out_h),
        has_bias_(has_bias),
        params_(p),
        pool_{pool, p.out_channels},
        uk_(direct_conv_ukernels_for_group(active_isa(), p.cin_g, p.cout_g, p.in_ch_stride == 1)) {
    params_.bundle_g = direct_conv_bundle_g(uk_, p.cin_g, p.cout_g, p.in_ch_stride == 1);
  }

  // W [M, cin_g, kH, kW] -> [group][chunk][kH*kW][cin_g][cw] (DirectConvParams::w), or the
  // bundled layout; the k offsets into the image.
  void prepack(const float* w) {
    DirectConvParams& p = params_;
    const int64_t taps = p.k_h * p.k_w, kdim = taps * p.cin_g;
    // Chunks of the ukernel's widest block (32 outputs on AVX2, 64 on AVX-512) once a group's
    // weights pass 16 KB; groups of few channels keep one chunk.
    p.w_chunk = p.groups == 1 && kdim * p.cout_g * 4 > 16 * 1024 ? uk_->w_chunk : p.cout_g;
    k_offsets_.resize(static_cast<size_t>(taps * p.cin_g));
    for (int64_t t = 0; t < taps; ++t) {
      for (int64_t c = 0; c < p.cin_g; ++c) {
        k_offsets_[t * p.cin_g + c] = (t / p.k_w) * p.dil_h * p.in_row_stride +
                                      (t % p.k_w) * p.dil_w * p.in_px_stride + c * p.in_ch_stride;
      }
    }
    if (p.bundle_g > 0) {
      // [bundle][tap][c][lanes], lane j * g + o = output o of the bundle's group j.
      const int64_t g = p.bundle_g, lanes = uk_->lanes, per = lanes / g;
      const int64_t n = (p.groups + per - 1) / per;
      w_.assign(static_cast<size_t>(n * taps * g * lanes), 0.0f);
      for (int64_t m = 0; m < p.out_channels; ++m) {
        const int64_t b = m / lanes, lane = m % lanes;
        for (int64_t c = 0; c < g; ++c) {
          for (int64_t t = 0; t < taps; ++t) {
            w_[((b * taps + t) * g + c) * lanes + lane] = w[(m * g + c) * taps + t];
          }
        }
      }
      return;
    }
    w_.resize(static_cast<size_t>(p.out_channels * p.cin_g * taps));
    for (int64_t g = 0; g < p.groups; ++g) {
      for (int64_t m = 0; m < p.cout_g; ++m) {
        const int64_t m0 = m - m % p.w_chunk, cw = std::min(p.w_chunk, p.cout_g - m0);
        for (int64_t c = 0; c < p.cin_g; ++c) {
          for (int64_t t = 0; t < taps; ++t) {
            w_[(g * p.cout_g + m0) * kdim + (t * p.cin_g + c) * cw + (m - m0)] =
                w[((g * p.cout_g + m) * p.cin_g + c) * taps + t];
          }
        }
      }
    }
  }

  const char* name() const override { return "conv_nhwc_direct"; }
  size_t scratch_bytes() const override { return pool_.bytes(batch_ * out_h_); }

  void run(const KernelRun& r) const override {
    DirectConvParams p = params_;
    p.w = w_.data();
    p.k_offsets = k_offsets_.data();
    p.bias = has_bias_ ? r.in(ConvOperand::kBias).as<float>() : nullptr;
    for_each_output_row(uk_->row, p, r, batch_, out_h_, p.in_h * p.in_w * p.in_channels,
                        p.out_w * p.out_channels, p.cin_g * p.k_h * p.k_w, pool_);
  }

 private:
  int64_t batch_, out_h_;
  bool has_bias_;
  DirectConvParams params_;
  RowPooling pool_;
  const DirectConvUkernels* uk_;
  std::vector<float> w_;
  std::vector<int64_t> k_offsets_;
};

}  // namespace

const ConvImplementation kConvNhwcDirect = {
    "conv_nhwc_direct",
    [](const ConvDescriptor& d, const ExecutionOptions&) {
      std::string why = declines_nhwc(d, true);
      if (!why.empty() || d.x_nchw()) return why;
      const ConvShapes& cs = d.shapes;
      if (cs.group > 1) {
        if (cs.cin_g * cs.cout_g <= kMaxGroupProducts) return why;
        return "groups of " + std::to_string(cs.cin_g) + " x " + std::to_string(cs.cout_g) +
               " channels (> " + std::to_string(kMaxGroupProducts) +
               " products): a GEMM per group is faster";
      }
      if (d.g.k[1] * d.g.k[2] == 1) return std::string("a 1x1 window: the GEMM is faster");
      if (cs.cout > kMaxFewOutputs) {
        return std::to_string(cs.cout) + " outputs (> " + std::to_string(kMaxFewOutputs) +
               "): the implicit GEMM shares its gathered panels better";
      }
      return why;
    },
    conv_never,
    conv_never,
    conv_always,
    [](PrepareContext& ctx, const ConvDescriptor& d, const ConvBuild& b) {
      const ConvShapes& cs = d.shapes;
      const bool x_nchw = d.x_nchw();
      DirectConvParams p;
      set_window_2d(p, d.g);
      p.in_channels = cs.cin;
      p.in_ch_stride = x_nchw ? p.in_h * p.in_w : 1;
      p.in_px_stride = x_nchw ? 1 : cs.cin;
      p.in_row_stride = p.in_w * p.in_px_stride;
      p.out_channels = cs.cout;
      p.groups = cs.group;
      p.cin_g = cs.cin_g;
      p.cout_g = cs.cout_g;
      p.act = b.act;
      auto k = std::make_unique<ConvNhwcDirect>(cs.batch, d.g.out[1], cs.has_bias, p, b.pool);
      k->prepack(ctx.input(ConvOperand::kW).value->data_as<float>());
      return Result<std::unique_ptr<Kernel>>(std::unique_ptr<Kernel>(std::move(k)));
    }};

}  // namespace keel
