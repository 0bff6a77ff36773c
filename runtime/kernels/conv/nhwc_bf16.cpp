// conv_nhwc_bf16: a 2-D conv of one group on NHWC activations in bfloat16 (NodeDecisions::
// precision, passes/choose_precision.cpp), as one GEMM over all output pixels: weights rounded
// once to bfloat16 and packed at plan time, each output pixel's row of A ((kh, kw, c) for a
// window, the pixel's channels for a unit window) rounded while it is gathered, float32 sums,
// bias, residual and activation in the float32 epilogue (ukernels/bf16_gemm.hpp).
#include <algorithm>
#include <memory>
#include <string>
#include <vector>

#include "kernels/conv/conv_implementation.hpp"
#include "kernels/conv/nhwc_gather_geometry.hpp"
#include "ukernels/bf16_gemm.hpp"

namespace keel {
namespace {

using RowGeometry = NhwcGatherGeometry;  // one group: channels == cin_g

// Bf16AGather::rows: row i = output pixel (n, oh, ow), K = (kh, kw, c). A kernel row whose taps
// are adjacent pixels inside the image is one run of k_w * C floats.
void gather_rows(const void* ctx, int64_t i0, int64_t mc, uint16_t* dst, int64_t ld,
                 void (*round)(const float*, int64_t, uint16_t*)) {
  const RowGeometry& g = *static_cast<const RowGeometry*>(ctx);
  const int64_t plane = g.out_h * g.out_w, ch = g.channels, span = g.k_w * ch;
  for (int64_t r = 0; r < mc; ++r) {
    const int64_t i = i0 + r;
    const int64_t n = i / plane, oh = (i % plane) / g.out_w, ow = i % g.out_w;
    const int64_t ih0 = oh * g.s_h - g.p_t, iw0 = ow * g.s_w - g.p_l;
    const float* img = g.x + n * g.in_h * g.in_w * ch;
    uint16_t* d = dst + r * ld;
    for (int64_t kh = 0; kh < g.k_h; ++kh, d += span) {
      const int64_t ih = ih0 + kh * g.d_h;
      if (ih < 0 || ih >= g.in_h) {
        std::fill(d, d + span, uint16_t{0});
        continue;
      }
      const float* row = img + ih * g.in_w * ch;
      if (g.d_w == 1 && iw0 >= 0 && iw0 + g.k_w <= g.in_w) {
        round(row + iw0 * ch, span, d);
        continue;
      }
      for (int64_t kw = 0; kw < g.k_w; ++kw) {
        const int64_t iw = iw0 + kw * g.d_w;
        if (iw < 0 || iw >= g.in_w) {
          std::fill(d + kw * ch, d + (kw + 1) * ch, uint16_t{0});
        } else {
          round(row + iw * ch, ch, d + kw * ch);
        }
      }
    }
  }
}

class ConvNhwcBf16 final : public Kernel {
 public:
  ConvNhwcBf16(const ConvShapes& cs, const RowGeometry& geo, bool unit, bool residual,
               ConvActivation act)
      : cs_(cs), geo_(geo), unit_(unit), residual_(residual), act_(act) {}

  // B[(kh, kw, c), m] = W[m, c, kh, kw].
  bool prepack(const float* w) {
    const int64_t taps = geo_.k_h * geo_.k_w, kdim = taps * cs_.cin;
    if (taps == 1) return packed_.pack(cs_.cin, cs_.cout, w, cs_.cin, true);
    const std::vector<float> b = nhwc_gemm_weights(w, cs_.cout, cs_.cin, taps);
    return packed_.pack(kdim, cs_.cout, b.data(), cs_.cout, false);
  }

  const char* name() const override { return "conv_nhwc_bf16"; }

  void run(const KernelRun& r) const override {
    const float* bias = cs_.has_bias ? r.in(ConvOperand::kBias).as<float>() : nullptr;
    const float* res = residual_ ? r.in(ConvOperand::kResidual).as<float>() : nullptr;
    float* y = r.out(0).as<float>();
    const int64_t rows = cs_.batch * geo_.out_h * geo_.out_w;
    const GemmEpilogue ep = nhwc_conv_epilogue(bias, res, cs_.cout, act_);
    if (unit_) {
      bf16_gemm_packed_b(rows, r.in(0).as<float>(), cs_.cin, packed_, y, cs_.cout, ep);
      return;
    }
    RowGeometry geo = geo_;
    geo.x = r.in(0).as<float>();
    const Bf16AGather a{&gather_rows, &geo};
    bf16_gemm_gather_a(rows, a, packed_, y, cs_.cout, ep);
  }

 private:
  ConvShapes cs_;
  RowGeometry geo_;
  bool unit_, residual_;
  ConvActivation act_;
  Bf16PackedB packed_;
};

}  // namespace

const ConvImplementation kConvNhwcBf16 = {
    "conv_nhwc_bf16",
    [](const ConvDescriptor& d, const ExecutionOptions&) -> std::string {
      if (d.precision != Precision::kBf16) return "the node runs float32";
      std::string why = declines_nhwc(d, false);
      if (!why.empty()) return why;
      if (d.g.k[0] != 1) return "a 3-D window";
      if (d.shapes.group != 1) return std::to_string(d.shapes.group) + " groups";
      return "";
    },
    conv_always,
    conv_never,
    conv_never,
    [](PrepareContext& ctx, const ConvDescriptor& d, const ConvBuild& b) {
      const ConvShapes& cs = d.shapes;
      const RowGeometry geo = nhwc_gather_geometry(d);
      auto k = std::make_unique<ConvNhwcBf16>(cs, geo, d.why_not_unit_window().empty(), b.residual,
                                              b.act);
      if (!k->prepack(ctx.input(ConvOperand::kW).value->data_as<float>())) {
        return Result<std::unique_ptr<Kernel>>(conv_packing_failed(ctx));
      }
      return Result<std::unique_ptr<Kernel>>(std::unique_ptr<Kernel>(std::move(k)));
    }};

}  // namespace keel
