// conv_nhwc_gemm: any 2-D conv on NHWC activations as an implicit GEMM per group: rows are
// output pixels, K is (kh, kw, c); the driver gathers A panels straight from the image (no
// im2col buffer), B is the weights reordered to [(kh, kw, c), m] and packed once. Wide outputs
// amortize the gather; it adds a fused residual in the GEMM epilogue.
#include <algorithm>
#include <memory>
#include <string>
#include <vector>

#include "kernels/conv/conv_implementation.hpp"
#include "kernels/conv/nhwc_gather_geometry.hpp"
#include "ukernels/sgemm.hpp"
#include "ukernels/sgemm_ukernel.hpp"  // kSgemmMr

namespace keel {
namespace {

using GatherGeometry = NhwcGatherGeometry;

// Source of padding taps: read like an image row (kc <= kZeroRun per call chunk).
constexpr int64_t kZeroRun = 256;
alignas(64) const float kZeros[kZeroRun] = {};
constexpr int64_t kMaxMr = 16;
static_assert(kSgemmMr <= kMaxMr);

// One panel of gather_a when the conv has one group and no horizontal dilation: then the taps
// of one kernel row are adjacent pixels, and its k_w * channels values of k are consecutive
// floats of the image (21 for a 7x7 stem on RGB instead of 7 runs of 3). A span that reaches into
// the left or right padding is assembled in `edge` first. Returns the end of the panel.
float* gather_kernel_rows(const GatherGeometry& g, const int64_t* ih0, const int64_t* iw0,
                          const float* const* img, int64_t k0, int64_t kc, int64_t mr, float* d) {
  static_assert(kSgemmKc <= kZeroRun, "a span (at most kc values) must fit kZeros and edge");
  alignas(64) float edge[kMaxMr][kZeroRun];
  const float* src[kMaxMr];
  const int64_t ch = g.channels, row_len = g.k_w * ch;
  for (int64_t k = k0; k < k0 + kc;) {
    const int64_t kh = k / row_len, o = k % row_len;
    const int64_t len = std::min(row_len - o, k0 + kc - k);
    const int64_t kw_first = o / ch, kw_last = (o + len - 1) / ch;
    for (int64_t r = 0; r < mr; ++r) {
      const int64_t ih = ih0[r] + kh * g.d_h;
      src[r] = kZeros;
      if (!img[r] || ih < 0 || ih >= g.in_h) continue;
      const float* row = img[r] + ih * g.in_w * ch;
      if (iw0[r] + kw_first >= 0 && iw0[r] + kw_last < g.in_w) {
        src[r] = row + iw0[r] * ch + o;
        continue;
      }
      if (kw_first == kw_last) continue;  // one tap, in the padding: zeros
      for (int64_t j = 0; j < len;) {     // tap by tap
        const int64_t c = (o + j) % ch, n = std::min(ch - c, len - j);
        const int64_t iw = iw0[r] + (o + j) / ch;
        if (iw >= 0 && iw < g.in_w) {
          std::copy(row + iw * ch + c, row + iw * ch + c + n, edge[r] + j);
        } else {
          std::fill(edge[r] + j, edge[r] + j + n, 0.0f);
        }
        j += n;
      }
      src[r] = edge[r];
    }
    sgemm_interleave_rows(src, mr, len, d);
    d += len * mr;
    k += len;
  }
  return d;
}

// SgemmAGather::pack: row i = output pixel (n, oh, ow), column k = (kh, kw, c). Each tap is a
// contiguous run of cin_g input channels (or zeros in the padding); a panel's mr rows are
// interleaved tap by tap, so the panel is written sequentially.
void gather_a(const void* ctx, int64_t i0, int64_t mc, int64_t k0, int64_t kc, int64_t mr,
              float* dst) {
  const GatherGeometry& g = *static_cast<const GatherGeometry*>(ctx);
  const int64_t out_plane = g.out_h * g.out_w;
  const int64_t in_image = g.in_h * g.in_w * g.channels;
  int64_t ih0[kMaxMr], iw0[kMaxMr];
  const float* img[kMaxMr];
  const float* src[kMaxMr];
  for (int64_t p = 0; p * mr < mc; ++p) {
    float* d = dst + p * mr * kc;
    for (int64_t r = 0; r < mr; ++r) {
      const int64_t i = i0 + p * mr + r;
      img[r] = nullptr;  // a row past mc: all zeros
      ih0[r] = iw0[r] = 0;
      if (p * mr + r >= mc) continue;
      const int64_t n = i / out_plane, oh = (i % out_plane) / g.out_w, ow = i % g.out_w;
      ih0[r] = oh * g.s_h - g.p_t;
      iw0[r] = ow * g.s_w - g.p_l;
      img[r] = g.x + n * in_image;
    }
    if (g.cin_g == g.channels && g.d_w == 1) {
      d = gather_kernel_rows(g, ih0, iw0, img, k0, kc, mr, d);
      continue;
    }
    int64_t tap = k0 / g.cin_g, c = k0 % g.cin_g;
    for (int64_t k = k0; k < k0 + kc; ++tap, c = 0) {
      const int64_t len = std::min(g.cin_g - c, k0 + kc - k);
      const int64_t dh = (tap / g.k_w) * g.d_h, dw = (tap % g.k_w) * g.d_w;
      for (int64_t r = 0; r < mr; ++r) {
        const int64_t ih = ih0[r] + dh, iw = iw0[r] + dw;
        const bool inside = img[r] && ih >= 0 && ih < g.in_h && iw >= 0 && iw < g.in_w;
        src[r] = inside ? img[r] + (ih * g.in_w + iw) * g.channels + c : kZeros;
      }
      for (int64_t j0 = 0; j0 < len; j0 += kZeroRun) {
        const int64_t jn = std::min(len - j0, kZeroRun);
        const float* run[kMaxMr];
        for (int64_t r = 0; r < mr; ++r) run[r] = src[r] == kZeros ? kZeros : src[r] + j0;
        sgemm_interleave_rows(run, mr, jn, d);
        d += jn * mr;
      }
      k += len;
    }
  }
}

class ConvNhwcGemm final : public Kernel {
 public:
  ConvNhwcGemm(const ConvShapes& cs, const GatherGeometry& geo, bool residual, ConvActivation act)
      : cs_(cs), geo_(geo), residual_(residual), act_(act) {}

  // Per group: B_g[(kh, kw, c), m] = W[g*M/G + m, c, kh, kw], packed once.
  bool prepack(const float* w) {
    const int64_t taps = geo_.k_h * geo_.k_w, kdim = taps * cs_.cin_g;
    packed_.resize(static_cast<size_t>(cs_.group));
    for (int64_t gi = 0; gi < cs_.group; ++gi) {
      const std::vector<float> b =
          nhwc_gemm_weights(w + gi * cs_.cout_g * kdim, cs_.cout_g, cs_.cin_g, taps);
      if (!packed_[gi].pack(kdim, cs_.cout_g, b.data(), cs_.cout_g, false)) return false;
    }
    return true;
  }

  const char* name() const override { return "conv_nhwc_gemm"; }

  void run(const KernelRun& r) const override {
    const float* bias = cs_.has_bias ? r.in(ConvOperand::kBias).as<float>() : nullptr;
    const float* res = residual_ ? r.in(ConvOperand::kResidual).as<float>() : nullptr;
    float* y = r.out(0).as<float>();
    const int64_t rows = cs_.batch * geo_.out_h * geo_.out_w;
    for (int64_t gi = 0; gi < cs_.group; ++gi) {
      GatherGeometry geo = geo_;
      geo.x = r.in(0).as<float>() + gi * cs_.cin_g;
      const SgemmAGather a{&gather_a, &geo};
      const int64_t col = gi * cs_.cout_g;
      sgemm_gather_a(rows, a, packed_[gi], y + col, cs_.cout,
                     nhwc_conv_epilogue(bias ? bias + col : nullptr, res ? res + col : nullptr,
                                        cs_.cout, act_));
    }
  }

 private:
  ConvShapes cs_;
  GatherGeometry geo_;
  bool residual_;
  ConvActivation act_;
  std::vector<SgemmPackedB> packed_;
};

}  // namespace

const ConvImplementation kConvNhwcGemm = {
    "conv_nhwc_gemm",
    [](const ConvDescriptor& d, const ExecutionOptions&) { return declines_nhwc(d, false); },
    conv_always,
    conv_never,
    conv_never,
    [](PrepareContext& ctx, const ConvDescriptor& d, const ConvBuild& b) {
      const ConvShapes& cs = d.shapes;
      const GatherGeometry geo = nhwc_gather_geometry(d);
      auto k = std::make_unique<ConvNhwcGemm>(cs, geo, b.residual, b.act);
      if (!k->prepack(ctx.input(ConvOperand::kW).value->data_as<float>())) {
        return Result<std::unique_ptr<Kernel>>(conv_packing_failed(ctx));
      }
      return Result<std::unique_ptr<Kernel>>(std::unique_ptr<Kernel>(std::move(k)));
    }};

}  // namespace keel
