// A depthwise Conv that absorbed the 1x1 expansion before it (passes/fuse_expand_depthwise.cpp,
// keel-only, NHWC): the inverted-residual block of MobileNetV2 and EfficientNet. X is the
// expansion's input [N, H, W, C_in], kExpandW and kExpandBias its weights [C, C_in, 1, 1] and
// optional bias, and its fused activation NodeDecisions::expand_activation; W and B stay the
// depthwise weights [C, 1, kH, kW] and bias (graph/fused_ops.hpp). The expanded tensor (6x the
// block's channels, 1.2-4.8 MB per image at 56x56 and 112x112) then never goes through memory: each
// thread expands bands of input rows into a buffer that stays in L2 and runs the depthwise rows
// on it, keeping the rows a band shares with the next. An image whose expanded tensor fits L2
// is expanded whole instead, as the two separate convs did. A fused pooling (the pooled result,
// kernels/conv/pool_after.hpp) comes from the rows as they are written.
#include <algorithm>
#include <cstring>
#include <memory>
#include <string>
#include <vector>

#include "exec/parallel.hpp"
#include "kernels/conv/conv_implementation.hpp"
#include "kernels/conv/pool_after.hpp"
#include "kernels/fused_activation.hpp"
#include "kernels/global_average_pool.hpp"
#include "ukernels/dwconv_dispatch.hpp"
#include "ukernels/sgemm.hpp"

namespace keel {
namespace {

constexpr size_t kAlign = 64;
// An expanded image up to this size is expanded whole (it stays in L2 anyway).
constexpr int64_t kWholeImageBytes = 1 << 20;
// Bytes of expanded rows a thread keeps per band.
constexpr int64_t kBandBytes = 384 << 10;

size_t aligned(size_t bytes) { return (bytes + kAlign - 1) / kAlign * kAlign; }

class ConvExpandDepthwise final : public Kernel {
 public:
  ConvExpandDepthwise(int64_t batch, int64_t cin, int64_t out_h, const DwConvParams& dw,
                      ActParams expand_act, bool expand_bias, bool dw_bias, bool pool, int tasks)
      : batch_(batch),
        cin_(cin),
        out_h_(out_h),
        dw_(dw),
        expand_act_(expand_act),
        expand_bias_(expand_bias),
        dw_bias_(dw_bias),
        pool_(pool),
        uk_(dwconv_ukernels_active()) {
    const int64_t c = dw.channels, row = dw.in_w * c;
    const int64_t k_eff = (dw.k_h - 1) * dw.dil_h + 1;
    whole_ = dw.in_h * row * 4 <= kWholeImageBytes;
    if (whole_) {
      tasks_ = 1;
      band_rows_ = dw.in_h;
      out_rows_per_band_ = out_h;
    } else {
      tasks_ = std::max(1, std::min<int>(tasks, static_cast<int>(out_h)));
      const int64_t cap = std::max(k_eff, kBandBytes / (row * 4));
      out_rows_per_band_ = std::max<int64_t>(1, (cap - k_eff) / dw.stride_h + 1);
      band_rows_ = (out_rows_per_band_ - 1) * dw.stride_h + k_eff;
    }
    band_bytes_ = aligned(static_cast<size_t>(band_rows_ * row) * sizeof(float));
    sums_bytes_ = pool ? aligned(static_cast<size_t>(batch * out_h * c) * sizeof(double)) : 0;
  }

  // We [C, C_in, 1, 1] is B^T of the expansion GEMM; Wd [C, 1, kH, kW] -> [kH*kW, C].
  bool prepack(const float* we, const float* wd) {
    const int64_t taps = dw_.k_h * dw_.k_w, c = dw_.channels;
    wd_.resize(static_cast<size_t>(taps * c));
    for (int64_t ch = 0; ch < c; ++ch) {
      for (int64_t t = 0; t < taps; ++t) wd_[t * c + ch] = wd[ch * taps + t];
    }
    return expand_.pack(cin_, c, we, cin_, true);
  }

  const char* name() const override { return "conv_nhwc_expand_depthwise"; }
  size_t scratch_bytes() const override { return tasks_ * band_bytes_ + sums_bytes_; }

  void run(const KernelRun& r) const override {
    auto* scratch = static_cast<std::byte*>(r.scratch);
    auto* sums = reinterpret_cast<double*>(scratch + tasks_ * band_bytes_);
    GemmEpilogue ep;
    if (expand_bias_) {
      ep.bias_kind = GemmBias::kPerCol;
      ep.bias = r.in(ConvOperand::kExpandBias).as<float>();
    }
    ep.act = expand_act_;
    DwConvParams p = dw_;
    p.w = wd_.data();
    p.bias = dw_bias_ ? r.in(ConvOperand::kBias).as<float>() : nullptr;
    const float* x = r.in(0).as<float>();
    float* y = r.out(0).as<float>();
    const int64_t c = dw_.channels, in_pixels = dw_.in_h * dw_.in_w;
    if (whole_) {
      // Expand the image into scratch (a parallel GEMM), then its rows in parallel.
      auto* e = reinterpret_cast<float*>(scratch);
      for (int64_t n = 0; n < batch_; ++n) {
        sgemm_packed_b(in_pixels, x + n * in_pixels * cin_, cin_, false, expand_, e, c, ep);
        parallel_for(out_h_, dw_.out_w * c * dw_.k_h * dw_.k_w, [&](int64_t o0, int64_t o1) {
          for (int64_t oh = o0; oh < o1; ++oh) dw_row(p, e, n, oh, 0, y, sums);
        });
      }
    } else {
      parallel_for(tasks_, int64_t{1} << 30, [&](int64_t t0, int64_t t1) {
        for (int64_t t = t0; t < t1; ++t) {
          auto* band = reinterpret_cast<float*>(scratch + t * band_bytes_);
          for (int64_t n = 0; n < batch_; ++n) {
            run_rows(p, ep, x + n * in_pixels * cin_, band, n, t * out_h_ / tasks_,
                     (t + 1) * out_h_ / tasks_, y, sums);
          }
        }
      });
    }
    if (pool_)
      pooled_means_from_rows(sums, batch_, out_h_, out_h_ * dw_.out_w, c,
                             r.out(ConvResult::kPooled).as<float>());
  }

 private:
  // Output row oh of image n from expanded rows held in `e`, whose row 0 is input row first_ih
  // (p describes those rows: in_h and pad_t set by the caller).
  void dw_row(const DwConvParams& p, const float* e, int64_t n, int64_t oh, int64_t first_oh,
              float* y, double* sums) const {
    const int64_t c = dw_.channels, out_row = dw_.out_w * c, t = n * out_h_ + oh;
    float* yr = y + t * out_row;
    uk_->row(&p, e, oh - first_oh, yr);
    if (pool_) {
      std::fill(sums + t * c, sums + (t + 1) * c, 0.0);
      add_channel_sums(yr, dw_.out_w, c, c, sums + t * c);
    }
  }

  // Output rows [oa, ob) of image n (input x_n), band by band through `band`.
  void run_rows(DwConvParams p, const GemmEpilogue& ep, const float* x_n, float* band, int64_t n,
                int64_t oa, int64_t ob, float* y, double* sums) const {
    const int64_t c = dw_.channels, row = dw_.in_w * c, s = dw_.stride_h;
    const int64_t k_eff = (dw_.k_h - 1) * dw_.dil_h + 1;
    int64_t held_lo = 0, held_hi = 0;  // input rows in the band, from its row 0
    for (int64_t o0 = oa; o0 < ob; o0 += out_rows_per_band_) {
      const int64_t o1 = std::min(ob, o0 + out_rows_per_band_);
      const int64_t lo = std::clamp<int64_t>(o0 * s - dw_.pad_t, 0, dw_.in_h);
      const int64_t hi = std::clamp<int64_t>((o1 - 1) * s - dw_.pad_t + k_eff, lo, dw_.in_h);
      if (held_hi > lo && lo >= held_lo) {  // rows shared with the previous band move up
        std::memmove(band, band + (lo - held_lo) * row,
                     static_cast<size_t>((held_hi - lo) * row) * sizeof(float));
      } else {
        held_hi = lo;
      }
      held_lo = lo;
      if (hi > held_hi) {
        sgemm_packed_b((hi - held_hi) * dw_.in_w, x_n + held_hi * dw_.in_w * cin_, cin_, false,
                       expand_, band + (held_hi - lo) * row, c, ep);
        held_hi = hi;
      }
      // The band as an image of rows [lo, hi): output row o0 + i is its row i.
      p.in_h = hi - lo;
      p.pad_t = dw_.pad_t + lo - o0 * s;
      for (int64_t oh = o0; oh < o1; ++oh) dw_row(p, band, n, oh, o0, y, sums);
    }
  }

  int64_t batch_, cin_, out_h_;
  DwConvParams dw_;
  ActParams expand_act_;
  bool expand_bias_, dw_bias_, pool_;
  const DwConvUkernels* uk_;
  bool whole_ = false;
  int tasks_ = 1;
  int64_t band_rows_ = 0, out_rows_per_band_ = 1;
  size_t band_bytes_ = 0, sums_bytes_ = 0;
  SgemmPackedB expand_;
  std::vector<float> wd_;
};

}  // namespace

const ConvImplementation kConvNhwcExpandDepthwise = {
    "conv_nhwc_expand_depthwise",
    [](const ConvDescriptor& d, const ExecutionOptions&) {
      if (!d.expand) return std::string("no fused 1x1 expansion");
      if (!d.const_w || !d.const_expand_w) {
        return std::string("non-constant weights (packed at plan time)");
      }
      return std::string();
    },
    conv_never,
    conv_never,
    conv_always,
    [](PrepareContext& ctx, const ConvDescriptor& d, const ConvBuild& b) {
      DwConvParams p;
      set_window_2d(p, d.g);
      p.channels = d.shapes.cout;
      p.act = b.act;
      auto k = std::make_unique<ConvExpandDepthwise>(
          d.shapes.batch, d.expand_cin, d.g.out[1], p, d.expand_act,
          ctx.has_input(ConvOperand::kExpandBias), d.shapes.has_bias, b.pool, ctx.max_threads);
      if (!k->prepack(ctx.input(ConvOperand::kExpandW).value->data_as<float>(),
                      ctx.input(ConvOperand::kW).value->data_as<float>())) {
        return Result<std::unique_ptr<Kernel>>(conv_packing_failed(ctx));
      }
      return Result<std::unique_ptr<Kernel>>(std::unique_ptr<Kernel>(std::move(k)));
    }};

}  // namespace keel
