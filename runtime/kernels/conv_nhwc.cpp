// Conv on NHWC activations, float32, 2-D. make_conv_nhwc picks one implementation at plan
// time; each packs the constant weights once, here:
//   conv_nhwc_1x1        unit kernel, stride 1, no padding, group 1: Y[N*H*W, M] =
//                        X[N*H*W, C] x W^T, one GEMM with the batch folded into the rows
//   conv_nhwc_winograd   3x3, stride 1, one group, >= 64 inputs and >= 32 outputs:
//                        Winograd F(2x2, 3x3) (kernels/conv_winograd.hpp), unless the
//                        execution options switch it off
//   conv_nhwc_depthwise  one input and one output channel per group: the per-ISA depthwise
//                        ukernel (vectorized over channels), parallel over (n, output row)
//   conv_nhwc_direct     the per-ISA direct ukernel (gconv_ukernel.hpp: vectorized over a
//                        group's outputs, input values broadcast, no packing of the image) for
//                        groups of few channels (cin_g * cout_g <= 1024, RegNet's 8 x 8), for
//                        KxK convs of one group with at most 64 outputs that Winograd does
//                        not take (strided, dilated, few inputs), and for every conv whose X is
//                        NCHW (NodeDecisions::input_layout, a stem on an RGB image), read in place,
//                        strided; groups of 4 or 8 channels in and out are bundled (several per
//                        vector)
//   conv_nhwc_gemm       anything else (wide outputs amortize the gather): implicit GEMM per
//                        group, rows = output pixels, K = (kh, kw, c); the driver gathers A
//                        panels straight from the image
//                        (no im2col buffer), B = weights reordered to [(kh, kw, c), m]
// The fused activation runs in the GEMM epilogue or the ukernel; a fused residual
// (kernels/conv_residual.hpp) in the GEMM epilogue of conv_nhwc_1x1 and conv_nhwc_gemm, and in
// the output transform of conv_nhwc_winograd; a fused gate (kernels/conv_gate.hpp) in the packed
// weights of conv_nhwc_1x1, scaled per image.
#include "kernels/conv_nhwc.hpp"

#include <algorithm>
#include <vector>

#include "exec/parallel.hpp"
#include "kernels/channel_sums.hpp"
#include "kernels/conv_pool.hpp"
#include "kernels/conv_winograd.hpp"
#include "ukernels/dwconv_dispatch.hpp"
#include "ukernels/gconv_dispatch.hpp"
#include "ukernels/sgemm.hpp"
#include "ukernels/sgemm_ukernel.hpp"  // kSgemmMr

namespace keel {
namespace {

// residual: the skip tensor of a fused residual Add (Y's shape), or nullptr.
GemmEpilogue conv_epilogue(const float* bias, const float* residual, int64_t ld_residual,
                           const ConvActivation& act) {
  GemmEpilogue ep;
  if (bias != nullptr) {
    ep.bias_kind = GemmBias::kPerCol;
    ep.bias = bias;
  }
  ep.residual = residual;
  ep.ld_residual = ld_residual;
  ep.act = act;
  return ep;
}

Status packing_failed(const PrepareContext& ctx) {
  return Status(StatusCode::kOutOfMemory, ctx.node.describe() + ": packing the weights");
}

// ------------------------------------------------------------------------------ 1x1

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
                     conv_epilogue(bias, res, cout_, act_));
      return;
    }
    // Per image: X_n diag(g_n) W^T = X_n (diag(g_n) B), B's rows scaled into scratch.
    const float* g = r.in(ConvOperand::kGate).as<float>();
    auto* scaled = static_cast<float*>(r.scratch);
    for (int64_t n = 0; n < batch_; ++n) {
      packed_.scale_rows(g + n * cin_, scaled);
      const int64_t row0 = n * pixels_;
      sgemm_packed_b(pixels_, x + row0 * cin_, cin_, false, packed_, y + row0 * cout_, cout_,
                     conv_epilogue(bias, res ? res + row0 * cout_ : nullptr, cout_, act_), scaled);
    }
  }

 private:
  int64_t batch_, pixels_, cin_, cout_;  // pixels_: of one image
  bool has_bias_, residual_, gate_;
  ConvActivation act_;
  SgemmPackedB packed_;
};

// ---------------------------------------------------------------------- implicit GEMM

// What the A gather needs: the image and the window geometry of one group.
struct GatherGeometry {
  const float* x = nullptr;  // image 0, at the group's first channel
  int64_t in_h = 0, in_w = 0, channels = 0, cin_g = 0;
  int64_t out_h = 0, out_w = 0, k_h = 0, k_w = 0;
  int64_t s_h = 1, s_w = 1, d_h = 1, d_w = 1, p_t = 0, p_l = 0;
};

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
    std::vector<float> b(static_cast<size_t>(kdim * cs_.cout_g));
    packed_.resize(static_cast<size_t>(cs_.group));
    for (int64_t gi = 0; gi < cs_.group; ++gi) {
      const float* wg = w + gi * cs_.cout_g * kdim;
      for (int64_t m = 0; m < cs_.cout_g; ++m) {
        for (int64_t c = 0; c < cs_.cin_g; ++c) {
          for (int64_t t = 0; t < taps; ++t) {
            b[(t * cs_.cin_g + c) * cs_.cout_g + m] = wg[(m * cs_.cin_g + c) * taps + t];
          }
        }
      }
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
      sgemm_gather_a(
          rows, a, packed_[gi], y + col, cs_.cout,
          conv_epilogue(bias ? bias + col : nullptr, res ? res + col : nullptr, cs_.cout, act_));
    }
  }

 private:
  ConvShapes cs_;
  GatherGeometry geo_;
  bool residual_;
  ConvActivation act_;
  std::vector<SgemmPackedB> packed_;
};

// Per-row channel sums for a pooled output 1 (kernels/conv_pool.hpp): batch * out_h rows of
// `channels` doubles in scratch.
struct RowPooling {
  bool on = false;
  int64_t channels = 0;
  size_t bytes(int64_t rows) const {
    return on ? static_cast<size_t>(rows * channels) * sizeof(double) : 0;
  }
};

// Every output row (n, oh) of a batch of NHWC images through a per-ISA row ukernel, in
// parallel; `macs_per_output` sizes the work of a row of out_row outputs. With pooling, each
// row's channel sums go to row_sums while the row is still in cache, and output 1 gets the means.
template <class Params>
void for_each_output_row(void (*row)(const Params*, const float*, int64_t, float*), const Params& p,
                         const KernelRun& r, int64_t batch, int64_t out_h, int64_t in_image,
                         int64_t out_row, int64_t macs_per_output, const RowPooling& pool) {
  const float* x = r.in(0).as<float>();
  float* y = r.out(0).as<float>();
  auto* row_sums = static_cast<double*>(r.scratch);
  const int64_t c = pool.channels;
  parallel_for(batch * out_h, out_row * macs_per_output, [&](int64_t t0, int64_t t1) {
    for (int64_t t = t0; t < t1; ++t) {
      row(&p, x + (t / out_h) * in_image, t % out_h, y + t * out_row);
      if (pool.on) {
        std::fill(row_sums + t * c, row_sums + (t + 1) * c, 0.0);
        add_channel_sums(y + t * out_row, out_row / c, c, c, row_sums + t * c);
      }
    }
  });
  if (pool.on) {
    pooled_means_from_rows(row_sums, batch, out_h, out_h * (out_row / c), c,
                           r.out(ConvResult::kPooled).as<float>());
  }
}

// -------------------------------------------------------------------------- depthwise

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

// ---------------------------------------------------------------------------- grouped

// Few channels per group (RegNet: 8): a direct kernel vectorized over each group's output
// channels, instead of one tiny GEMM per group.
class ConvNhwcDirect final : public Kernel {
 public:
  ConvNhwcDirect(int64_t batch, int64_t out_h, bool has_bias, const GroupConvParams& p, bool pool)
      : batch_(batch),
        out_h_(out_h),
        has_bias_(has_bias),
        params_(p),
        pool_{pool, p.out_channels},
        uk_(gconv_ukernels_for_group(active_isa(), p.cin_g, p.cout_g, p.in_ch_stride == 1)) {
    params_.bundle_g = gconv_bundle_g(uk_, p.cin_g, p.cout_g, p.in_ch_stride == 1);
  }

  // W [M, cin_g, kH, kW] -> [group][chunk][kH*kW][cin_g][cw] (GroupConvParams::w), or the
  // bundled layout; the k offsets into the image.
  void prepack(const float* w) {
    GroupConvParams& p = params_;
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
    GroupConvParams p = params_;
    p.w = w_.data();
    p.k_offsets = k_offsets_.data();
    p.bias = has_bias_ ? r.in(ConvOperand::kBias).as<float>() : nullptr;
    for_each_output_row(uk_->row, p, r, batch_, out_h_, p.in_h * p.in_w * p.in_channels,
                        p.out_w * p.out_channels, p.cin_g * p.k_h * p.k_w, pool_);
  }

 private:
  int64_t batch_, out_h_;
  bool has_bias_;
  GroupConvParams params_;
  RowPooling pool_;
  const GroupConvUkernels* uk_;
  std::vector<float> w_;
  std::vector<int64_t> k_offsets_;
};

}  // namespace

NhwcConvImpl choose_nhwc_conv(const ConvShapes& cs, const Geometry3& g, Layout x_layout,
                              bool winograd) {
  // g is 3-D with a unit leading dim: index 1 is H, 2 is W.
  const bool unit = g.k[1] == 1 && g.k[2] == 1 && g.s[1] == 1 && g.s[2] == 1 && g.pb[1] == 0 &&
                    g.pb[2] == 0 && g.out[1] == g.in[1] && g.out[2] == g.in[2];
  const bool x_nchw = x_layout == Layout::kNchw;
  if (unit && cs.group == 1 && !x_nchw) return NhwcConvImpl::k1x1;
  if (cs.cin_g == 1 && cs.cout_g == 1 && !x_nchw) return NhwcConvImpl::kDepthwise;
  if (!x_nchw && winograd && winograd_applies(cs, g)) return NhwcConvImpl::kWinograd;
  // The direct kernel while a group's GEMM would be tiny (RegNet's 8-channel groups), or while
  // too few outputs share each gathered A panel: measured with bench_conv (AVX2, 2026-11-25),
  // 3x3 convs to 32 outputs run 1.1-1.5x faster direct at 7x7 to 56x56, ResNet's 64 -> 64 at
  // 56x56 1.15x; at 128 outputs and more the implicit GEMM wins (up to 1.8x at 512).
  const bool few_outputs = cs.group == 1 && cs.cout <= 64 && g.k[1] * g.k[2] > 1;
  if ((cs.group > 1 && cs.cin_g * cs.cout_g <= 1024) || few_outputs || x_nchw) {
    return NhwcConvImpl::kDirect;
  }
  return NhwcConvImpl::kGemm;
}

bool nhwc_conv_gates_weights(NhwcConvImpl impl, const ConvShapes& cs, const Geometry3& g) {
  return impl == NhwcConvImpl::k1x1 && cs.cout <= g.in_size();
}

bool nhwc_conv_pools_rows(NhwcConvImpl impl) {
  return impl == NhwcConvImpl::kDepthwise || impl == NhwcConvImpl::kDirect;
}

bool nhwc_conv_adds_residual(NhwcConvImpl impl) {
  return impl == NhwcConvImpl::k1x1 || impl == NhwcConvImpl::kGemm ||
         impl == NhwcConvImpl::kWinograd;
}

Result<std::unique_ptr<Kernel>> make_conv_nhwc(PrepareContext& ctx, const ConvShapes& cs,
                                               const Geometry3& g, const ConvActivation& act,
                                               Layout x_layout, bool residual, bool gate,
                                               bool pool) {
  const Tensor* w = ctx.input(ConvOperand::kW).value;
  if (w == nullptr) {
    return ctx.unsupported_case(
        "NHWC Conv with non-constant weights W (weights are packed at "
        "plan time)");
  }
  const float* wd = w->data_as<float>();
  const NhwcConvImpl impl = choose_nhwc_conv(cs, g, x_layout, ctx.options.winograd);
  if (residual && !nhwc_conv_adds_residual(impl)) {
    return ctx.invalid("internal: the residual cannot go into this kernel's epilogue");
  }
  if (gate && !nhwc_conv_gates_weights(impl, cs, g)) {
    return ctx.invalid("internal: the gate cannot go into this kernel's weights");
  }
  if (pool && !nhwc_conv_pools_rows(impl)) {
    return ctx.invalid("internal: this kernel cannot pool its output rows");
  }
  const bool x_nchw = x_layout == Layout::kNchw;
  if (impl == NhwcConvImpl::kWinograd) return make_conv_winograd(ctx, cs, g, act, residual);
  if (impl == NhwcConvImpl::k1x1) {
    auto k = std::make_unique<ConvNhwc1x1>(cs.batch, g.in_size(), cs.cin, cs.cout, cs.has_bias,
                                           residual, gate, act);
    if (!k->prepack(wd)) return packing_failed(ctx);
    return std::unique_ptr<Kernel>(std::move(k));
  }
  if (impl == NhwcConvImpl::kDepthwise) {
    DwConvParams p;
    set_window_2d(p, g);
    p.channels = cs.cin;
    p.act = act;
    auto k = std::make_unique<ConvNhwcDepthwise>(cs.batch, g.out[1], cs.has_bias, p, pool);
    k->prepack(wd);
    return std::unique_ptr<Kernel>(std::move(k));
  }
  if (impl == NhwcConvImpl::kDirect) {
    GroupConvParams p;
    set_window_2d(p, g);
    p.in_channels = cs.cin;
    p.in_ch_stride = x_nchw ? p.in_h * p.in_w : 1;
    p.in_px_stride = x_nchw ? 1 : cs.cin;
    p.in_row_stride = p.in_w * p.in_px_stride;
    p.out_channels = cs.cout;
    p.groups = cs.group;
    p.cin_g = cs.cin_g;
    p.cout_g = cs.cout_g;
    p.act = act;
    auto k = std::make_unique<ConvNhwcDirect>(cs.batch, g.out[1], cs.has_bias, p, pool);
    k->prepack(wd);
    return std::unique_ptr<Kernel>(std::move(k));
  }
  GatherGeometry geo;
  geo.in_h = g.in[1];
  geo.in_w = g.in[2];
  geo.channels = cs.cin;
  geo.cin_g = cs.cin_g;
  geo.out_h = g.out[1];
  geo.out_w = g.out[2];
  geo.k_h = g.k[1];
  geo.k_w = g.k[2];
  geo.s_h = g.s[1];
  geo.s_w = g.s[2];
  geo.d_h = g.d[1];
  geo.d_w = g.d[2];
  geo.p_t = g.pb[1];
  geo.p_l = g.pb[2];
  auto k = std::make_unique<ConvNhwcGemm>(cs, geo, residual, act);
  if (!k->prepack(wd)) return packing_failed(ctx);
  return std::unique_ptr<Kernel>(std::move(k));
}

}  // namespace keel
