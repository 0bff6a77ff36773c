// Conv and ConvTranspose, float32, NCHW, 1-D to 3-D spatial (2-D NHWC Conv: conv_nhwc.cpp).
//
// Every spatial rank runs as 3-D (missing leading dims have size 1, stride 1, no padding).
// Conv picks one implementation at plan time:
//   conv_nchw_1x1      unit kernel, stride 1, no padding: Y_g = W_g x X_g directly (GEMM)
//   conv_nchw_depthwise one input channel per group: direct loop over output rows
//   conv_nchw_im2col   anything else: im2col into scratch, then GEMM
// A fused activation (kernels/fused_activation.hpp) is applied in the GEMM epilogue or after
// the depthwise accumulation.
// ConvTranspose runs W_g^T x X_g (GEMM) into scratch, then scatters it (col2im).
// Constant weights are packed for the GEMM once, here.
#include <algorithm>
#include <cstring>
#include <memory>
#include <optional>
#include <vector>

#include "exec/parallel.hpp"
#include "kernels/broadcast.hpp"
#include "kernels/conv_expand_dw.hpp"
#include "kernels/conv_gate.hpp"
#include "kernels/conv_nhwc.hpp"
#include "kernels/conv_params.hpp"
#include "kernels/conv_pool.hpp"
#include "kernels/conv_residual.hpp"
#include "kernels/conv_winograd.hpp"
#include "kernels/fused_activation.hpp"
#include "kernels/registry.hpp"
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

// y[c, (o...)] = bias[c] + sum over (k, i) with o = i*s - p + k*d of col[(c, k), i]. Here
// `g.in` is the transposed conv's input (the col columns) and `g.out` its output.
void col2im(const float* col, int64_t channels, const Geometry3& g, const float* bias, float* y) {
  const int64_t ksize = g.k_size(), isize = g.in_size(), osize = g.out_size();
  parallel_for(channels, ksize * isize, [&](int64_t c0, int64_t c1) {
    for (int64_t c = c0; c < c1; ++c) {
      float* yc = y + c * osize;
      std::fill(yc, yc + osize, bias ? bias[c] : 0.0f);
      for (int64_t kk = 0; kk < ksize; ++kk) {
        const int64_t kw = kk % g.k[2], kh = (kk / g.k[2]) % g.k[1], kd = kk / (g.k[2] * g.k[1]);
        const float* src = col + (c * ksize + kk) * isize;
        // Input position i maps to output i*s - p + k*d: the "valid range" of i over the
        // output extent uses the same helper with roles swapped.
        const int64_t off_w = kw * g.d[2] - g.pb[2];
        int64_t w_lo, w_hi;
        valid_output_range(off_w, g.s[2], g.out[2], g.in[2], w_lo, w_hi);
        for (int64_t id = 0; id < g.in[0]; ++id) {
          const int64_t od = id * g.s[0] - g.pb[0] + kd * g.d[0];
          if (od < 0 || od >= g.out[0]) continue;
          for (int64_t ih = 0; ih < g.in[1]; ++ih) {
            const int64_t oh = ih * g.s[1] - g.pb[1] + kh * g.d[1];
            if (oh < 0 || oh >= g.out[1]) continue;
            const float* srow = src + (id * g.in[1] + ih) * g.in[2];
            float* drow = yc + (od * g.out[1] + oh) * g.out[2] + off_w;
            const int64_t sw = g.s[2];
            for (int64_t iw = w_lo; iw < w_hi; ++iw) drow[iw * sw] += srow[iw];
          }
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

Result<std::unique_ptr<Kernel>> make_conv_nchw(PrepareContext& ctx, const ConvShapes& cs,
                                               const Geometry3& g, const WindowGeometry& wg,
                                               const ConvActivation& act);

// A Conv carrying a residual (kernels/conv_residual.hpp): in the GEMM epilogue when R has Y's
// shape and the NHWC kernel is a GEMM, else the conv without activation and a second pass.
Result<std::unique_ptr<Kernel>> make_conv_with_residual(
    PrepareContext& ctx, const ConvShapes& cs, const Geometry3& g, const WindowGeometry& wg,
    const ConvActivation& act, Layout layout, Layout x_layout, NhwcConvImpl impl,
    const Shape& conv_shape, bool gate_in_weights) {
  KEEL_RETURN_IF_ERROR(ctx.check_input(ConvOperand::kResidual, {DataType::kFloat32}));
  const Shape& r_shape = ctx.input(ConvOperand::kResidual).shape;
  const std::optional<Shape> out_shape = broadcast_shapes(conv_shape, r_shape);
  if (!out_shape) {
    return ctx.invalid("the residual " + shape_to_string(r_shape) +
                       " does not broadcast with the convolution's output " +
                       shape_to_string(conv_shape));
  }
  if (layout == Layout::kNhwc && r_shape == conv_shape && nhwc_conv_adds_residual(impl)) {
    return make_conv_nhwc(ctx, cs, g, act, x_layout, true, gate_in_weights);
  }
  KEEL_RETURN_IF_ERROR(check_sizes(ctx, {*out_shape}));
  std::unique_ptr<Kernel> conv;
  if (layout == Layout::kNhwc) {
    KEEL_ASSIGN_OR_RETURN(
        conv, make_conv_nhwc(ctx, cs, g, ActParams{}, x_layout, false, gate_in_weights));
  } else {
    KEEL_ASSIGN_OR_RETURN(conv, make_conv_nchw(ctx, cs, g, wg, ActParams{}));
  }
  ctx.set_output(0, DataType::kFloat32, *out_shape);
  return make_conv_residual_after(std::move(conv), conv_shape, r_shape, *out_shape, act);
}

Result<std::unique_ptr<Kernel>> make_conv(PrepareContext& ctx) {
  if (has_conv_operand(ctx.node, ConvOperand::kExpandW)) return make_conv_expand_depthwise(ctx);
  const Layout layout = node_layout(ctx.node);
  const Layout x_layout = node_input_layout(ctx.node);
  ConvShapes cs;
  KEEL_RETURN_IF_ERROR(check_conv_inputs(ctx, false, x_layout, cs));
  // The one mixed case: a 2-D NHWC conv reading an NCHW X in place.
  if (x_layout != layout && (x_layout != Layout::kNchw || cs.in_spatial.size() != 2)) {
    return ctx.invalid(std::string("input layout ") + layout_name(x_layout) +
                       " needs a 2-D conv marked NHWC, got " + layout_name(layout) + " X " +
                       shape_to_string(ctx.input(ConvOperand::kX).shape));
  }
  WindowGeometry wg;
  KEEL_RETURN_IF_ERROR(read_window(ctx, cs.in_spatial, cs.kernel, true, wg));
  KEEL_RETURN_IF_ERROR(compute_forward_output(ctx, false, wg));
  const ConvActivation& act = ctx.node.decisions.activation;
  Shape out_shape = {cs.batch};
  if (layout == Layout::kNchw) out_shape.push_back(cs.cout);
  out_shape.insert(out_shape.end(), wg.out.begin(), wg.out.end());
  if (layout == Layout::kNhwc) out_shape.push_back(cs.cout);
  const Geometry3 g = to_geometry3(wg);
  KEEL_RETURN_IF_ERROR(check_sizes(ctx, {out_shape, {cs.cin_g, g.k_size(), g.out_size()}}));
  ctx.set_output(0, DataType::kFloat32, out_shape);
  // A fused gate (kernels/conv_gate.hpp) goes into the weights and a fused pooling
  // (kernels/conv_pool.hpp) into the row loop where the kernel can take them; else X * G is
  // computed first and the pooling runs after.
  const bool nhwc = layout == Layout::kNhwc;
  const NhwcConvImpl impl = choose_nhwc_conv(cs, g, x_layout, ctx.options.winograd);
  const bool residual = has_conv_operand(ctx.node, ConvOperand::kResidual);
  const bool gated = has_conv_operand(ctx.node, ConvOperand::kGate);
  if (gated) KEEL_RETURN_IF_ERROR(check_conv_gate(ctx, cs));
  const bool gate_in_weights = gated && nhwc && nhwc_conv_gates_weights(impl, cs, g);
  const bool pooled = ctx.node.op_type == kFusedConv && ctx.node.has_output(ConvResult::kPooled);
  if (ctx.node.outputs.size() > (pooled ? ConvResult::kCount : ConvResult::kPooled)) {
    return ctx.invalid("expected " + std::string(pooled ? "2 outputs" : "1 output") + ", got " +
                       std::to_string(ctx.node.outputs.size()));
  }
  if (pooled && out_shape.size() != 4) {
    return ctx.invalid("a pooled result needs a 2-D conv");
  }
  if (pooled) {
    ctx.set_output(ConvResult::kPooled, DataType::kFloat32,
                   nhwc ? Shape{cs.batch, 1, 1, cs.cout} : Shape{cs.batch, cs.cout, 1, 1});
  }
  const bool pool_in_rows = pooled && nhwc && !residual && nhwc_conv_pools_rows(impl);
  std::unique_ptr<Kernel> conv;
  if (residual) {
    KEEL_ASSIGN_OR_RETURN(conv, make_conv_with_residual(ctx, cs, g, wg, act, layout, x_layout, impl,
                                                        out_shape, gate_in_weights));
  } else if (nhwc) {
    KEEL_ASSIGN_OR_RETURN(
        conv, make_conv_nhwc(ctx, cs, g, act, x_layout, false, gate_in_weights, pool_in_rows));
  } else {
    KEEL_ASSIGN_OR_RETURN(conv, make_conv_nchw(ctx, cs, g, wg, act));
  }
  if (gated && !gate_in_weights) {
    conv = make_conv_gate_before(std::move(conv), ctx.input(ConvOperand::kX).shape, x_layout);
  }
  if (pooled && !pool_in_rows) {
    conv = make_conv_pool_after(std::move(conv), cs.batch, g.out_size(), cs.cout, layout);
  }
  return conv;
}

Result<std::unique_ptr<Kernel>> make_conv_nchw(PrepareContext& ctx, const ConvShapes& cs,
                                               const Geometry3& g, const WindowGeometry& wg,
                                               const ConvActivation& act) {
  bool unit = true;
  for (size_t i = 0; i < wg.rank(); ++i) {
    unit = unit && wg.kernel[i] == 1 && wg.strides[i] == 1 && wg.pads_begin[i] == 0 &&
           wg.pads_end[i] == 0;
  }
  ConvImpl impl = ConvImpl::kIm2col;
  if (cs.cin_g == 1 && cs.group > 1) {
    impl = ConvImpl::kDepthwise;
  } else if (unit) {
    impl = ConvImpl::k1x1;
  }
  auto kernel = std::make_unique<ConvKernel>(cs, g, impl, act);
  if (impl != ConvImpl::kDepthwise && ctx.input(ConvOperand::kW).value != nullptr) {
    if (!kernel->prepack(ctx.input(ConvOperand::kW).value->data_as<float>())) {
      return Status(StatusCode::kOutOfMemory, ctx.node.describe() + ": packing the weights");
    }
  }
  return std::unique_ptr<Kernel>(std::move(kernel));
}

// ConvTranspose: col[(co, k), i] = sum_ci W[ci, co, k] * X[ci, i], then col2im.
class ConvTransposeKernel final : public Kernel {
 public:
  ConvTransposeKernel(ConvShapes cs, Geometry3 g) : cs_(std::move(cs)), g_(g) {}
  const char* name() const override { return "conv_transpose_nchw_col2im"; }
  size_t scratch_bytes() const override {
    return static_cast<size_t>(cs_.cout_g * g_.k_size() * g_.in_size()) * sizeof(float);
  }
  void run(const KernelRun& r) const override {
    const float* x = r.in(0).as<float>();
    const float* w = r.in(1).as<float>();
    const float* bias = cs_.has_bias ? r.in(ConvOperand::kBias).as<float>() : nullptr;
    float* y = r.out(0).as<float>();
    float* col = static_cast<float*>(r.scratch);
    const int64_t isize = g_.in_size(), osize = g_.out_size();
    const int64_t rows = cs_.cout_g * g_.k_size();
    for (int64_t n = 0; n < cs_.batch; ++n) {
      for (int64_t gi = 0; gi < cs_.group; ++gi) {
        const float* xg = x + (n * cs_.cin + gi * cs_.cin_g) * isize;
        const float* wg = w + gi * cs_.cin_g * rows;
        sgemm(rows, isize, cs_.cin_g, wg, rows, true, xg, isize, false, col, isize, {});
        col2im(col, cs_.cout_g, g_, bias ? bias + gi * cs_.cout_g : nullptr,
               y + (n * cs_.cout + gi * cs_.cout_g) * osize);
      }
    }
  }

 private:
  ConvShapes cs_;
  Geometry3 g_;
};

Result<std::unique_ptr<Kernel>> make_conv_transpose(PrepareContext& ctx) {
  const Layout layout = node_layout(ctx.node);
  if (layout != Layout::kNchw) return ctx.unsupported_case("ConvTranspose in the NHWC layout");
  ConvShapes cs;
  KEEL_RETURN_IF_ERROR(check_conv_inputs(ctx, true, layout, cs));
  WindowGeometry wg;
  KEEL_RETURN_IF_ERROR(read_window(ctx, cs.in_spatial, cs.kernel, true, wg));
  const size_t nsp = wg.rank();
  std::vector<int64_t> out_pad, out_shape_attr;
  KEEL_ASSIGN_OR_RETURN(out_pad,
                        ctx.node.attr_ints("output_padding", std::vector<int64_t>(nsp, 0)));
  if (out_pad.size() != nsp) {
    return ctx.invalid("output_padding " + ints_to_string(out_pad) + " must have " +
                       std::to_string(nsp) + " entries");
  }
  for (size_t i = 0; i < nsp; ++i) {
    if (out_pad[i] < 0 || out_pad[i] >= std::max(wg.strides[i], wg.dilations[i])) {
      return ctx.invalid("output_padding " + ints_to_string(out_pad) +
                         " must be >= 0 and smaller than the stride or dilation");
    }
  }
  const bool has_output_shape = ctx.node.has_attribute("output_shape");
  if (has_output_shape) {
    KEEL_ASSIGN_OR_RETURN(out_shape_attr, ctx.node.attr_ints("output_shape"));
    // output_shape may include the N and C dims.
    if (out_shape_attr.size() == nsp + 2)
      out_shape_attr.erase(out_shape_attr.begin(), out_shape_attr.begin() + 2);
    if (out_shape_attr.size() != nsp) {
      return ctx.invalid("output_shape " + ints_to_string(out_shape_attr) + " must have " +
                         std::to_string(nsp) + " spatial entries");
    }
  }
  wg.out.assign(nsp, 0);
  for (size_t i = 0; i < nsp; ++i) {
    const int64_t dk = (wg.kernel[i] - 1) * wg.dilations[i] + 1;
    const int64_t full = wg.strides[i] * (wg.in[i] - 1) + out_pad[i] + dk;
    if (has_output_shape || wg.auto_pad == AutoPad::kSameUpper ||
        wg.auto_pad == AutoPad::kSameLower) {
      const int64_t target = has_output_shape ? out_shape_attr[i] : wg.in[i] * wg.strides[i];
      const int64_t total = full - target;
      if (target < 1) {
        return ctx.invalid("output_shape " + ints_to_string(out_shape_attr) + " has a value < 1");
      }
      if (total <= 0) {
        // A larger output than the full transposed conv: the extra positions (at the end)
        // receive no contribution, like output_padding.
        wg.pads_begin[i] = 0;
      } else if (wg.auto_pad == AutoPad::kSameUpper) {
        // ONNX: SAME_UPPER puts the odd pad at the end, every other mode at the start.
        wg.pads_begin[i] = total / 2;
      } else {
        wg.pads_begin[i] = total - total / 2;
      }
      wg.pads_end[i] = total - wg.pads_begin[i];
      wg.out[i] = target;
    } else {
      if (wg.auto_pad == AutoPad::kValid) wg.pads_begin[i] = wg.pads_end[i] = 0;
      wg.out[i] = full - wg.pads_begin[i] - wg.pads_end[i];
      if (wg.out[i] < 1) {
        return ctx.invalid("output size along spatial axis " + std::to_string(i) + " is " +
                           std::to_string(wg.out[i]));
      }
    }
  }
  Shape out_shape = {cs.batch, cs.cout};
  out_shape.insert(out_shape.end(), wg.out.begin(), wg.out.end());
  const Geometry3 g = to_geometry3(wg);
  KEEL_RETURN_IF_ERROR(check_sizes(ctx, {out_shape, {cs.cout_g, g.k_size(), g.in_size()}}));
  ctx.set_output(0, DataType::kFloat32, out_shape);
  return std::unique_ptr<Kernel>(std::make_unique<ConvTransposeKernel>(cs, g));
}

}  // namespace

void register_conv_kernels(KernelRegistry& r) {
  r.add("Conv", &make_conv, 1);
  r.add(kFusedConv, &make_conv, 1, kNewestVettedOpset, kKeelDomain);
  r.add("ConvTranspose", &make_conv_transpose, 1);
}

}  // namespace keel
