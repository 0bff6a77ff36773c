#include "kernels/window_geometry.hpp"

#include <algorithm>
#include <limits>

namespace keel {
namespace {

// Window reach (k - 1) * d + 1 without overflow; nullopt-like -1 on overflow.
int64_t effective_kernel(int64_t k, int64_t d) {
  if (k > 0 && d > (std::numeric_limits<int32_t>::max() / k)) return -1;
  return (k - 1) * d + 1;
}

int64_t floor_div(int64_t a, int64_t b) {
  int64_t q = a / b;
  if ((a % b != 0) && ((a < 0) != (b < 0))) --q;
  return q;
}

}  // namespace

std::string ints_to_string(const std::vector<int64_t>& v) {
  std::string s = "[";
  for (size_t i = 0; i < v.size(); ++i) s += (i ? "," : "") + std::to_string(v[i]);
  return s + "]";
}

Result<AutoPad> read_auto_pad(const PrepareContext& ctx) {
  KEEL_ASSIGN_OR_RETURN(std::string s, ctx.node.attr_string("auto_pad", "NOTSET"));
  if (s == "NOTSET") return AutoPad::kNotSet;
  if (s == "SAME_UPPER") return AutoPad::kSameUpper;
  if (s == "SAME_LOWER") return AutoPad::kSameLower;
  if (s == "VALID") return AutoPad::kValid;
  return ctx.invalid("auto_pad '" + s + "' is not NOTSET, SAME_UPPER, SAME_LOWER or VALID");
}

Status read_kernel_shape(const PrepareContext& ctx, size_t rank, bool required,
                         std::vector<int64_t>& kernel, bool& present) {
  present = ctx.node.has_attribute("kernel_shape");
  if (!present) {
    if (required) return ctx.invalid("attribute kernel_shape is required");
    return Status::ok();
  }
  KEEL_ASSIGN_OR_RETURN(kernel, ctx.node.attr_ints("kernel_shape"));
  if (kernel.size() != rank) {
    return ctx.invalid("kernel_shape " + ints_to_string(kernel) + " has " +
                       std::to_string(kernel.size()) + " entries, expected " +
                       std::to_string(rank) + " (the input's spatial rank)");
  }
  for (int64_t k : kernel) {
    if (k < 1) return ctx.invalid("kernel_shape " + ints_to_string(kernel) + " has a value < 1");
  }
  return Status::ok();
}

Status read_window(const PrepareContext& ctx, const std::vector<int64_t>& in,
                   const std::vector<int64_t>& kernel, bool dilations_allowed, WindowGeometry& g) {
  const size_t n = in.size();
  g.in = in;
  g.kernel = kernel;
  KEEL_ASSIGN_OR_RETURN(g.auto_pad, read_auto_pad(ctx));
  KEEL_ASSIGN_OR_RETURN(g.strides, ctx.node.attr_ints("strides", std::vector<int64_t>(n, 1)));
  if (g.strides.size() != n) {
    return ctx.invalid("strides " + ints_to_string(g.strides) + " must have " + std::to_string(n) +
                       " entries");
  }
  for (int64_t s : g.strides) {
    if (s < 1) return ctx.invalid("strides " + ints_to_string(g.strides) + " has a value < 1");
  }
  g.dilations.assign(n, 1);
  if (ctx.node.has_attribute("dilations")) {
    KEEL_ASSIGN_OR_RETURN(g.dilations, ctx.node.attr_ints("dilations"));
    if (!dilations_allowed) {
      bool all_one =
          std::all_of(g.dilations.begin(), g.dilations.end(), [](int64_t d) { return d == 1; });
      if (!all_one) return ctx.invalid("dilations are not defined at this opset");
    }
    if (g.dilations.size() != n) {
      return ctx.invalid("dilations " + ints_to_string(g.dilations) + " must have " +
                         std::to_string(n) + " entries");
    }
    for (int64_t d : g.dilations) {
      if (d < 1)
        return ctx.invalid("dilations " + ints_to_string(g.dilations) + " has a value < 1");
    }
  }
  std::vector<int64_t> pads;
  KEEL_ASSIGN_OR_RETURN(pads, ctx.node.attr_ints("pads", std::vector<int64_t>(2 * n, 0)));
  if (pads.size() != 2 * n) {
    return ctx.invalid("pads " + ints_to_string(pads) + " must have " + std::to_string(2 * n) +
                       " entries");
  }
  for (int64_t p : pads) {
    if (p < 0 || p > std::numeric_limits<int32_t>::max()) {
      return ctx.invalid("pads " + ints_to_string(pads) + " has a negative or huge value");
    }
  }
  if (g.auto_pad != AutoPad::kNotSet && ctx.node.has_attribute("pads") &&
      std::any_of(pads.begin(), pads.end(), [](int64_t p) { return p != 0; })) {
    return ctx.invalid("pads and auto_pad cannot both be set");
  }
  g.pads_begin.assign(pads.begin(), pads.begin() + static_cast<int64_t>(n));
  g.pads_end.assign(pads.begin() + static_cast<int64_t>(n), pads.end());
  for (size_t i = 0; i < n; ++i) {
    if (effective_kernel(kernel[i], g.dilations[i]) < 0) {
      return ctx.invalid("kernel_shape x dilations is too large");
    }
  }
  return Status::ok();
}

Status compute_forward_output(const PrepareContext& ctx, bool ceil_mode, WindowGeometry& g) {
  const size_t n = g.rank();
  g.out.assign(n, 0);
  for (size_t i = 0; i < n; ++i) {
    const int64_t in = g.in[i], s = g.strides[i];
    const int64_t dk = effective_kernel(g.kernel[i], g.dilations[i]);
    int64_t out = 0;
    switch (g.auto_pad) {
      case AutoPad::kSameUpper:
      case AutoPad::kSameLower: {
        out = (in + s - 1) / s;
        const int64_t total = std::max<int64_t>(0, (out - 1) * s + dk - in);
        const int64_t small = total / 2;
        g.pads_begin[i] = g.auto_pad == AutoPad::kSameUpper ? small : total - small;
        g.pads_end[i] = total - g.pads_begin[i];
        break;
      }
      case AutoPad::kValid: g.pads_begin[i] = g.pads_end[i] = 0; [[fallthrough]];
      case AutoPad::kNotSet: {
        const int64_t span = in + g.pads_begin[i] + g.pads_end[i] - dk;
        if (span < 0) {
          return ctx.invalid("window " + std::to_string(dk) + " is larger than the padded input " +
                             std::to_string(in + g.pads_begin[i] + g.pads_end[i]) +
                             " along spatial axis " + std::to_string(i));
        }
        out = (ceil_mode ? (span + s - 1) / s : span / s) + 1;
        // The last window must start inside the input or its left padding.
        if (ceil_mode && (out - 1) * s >= in + g.pads_begin[i]) --out;
        break;
      }
    }
    if (out < 1) {
      return ctx.invalid("output size along spatial axis " + std::to_string(i) + " is " +
                         std::to_string(out) + " (input " + ints_to_string(g.in) + ")");
    }
    g.out[i] = out;
  }
  return Status::ok();
}

void valid_output_range(int64_t offset, int64_t stride, int64_t in, int64_t out, int64_t& lo,
                        int64_t& hi) {
  // o * stride + offset >= 0  <=>  o >= ceil(-offset / stride)
  lo = std::max<int64_t>(0, -floor_div(offset, stride));
  // o * stride + offset <= in - 1  <=>  o <= floor((in - 1 - offset) / stride)
  hi = std::min<int64_t>(out, floor_div(in - 1 - offset, stride) + 1);
  if (hi < lo) hi = lo;
}

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
    r.pe[off + i] = g.pads_end[i];
  }
  return r;
}

Status check_sizes(const PrepareContext& ctx, const std::vector<Shape>& shapes) {
  for (const Shape& s : shapes) {
    if (!checked_numel(s) || *checked_numel(s) > (int64_t{1} << 40)) {
      return ctx.invalid("tensor of shape " + shape_to_string(s) + " is too large");
    }
  }
  return Status::ok();
}

}  // namespace keel
