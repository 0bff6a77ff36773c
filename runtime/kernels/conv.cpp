// Conv and ConvTranspose, float32, NCHW, 1-D to 3-D spatial.
//
// Every spatial rank runs as 3-D (missing leading dims have size 1, stride 1, no padding).
// Conv picks one implementation at plan time:
//   conv_nchw_1x1      unit kernel, stride 1, no padding: Y_g = W_g x X_g directly (GEMM)
//   conv_nchw_depthwise one input channel per group: direct loop over output rows
//   conv_nchw_im2col   anything else: im2col into scratch, then GEMM
// ConvTranspose runs W_g^T x X_g (GEMM) into scratch, then scatters it (col2im).
// Constant weights are packed for the GEMM once, here.
#include <algorithm>
#include <array>
#include <cstring>
#include <memory>
#include <vector>

#include "exec/parallel.hpp"
#include "kernels/conv_params.hpp"
#include "kernels/registry.hpp"
#include "ukernels/sgemm.hpp"

namespace keel {
namespace {

constexpr int kMaxSpatial = 3;

// Geometry padded to 3 spatial dims (leading dims of size 1).
struct Geometry3 {
  std::array<int64_t, 3> in{1, 1, 1}, out{1, 1, 1}, k{1, 1, 1}, s{1, 1, 1}, d{1, 1, 1}, pb{0, 0, 0};
  int64_t in_size() const { return in[0] * in[1] * in[2]; }
  int64_t out_size() const { return out[0] * out[1] * out[2]; }
  int64_t k_size() const { return k[0] * k[1] * k[2]; }
};

Geometry3 to_geometry3(const WindowGeometry& g) {
  Geometry3 r;
  const size_t off = kMaxSpatial - g.rank();
  for (size_t i = 0; i < g.rank(); ++i) {
    r.in[off + i] = g.in[i];
    r.out[off + i] = g.out[i];
    r.k[off + i] = g.kernel[i];
    r.s[off + i] = g.strides[i];
    r.d[off + i] = g.dilations[i];
    r.pb[off + i] = g.pads_begin[i];
  }
  return r;
}

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

// Shared validation of X, W, B, group for Conv and ConvTranspose.
struct ConvShapes {
  int64_t batch = 0, cin = 0, cout = 0, group = 1, cin_g = 0, cout_g = 0;
  std::vector<int64_t> in_spatial, kernel;
  bool has_bias = false;
};

Status check_conv_inputs(PrepareContext& ctx, bool transpose, ConvShapes& cs) {
  if (ctx.num_inputs() < 2 || ctx.num_inputs() > 3) {
    return ctx.invalid("expected 2 or 3 inputs, got " + std::to_string(ctx.num_inputs()));
  }
  KEEL_RETURN_IF_ERROR(ctx.check_input(0, {DataType::kFloat32}, 3, 64));
  KEEL_RETURN_IF_ERROR(ctx.check_input(1, {DataType::kFloat32}, 3, 64));
  const Shape& x = ctx.input(0).shape;
  const Shape& w = ctx.input(1).shape;
  if (w.size() != x.size()) {
    return ctx.invalid("W " + shape_to_string(w) + " and X " + shape_to_string(x) +
                       " must have the same rank");
  }
  const size_t nsp = x.size() - 2;
  if (nsp > kMaxSpatial) {
    return ctx.unsupported_case(std::to_string(nsp) + "-D convolution (at most 3-D supported)");
  }
  KEEL_ASSIGN_OR_RETURN(cs.group, ctx.node.attr_int("group", 1));
  if (cs.group < 1) return ctx.invalid("group " + std::to_string(cs.group) + " must be >= 1");
  cs.batch = x[0];
  cs.cin = x[1];
  if (cs.cin % cs.group != 0) {
    return ctx.invalid("X has " + std::to_string(cs.cin) + " channels, not divisible by group " +
                       std::to_string(cs.group));
  }
  cs.cin_g = cs.cin / cs.group;
  if (!transpose) {
    if (w[0] % cs.group != 0 || w[1] != cs.cin_g) {
      return ctx.invalid("W " + shape_to_string(w) + " does not match X " + shape_to_string(x) +
                         " with group " + std::to_string(cs.group) +
                         " (expected W[1] = C/group and W[0] divisible by group)");
    }
    cs.cout = w[0];
    cs.cout_g = w[0] / cs.group;
  } else {
    if (w[0] != cs.cin) {
      return ctx.invalid("W " + shape_to_string(w) + " must have X's channel count " +
                         std::to_string(cs.cin) + " as its first dim");
    }
    cs.cout_g = w[1];
    cs.cout = w[1] * cs.group;
  }
  cs.in_spatial.assign(x.begin() + 2, x.end());
  cs.kernel.assign(w.begin() + 2, w.end());
  for (int64_t v : cs.in_spatial) {
    if (v < 1) return ctx.unsupported_case("empty spatial input " + shape_to_string(x));
  }
  for (int64_t v : cs.kernel) {
    if (v < 1) return ctx.invalid("W " + shape_to_string(w) + " has an empty kernel dim");
  }
  if (cs.cout < 1 || cs.batch < 0) return ctx.invalid("empty W " + shape_to_string(w));
  std::vector<int64_t> attr_kernel;
  bool has_kernel_attr = false;
  KEEL_RETURN_IF_ERROR(read_kernel_shape(ctx, nsp, false, attr_kernel, has_kernel_attr));
  if (has_kernel_attr && attr_kernel != cs.kernel) {
    return ctx.invalid("kernel_shape " + ints_to_string(attr_kernel) +
                       " does not match W's spatial dims " + ints_to_string(cs.kernel));
  }
  cs.has_bias = ctx.has_input(2);
  if (cs.has_bias) {
    KEEL_RETURN_IF_ERROR(ctx.check_input(2, {DataType::kFloat32}, 1, 1));
    if (ctx.input(2).shape[0] != cs.cout) {
      return ctx.invalid("B " + shape_to_string(ctx.input(2).shape) + " must have " +
                         std::to_string(cs.cout) + " values (output channels)");
    }
  }
  return Status::ok();
}

enum class ConvImpl { k1x1, kDepthwise, kIm2col };

class ConvKernel final : public Kernel {
 public:
  ConvKernel(ConvShapes cs, Geometry3 g, ConvImpl impl)
      : cs_(std::move(cs)), g_(g), impl_(impl), uk_(sgemm_ukernels_active()) {}

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
    const float* bias = cs_.has_bias ? r.in(2).as<float>() : nullptr;
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
          }
        }
      }
    });
  }

  ConvShapes cs_;
  Geometry3 g_;
  ConvImpl impl_;
  const SgemmUkernels* uk_;
  std::vector<SgemmPackedA> packed_;
};

Status check_sizes(const PrepareContext& ctx, const std::vector<Shape>& shapes) {
  for (const Shape& s : shapes) {
    if (!checked_numel(s) || *checked_numel(s) > (int64_t{1} << 40)) {
      return ctx.invalid("tensor of shape " + shape_to_string(s) + " is too large");
    }
  }
  return Status::ok();
}

Result<std::unique_ptr<Kernel>> make_conv(PrepareContext& ctx) {
  ConvShapes cs;
  KEEL_RETURN_IF_ERROR(check_conv_inputs(ctx, false, cs));
  WindowGeometry wg;
  KEEL_RETURN_IF_ERROR(read_window(ctx, cs.in_spatial, cs.kernel, true, wg));
  KEEL_RETURN_IF_ERROR(compute_forward_output(ctx, false, wg));
  Shape out_shape = {cs.batch, cs.cout};
  out_shape.insert(out_shape.end(), wg.out.begin(), wg.out.end());
  const Geometry3 g = to_geometry3(wg);
  KEEL_RETURN_IF_ERROR(check_sizes(ctx, {out_shape, {cs.cin_g, g.k_size(), g.out_size()}}));
  ctx.set_output(0, DataType::kFloat32, out_shape);

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
  auto kernel = std::make_unique<ConvKernel>(cs, g, impl);
  if (impl != ConvImpl::kDepthwise && ctx.input(1).value != nullptr) {
    if (!kernel->prepack(ctx.input(1).value->data_as<float>())) {
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
    const float* bias = cs_.has_bias ? r.in(2).as<float>() : nullptr;
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
  ConvShapes cs;
  KEEL_RETURN_IF_ERROR(check_conv_inputs(ctx, true, cs));
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
  r.add("ConvTranspose", &make_conv_transpose, 1);
}

}  // namespace keel
