// ConvTranspose, float32, NCHW, 1-D to 3-D spatial: W_g^T x X_g (GEMM) into scratch, then
// scattered into Y (col2im).
#include <algorithm>
#include <memory>
#include <vector>

#include "exec/parallel.hpp"
#include "kernels/conv/conv_descriptor.hpp"
#include "kernels/registry.hpp"
#include "ukernels/sgemm.hpp"

namespace keel {
namespace {

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

void register_conv_transpose_kernels(KernelRegistry& r) {
  r.add("ConvTranspose", &make_conv_transpose, 1);
}

}  // namespace keel
