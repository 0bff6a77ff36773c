#include "kernels/conv_expand_dw.hpp"

#include <algorithm>
#include <cstring>
#include <vector>

#include "exec/parallel.hpp"
#include "kernels/channel_sums.hpp"
#include "kernels/conv_params.hpp"
#include "kernels/conv_pool.hpp"
#include "kernels/fused_activation.hpp"
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

Result<std::unique_ptr<Kernel>> make_conv_expand_depthwise(PrepareContext& ctx) {
  if (node_layout(ctx.node) != Layout::kNhwc || ctx.node.decisions.has_input_layout) {
    return ctx.invalid("an expanded depthwise conv needs NHWC data");
  }
  if (ctx.num_inputs() > ConvOperand::kCount || ctx.has_input(ConvOperand::kResidual) ||
      ctx.has_input(ConvOperand::kGate)) {
    return ctx.invalid("an expanded depthwise conv takes X, W, B, the expansion's W and B");
  }
  KEEL_RETURN_IF_ERROR(ctx.check_input(ConvOperand::kX, {DataType::kFloat32}, 4, 4));
  KEEL_RETURN_IF_ERROR(ctx.check_input(ConvOperand::kW, {DataType::kFloat32}, 4, 4));
  KEEL_RETURN_IF_ERROR(ctx.check_input(ConvOperand::kExpandW, {DataType::kFloat32}, 4, 4));
  const Tensor* wd = ctx.input(ConvOperand::kW).value;
  const Tensor* we = ctx.input(ConvOperand::kExpandW).value;
  if (wd == nullptr || we == nullptr) {
    return ctx.unsupported_case("an expanded depthwise conv needs constant weights");
  }
  const Shape& x = ctx.input(ConvOperand::kX).shape;
  const Shape& wds = wd->shape();
  const Shape& wes = we->shape();
  const int64_t c = wds[0];
  KEEL_ASSIGN_OR_RETURN(const int64_t group, ctx.node.attr_int("group", 1));
  if (c < 1 || wds[1] != 1 || wds[2] < 1 || wds[3] < 1 || group != c || wes[0] != c ||
      wes[1] != x[3] || wes[2] != 1 || wes[3] != 1) {
    return ctx.invalid("expansion W " + shape_to_string(wes) + " and depthwise W " +
                       shape_to_string(wds) + " (group " + std::to_string(group) +
                       ") do not fit X " + shape_to_string(x));
  }
  for (size_t i : {size_t{ConvOperand::kBias}, size_t{ConvOperand::kExpandBias}}) {
    if (!ctx.has_input(i)) continue;
    KEEL_RETURN_IF_ERROR(ctx.check_input(i, {DataType::kFloat32}, 1, 1));
    if (ctx.input(i).shape[0] != c) {
      return ctx.invalid(std::string(i == ConvOperand::kBias ? "bias " : "expansion bias ") +
                         shape_to_string(ctx.input(i).shape) + " must have " + std::to_string(c) +
                         " values");
    }
  }
  if (x[1] < 1 || x[2] < 1)
    return ctx.unsupported_case("empty spatial input " + shape_to_string(x));
  WindowGeometry wg;
  KEEL_RETURN_IF_ERROR(read_window(ctx, {x[1], x[2]}, {wds[2], wds[3]}, true, wg));
  KEEL_RETURN_IF_ERROR(compute_forward_output(ctx, false, wg));
  const Geometry3 g = to_geometry3(wg);
  const Shape out_shape = {x[0], wg.out[0], wg.out[1], c};
  KEEL_RETURN_IF_ERROR(check_sizes(ctx, {out_shape, {x[0], x[1], x[2], c}}));
  ctx.set_output(0, DataType::kFloat32, out_shape);
  const bool pooled = ctx.node.has_output(ConvResult::kPooled);
  if (ctx.node.outputs.size() > ConvResult::kCount) {
    return ctx.invalid("expected at most 2 outputs, got " +
                       std::to_string(ctx.node.outputs.size()));
  }
  if (pooled) ctx.set_output(ConvResult::kPooled, DataType::kFloat32, {x[0], 1, 1, c});
  const ActParams& dw_act = ctx.node.decisions.activation;
  const ActParams& expand_act = ctx.node.decisions.expand_activation;
  DwConvParams p;
  set_window_2d(p, g);
  p.channels = c;
  p.act = dw_act;
  auto k = std::make_unique<ConvExpandDepthwise>(
      x[0], x[3], g.out[1], p, expand_act, ctx.has_input(ConvOperand::kExpandBias),
      ctx.has_input(ConvOperand::kBias), pooled, ctx.max_threads);
  if (!k->prepack(we->data_as<float>(), wd->data_as<float>())) {
    return Status(StatusCode::kOutOfMemory, ctx.node.describe() + ": packing the weights");
  }
  return std::unique_ptr<Kernel>(std::move(k));
}

}  // namespace keel
