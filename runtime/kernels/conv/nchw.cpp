// Conv on NCHW activations, float32, 1-D to 3-D spatial (every spatial rank runs as 3-D:
// missing leading dims have size 1, stride 1, no padding). Three entries of the
// implementation list (conv_implementation.hpp), one kernel class:
//   conv_nchw_depthwise  one input channel per group: direct loop over output rows
//   conv_nchw_1x1        unit window: Y_g = W_g x X_g directly (GEMM)
//   conv_nchw_im2col     anything else: im2col into scratch, then GEMM
// A fused activation (kernels/fused_activation.hpp) is applied in the GEMM epilogue or after
// the depthwise accumulation. Constant weights are packed for the GEMM once, at plan time.
#include <algorithm>
#include <cstring>
#include <memory>
#include <vector>

#include "exec/parallel.hpp"
#include "kernels/conv/conv_implementation.hpp"
#include "kernels/fused_activation.hpp"
#include "ukernels/sgemm.hpp"

namespace keel {
namespace {

// col[(c, kd, kh, kw), (od, oh, ow)] = x[c, od*s - p + kd*d, ...] (0 outside the input).
void im2col(const float* x, int64_t channels, const Geometry3& g, float* col) {
  const int64_t ksize = g.k_size(), osize = g.out_size(), isize = g.in_size();
  parallel_for(channels * ksize, osize, [&](int64_t r0, int64_t r1) {
    for (int64_t r = r0; r < r1; ++r) {
      const int64_t c = r / ksize;
      int64_t rem = r % ksize;
      const int64_t kw = rem % g.k[2];
      rem /= g.k[2];
      const int64_t kh = rem % g.k[1];
      const int64_t kd = rem / g.k[1];
      const float* xc = x + c * isize;
      float* dst = col + r * osize;
      const int64_t off_w = kw * g.d[2] - g.pb[2];
      int64_t w_lo, w_hi;
      valid_output_range(off_w, g.s[2], g.in[2], g.out[2], w_lo, w_hi);
      for (int64_t od = 0; od < g.out[0]; ++od) {
        const int64_t id = od * g.s[0] - g.pb[0] + kd * g.d[0];
        for (int64_t oh = 0; oh < g.out[1]; ++oh) {
          const int64_t ih = oh * g.s[1] - g.pb[1] + kh * g.d[1];
          float* row = dst + (od * g.out[1] + oh) * g.out[2];
          if (id < 0 || id >= g.in[0] || ih < 0 || ih >= g.in[1]) {
            std::fill(row, row + g.out[2], 0.0f);
            continue;
          }
          const float* src = xc + (id * g.in[1] + ih) * g.in[2] + off_w;
          std::fill(row, row + w_lo, 0.0f);
          if (g.s[2] == 1) {
            std::memcpy(row + w_lo, src + w_lo, static_cast<size_t>(w_hi - w_lo) * sizeof(float));
          } else {
            const int64_t sw = g.s[2];
            for (int64_t ow = w_lo; ow < w_hi; ++ow) row[ow] = src[ow * sw];
          }
          std::fill(row + w_hi, row + g.out[2], 0.0f);
        }
      }
    }
  });
}

enum class ConvImpl { k1x1, kDepthwise, kIm2col };

class ConvKernel final : public Kernel {
 public:
  ConvKernel(ConvShapes cs, Geometry3 g, ConvImpl impl, ConvActivation act)
      : cs_(std::move(cs)), g_(g), impl_(impl), act_(act), uk_(sgemm_ukernels_active()) {}

  // Packs the constant weights per group; false on allocation failure.
  bool prepack(const float* w) {
    const int64_t kdim = cs_.cin_g * g_.k_size();
    packed_.resize(static_cast<size_t>(cs_.group));
    for (int64_t gi = 0; gi < cs_.group; ++gi) {
      if (!packed_[gi].pack(cs_.cout_g, kdim, w + gi * cs_.cout_g * kdim, kdim, false, uk_)) {
        return false;
      }
    }
    return true;
  }

  const char* name() const override {
    switch (impl_) {
      case ConvImpl::k1x1: return "conv_nchw_1x1";
      case ConvImpl::kDepthwise: return "conv_nchw_depthwise";
      case ConvImpl::kIm2col: return "conv_nchw_im2col";
    }
    return "conv";
  }

  size_t scratch_bytes() const override {
    if (impl_ != ConvImpl::kIm2col) return 0;
    return static_cast<size_t>(cs_.cin_g * g_.k_size() * g_.out_size()) * sizeof(float);
  }

  void run(const KernelRun& r) const override {
    const float* x = r.in(0).as<float>();
    const float* w = r.in(1).as<float>();
    const float* bias = cs_.has_bias ? r.in(ConvOperand::kBias).as<float>() : nullptr;
    float* y = r.out(0).as<float>();
    if (impl_ == ConvImpl::kDepthwise) {
      run_depthwise(x, w, bias, y);
      return;
    }
    const int64_t isize = g_.in_size(), osize = g_.out_size();
    const int64_t kdim = cs_.cin_g * g_.k_size();
    float* col = static_cast<float*>(r.scratch);
    for (int64_t n = 0; n < cs_.batch; ++n) {
      for (int64_t gi = 0; gi < cs_.group; ++gi) {
        const float* xg = x + (n * cs_.cin + gi * cs_.cin_g) * isize;
        float* yg = y + (n * cs_.cout + gi * cs_.cout_g) * osize;
        const float* bmat = xg;
        if (impl_ == ConvImpl::kIm2col) {
          im2col(xg, cs_.cin_g, g_, col);
          bmat = col;
        }
        GemmEpilogue ep;
        if (bias) {
          ep.bias_kind = GemmBias::kPerRow;
          ep.bias = bias + gi * cs_.cout_g;
        }
        ep.act = act_;
        if (!packed_.empty()) {
          sgemm_packed_a(packed_[gi], osize, bmat, osize, false, yg, osize, ep);
        } else {
          sgemm(cs_.cout_g, osize, kdim, w + gi * cs_.cout_g * kdim, kdim, false, bmat, osize,
                false, yg, osize, ep, uk_);
        }
      }
    }
  }

 private:
  // One input channel per group: each output channel reads input channel oc / cout_g.
  void run_depthwise(const float* x, const float* w, const float* bias, float* y) const {
    const Geometry3& g = g_;
    const int64_t isize = g.in_size(), osize = g.out_size(), ksize = g.k_size();
    const int64_t planes = cs_.batch * cs_.cout;
    parallel_for(planes, osize * ksize, [&](int64_t p0, int64_t p1) {
      for (int64_t p = p0; p < p1; ++p) {
        const int64_t n = p / cs_.cout, oc = p % cs_.cout;
        const float* xc = x + (n * cs_.cin + oc / cs_.cout_g) * isize;
        const float* wc = w + oc * ksize;
        float* yc = y + p * osize;
        const float b = bias ? bias[oc] : 0.0f;
        for (int64_t od = 0; od < g.out[0]; ++od) {
          for (int64_t oh = 0; oh < g.out[1]; ++oh) {
            float* row = yc + (od * g.out[1] + oh) * g.out[2];
            std::fill(row, row + g.out[2], b);
            for (int64_t kd = 0; kd < g.k[0]; ++kd) {
              const int64_t id = od * g.s[0] - g.pb[0] + kd * g.d[0];
              if (id < 0 || id >= g.in[0]) continue;
              for (int64_t kh = 0; kh < g.k[1]; ++kh) {
                const int64_t ih = oh * g.s[1] - g.pb[1] + kh * g.d[1];
                if (ih < 0 || ih >= g.in[1]) continue;
                const float* xrow = xc + (id * g.in[1] + ih) * g.in[2];
                const float* wk = wc + (kd * g.k[1] + kh) * g.k[2];
                for (int64_t kw = 0; kw < g.k[2]; ++kw) {
                  const int64_t off = kw * g.d[2] - g.pb[2];
                  int64_t lo, hi;
                  valid_output_range(off, g.s[2], g.in[2], g.out[2], lo, hi);
                  const float wv = wk[kw];
                  const float* src = xrow + off;
                  const int64_t sw = g.s[2];
                  if (sw == 1) {
                    for (int64_t ow = lo; ow < hi; ++ow) row[ow] += wv * src[ow];
                  } else {
                    for (int64_t ow = lo; ow < hi; ++ow) row[ow] += wv * src[ow * sw];
                  }
                }
              }
            }
            if (act_.kind != ActKind::kNone) {
              for (int64_t ow = 0; ow < g.out[2]; ++ow) row[ow] = activate_scalar(row[ow], act_);
            }
          }
        }
      }
    });
  }

  ConvShapes cs_;
  Geometry3 g_;
  ConvImpl impl_;
  ConvActivation act_;
  const SgemmUkernels* uk_;
  std::vector<SgemmPackedA> packed_;
};

Result<std::unique_ptr<Kernel>> make_conv_nchw(ConvImpl impl, PrepareContext& ctx,
                                               const ConvDescriptor& d, const ConvBuild& b) {
  auto kernel = std::make_unique<ConvKernel>(d.shapes, d.g, impl, b.act);
  if (impl != ConvImpl::kDepthwise && d.const_w) {
    if (!kernel->prepack(ctx.input(ConvOperand::kW).value->data_as<float>())) {
      return conv_packing_failed(ctx);
    }
  }
  return std::unique_ptr<Kernel>(std::move(kernel));
}

std::string declines_nchw(const ConvDescriptor& d) {
  if (d.nhwc()) return "layout is NHWC";
  if (d.expand) return "a fused 1x1 expansion (conv_nhwc_expand_depthwise runs it)";
  return "";
}

}  // namespace

const ConvImplementation kConvNchwDepthwise = {
    "conv_nchw_depthwise",
    [](const ConvDescriptor& d, const ExecutionOptions&) {
      std::string why = declines_nchw(d);
      if (why.empty() && (d.shapes.cin_g != 1 || d.shapes.group == 1)) {
        why = d.shapes.group == 1 ? std::string("one group")
                                  : "groups of " + std::to_string(d.shapes.cin_g) + " inputs";
      }
      return why;
    },
    conv_never,
    conv_never,
    conv_never,
    [](PrepareContext& ctx, const ConvDescriptor& d, const ConvBuild& b) {
      return make_conv_nchw(ConvImpl::kDepthwise, ctx, d, b);
    }};

const ConvImplementation kConvNchw1x1 = {
    "conv_nchw_1x1",
    [](const ConvDescriptor& d, const ExecutionOptions&) {
      std::string why = declines_nchw(d);
      if (why.empty()) why = d.why_not_unit_window();
      return why;
    },
    conv_never,
    conv_never,
    conv_never,
    [](PrepareContext& ctx, const ConvDescriptor& d, const ConvBuild& b) {
      return make_conv_nchw(ConvImpl::k1x1, ctx, d, b);
    }};

const ConvImplementation kConvNchwIm2col = {
    "conv_nchw_im2col",
    [](const ConvDescriptor& d, const ExecutionOptions&) { return declines_nchw(d); },
    conv_never,
    conv_never,
    conv_never,
    [](PrepareContext& ctx, const ConvDescriptor& d, const ConvBuild& b) {
      return make_conv_nchw(ConvImpl::kIm2col, ctx, d, b);
    }};

}  // namespace keel
