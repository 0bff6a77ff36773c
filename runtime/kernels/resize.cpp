// Resize (opsets 10-19+) and Upsample (7-9): nearest, N-d linear and cubic interpolation,
// every ONNX coordinate transformation, antialias, axes and keep_aspect_ratio_policy.
//
// The per-dim interpolation taps (input offsets and weights) are computed at plan time from
// the ONNX math in ref/resize_ref.*; run() only applies them. Dims whose mapping is the
// identity (N and C of an NCHW image) are not interpolated, so the output is computed row by
// row along the last resized dim, parallel over rows. Linear and cubic need float32; nearest
// moves elements of any dtype.
#include <algorithm>
#include <cmath>
#include <cstring>
#include <set>

#include "core/memory_budget.hpp"
#include "exec/parallel.hpp"
#include "kernels/plan_values.hpp"
#include "kernels/registry.hpp"
#include "ref/resize_ref.hpp"

namespace keel {
namespace {

using KernelResult = Result<std::unique_ptr<Kernel>>;

// Taps of one dim for every output coordinate: `taps` entries per coordinate.
struct AxisTable {
  int64_t taps = 0;             // 0: identity dim
  std::vector<int64_t> offset;  // input index * input stride (elements)
  std::vector<float> weight;
  std::vector<uint8_t> extrapolate;
};

class ResizeKernel final : public Kernel {
 public:
  ResizeKernel(const ResizeParams& p, size_t elem_size, bool interpolate, const std::byte* fill)
      : es_(elem_size), interpolate_(interpolate), out_(p.out_shape) {
    std::memcpy(fill_, fill, elem_size);
    const std::vector<int64_t> strides = contiguous_strides(p.in_shape);
    in_strides_ = strides;
    const size_t rank = out_.size();
    tables_.resize(rank);
    last_ = -1;
    for (size_t d = 0; d < rank; ++d) {
      if (resize_axis_is_identity(p, d)) continue;
      last_ = static_cast<int64_t>(d);
      AxisTable& t = tables_[d];
      for (int64_t y = 0; y < out_[d]; ++y) {
        ResizeTaps taps = resize_taps(p, d, y);
        // Nearest keeps one tap; linear/cubic pad every coordinate to the widest tap count.
        t.taps = std::max<int64_t>(t.taps, static_cast<int64_t>(taps.index.size()));
      }
      for (int64_t y = 0; y < out_[d]; ++y) {
        ResizeTaps taps = resize_taps(p, d, y);
        for (int64_t k = 0; k < t.taps; ++k) {
          const bool real = k < static_cast<int64_t>(taps.index.size());
          t.offset.push_back(real ? taps.index[static_cast<size_t>(k)] * strides[d] : 0);
          t.weight.push_back(real ? static_cast<float>(taps.weight[static_cast<size_t>(k)]) : 0.0f);
        }
        t.extrapolate.push_back(taps.extrapolate ? 1 : 0);
      }
    }
    inner_ = 1;
    for (size_t d = static_cast<size_t>(last_ + 1); d < rank; ++d) inner_ *= out_[d];
  }

  void run(const KernelRun& r) const override {
    const auto* src = static_cast<const std::byte*>(r.in(0).data);
    auto* dst = static_cast<std::byte*>(r.out(0).data);
    const int64_t total = numel(out_);
    if (total == 0) return;
    if (last_ < 0) {  // every dim is the identity
      std::memcpy(dst, src, static_cast<size_t>(total) * es_);
      return;
    }
    const auto L = static_cast<size_t>(last_);
    const int64_t width = out_[L];
    int64_t rows = 1;
    for (size_t d = 0; d < L; ++d) rows *= out_[d];
    const int64_t cost = width * inner_ * std::max<int64_t>(tables_[L].taps, 1) * 2;
    parallel_for(rows, cost, [&](int64_t begin, int64_t end) {
      std::vector<int64_t> combo_off;
      std::vector<float> combo_w;
      std::vector<int64_t> next_off;
      std::vector<float> next_w;
      for (int64_t row = begin; row < end; ++row) {
        combo_off.assign(1, 0);
        combo_w.assign(1, 1.0f);
        bool extrapolate = false;
        int64_t rem = row;
        // Dims [0, L) of this row, innermost first.
        for (size_t d = L; d-- > 0;) {
          const int64_t c = rem % out_[d];
          rem /= out_[d];
          const AxisTable& t = tables_[d];
          if (t.taps == 0) {
            for (int64_t& o : combo_off) o += c * in_strides_[d];
            continue;
          }
          if (t.extrapolate[static_cast<size_t>(c)]) extrapolate = true;
          next_off.clear();
          next_w.clear();
          for (size_t k = 0; k < combo_off.size(); ++k) {
            for (int64_t j = 0; j < t.taps; ++j) {
              const float w = t.weight[static_cast<size_t>(c * t.taps + j)];
              if (w == 0.0f) continue;
              next_off.push_back(combo_off[k] + t.offset[static_cast<size_t>(c * t.taps + j)]);
              next_w.push_back(combo_w[k] * w);
            }
          }
          combo_off.swap(next_off);
          combo_w.swap(next_w);
        }
        std::byte* out_row = dst + row * width * inner_ * static_cast<int64_t>(es_);
        if (extrapolate) {
          fill(out_row, width * inner_);
          continue;
        }
        if (interpolate_) {
          interpolate_row(reinterpret_cast<const float*>(src), combo_off, combo_w,
                          reinterpret_cast<float*>(out_row));
        } else {
          nearest_row(src, combo_off[0], out_row);
        }
      }
    });
  }

  const char* name() const override {
    return interpolate_ ? "resize_interpolate" : "resize_nearest";
  }

 private:
  void fill(std::byte* d, int64_t n) const {
    for (int64_t i = 0; i < n; ++i) std::memcpy(d + i * static_cast<int64_t>(es_), fill_, es_);
  }

  template <typename U>
  static void gather(const U* src, const int64_t* offset, int64_t n, U* dst) {
    for (int64_t x = 0; x < n; ++x) dst[x] = src[offset[x]];
  }

  void nearest_row(const std::byte* src, int64_t base, std::byte* out) const {
    const AxisTable& t = tables_[static_cast<size_t>(last_)];
    const int64_t width = out_[static_cast<size_t>(last_)];
    const auto es = static_cast<int64_t>(es_);
    const std::byte* s = src + base * es;
    if (inner_ == 1 && !has_extrapolation(t)) {
      switch (es_) {
        case 1:
          gather(reinterpret_cast<const uint8_t*>(s), t.offset.data(), width,
                 reinterpret_cast<uint8_t*>(out));
          return;
        case 2:
          gather(reinterpret_cast<const uint16_t*>(s), t.offset.data(), width,
                 reinterpret_cast<uint16_t*>(out));
          return;
        case 4:
          gather(reinterpret_cast<const uint32_t*>(s), t.offset.data(), width,
                 reinterpret_cast<uint32_t*>(out));
          return;
        case 8:
          gather(reinterpret_cast<const uint64_t*>(s), t.offset.data(), width,
                 reinterpret_cast<uint64_t*>(out));
          return;
        default: break;
      }
    }
    for (int64_t x = 0; x < width; ++x) {
      std::byte* d = out + x * inner_ * es;
      if (t.extrapolate[static_cast<size_t>(x)]) {
        fill(d, inner_);
      } else {
        std::memcpy(d, s + t.offset[static_cast<size_t>(x)] * es, static_cast<size_t>(inner_ * es));
      }
    }
  }

  static bool has_extrapolation(const AxisTable& t) {
    return std::find(t.extrapolate.begin(), t.extrapolate.end(), 1) != t.extrapolate.end();
  }

  void interpolate_row(const float* src, const std::vector<int64_t>& combo_off,
                       const std::vector<float>& combo_w, float* out) const {
    const AxisTable& t = tables_[static_cast<size_t>(last_)];
    const int64_t width = out_[static_cast<size_t>(last_)];
    const int64_t taps = t.taps;
    float fill_value;
    std::memcpy(&fill_value, fill_, sizeof(float));
    if (inner_ == 1) {
      for (int64_t x = 0; x < width; ++x) {
        if (t.extrapolate[static_cast<size_t>(x)]) {
          out[x] = fill_value;
          continue;
        }
        const int64_t* off = t.offset.data() + x * taps;
        const float* w = t.weight.data() + x * taps;
        float acc = 0.0f;
        for (size_t c = 0; c < combo_off.size(); ++c) {
          const float* s = src + combo_off[c];
          float h = 0.0f;
          for (int64_t k = 0; k < taps; ++k) h += w[k] * s[off[k]];
          acc += combo_w[c] * h;
        }
        out[x] = acc;
      }
      return;
    }
    // Identity dims after the last resized one: contiguous blocks of inner_ elements.
    for (int64_t x = 0; x < width; ++x) {
      float* o = out + x * inner_;
      if (t.extrapolate[static_cast<size_t>(x)]) {
        std::fill(o, o + inner_, fill_value);
        continue;
      }
      std::fill(o, o + inner_, 0.0f);
      for (size_t c = 0; c < combo_off.size(); ++c) {
        for (int64_t k = 0; k < taps; ++k) {
          const float w = combo_w[c] * t.weight[static_cast<size_t>(x * taps + k)];
          if (w == 0.0f) continue;
          const float* s = src + combo_off[c] + t.offset[static_cast<size_t>(x * taps + k)];
          for (int64_t j = 0; j < inner_; ++j) o[j] += w * s[j];
        }
      }
    }
  }

  size_t es_;
  bool interpolate_;
  Shape out_;
  std::vector<int64_t> in_strides_;
  std::vector<AxisTable> tables_;
  int64_t last_ = -1;
  int64_t inner_ = 1;
  std::byte fill_[8] = {};
};

Result<std::vector<double>> known_floats(PrepareContext& ctx, size_t i, const char* what) {
  const Tensor* t = ctx.require_value(i);
  if (!t) return ctx.require_value_status(i);
  if (t->rank() != 1) {
    return ctx.invalid(std::string(what) + " must be a 1-D tensor, found shape " +
                       shape_to_string(t->shape()));
  }
  auto v = read_float_values(*t);
  if (!v)
    return ctx.invalid(std::string(what) + " must be a float tensor, found " +
                       dtype_name(t->dtype()));
  return std::move(*v);
}

// Validates the element count of the dims it would hold and builds the kernel.
KernelResult finish(PrepareContext& ctx, ResizeParams& p) {
  const DataType dtype = ctx.input(0).dtype;
  for (size_t d = 0; d < p.in_shape.size(); ++d) {
    if (p.out_shape[d] < 0 || p.out_shape[d] > (int64_t{1} << 40)) {
      return ctx.invalid("output size " + std::to_string(p.out_shape[d]) + " of dim " +
                         std::to_string(d) + " is out of range");
    }
    if (p.in_shape[d] == 0 && p.out_shape[d] > 0) {
      return ctx.invalid("cannot resize dim " + std::to_string(d) + " of size 0 to " +
                         std::to_string(p.out_shape[d]));
    }
  }
  const auto out_numel = checked_numel(p.out_shape);
  if (!out_numel) return ctx.invalid("output shape overflows");
  // The tap tables take time per output coordinate: refuse an output that could never be
  // allocated before building them (scales of 1e11 would spin for hours).
  const size_t esize = std::max<size_t>(dtype_size(dtype), 1);
  if (static_cast<uint64_t>(*out_numel) > (uint64_t{1} << 46) / esize ||
      !memory_budget_allows(static_cast<size_t>(*out_numel) * esize)) {
    return Status(StatusCode::kOutOfMemory,
                  ctx.node.describe() + ": output " + shape_to_string(p.out_shape) +
                      " is larger than the memory this model may use (max_memory_bytes)");
  }
  const bool interpolate = p.mode != ResizeMode::kNearest;
  if (interpolate && dtype != DataType::kFloat32) {
    return ctx.unsupported_case(std::string(p.mode == ResizeMode::kLinear ? "linear" : "cubic") +
                                " resize of " + dtype_name(dtype) + " data (supported: float32)");
  }
  std::byte fill[8] = {};
  encode_scalar(p.extrapolation_value, dtype, fill);
  ctx.set_output(0, dtype, p.out_shape);
  if (numel(p.in_shape) == 0 || *out_numel == 0) {
    return std::unique_ptr<Kernel>(std::make_unique<NoOpKernel>());
  }
  return std::unique_ptr<Kernel>(
      std::make_unique<ResizeKernel>(p, dtype_size(dtype), interpolate, fill));
}

Status check_scales(PrepareContext& ctx, const std::vector<double>& scales) {
  for (double s : scales) {
    if (!(s > 0.0) || !std::isfinite(s)) {
      return ctx.invalid("scales must be positive and finite, found " + std::to_string(s));
    }
  }
  return Status::ok();
}

KernelResult make_resize(PrepareContext& ctx) {
  if (!ctx.has_input(0)) return ctx.invalid("input 0 is required but missing");
  if (!dtype_is_supported(ctx.input(0).dtype)) {
    return ctx.unsupported_case("input type " + dtype_name(ctx.input(0).dtype));
  }
  ResizeParams p;
  p.in_shape = ctx.input(0).shape;
  const auto rank = static_cast<int64_t>(p.in_shape.size());
  const auto r = static_cast<size_t>(rank);
  const int opset = ctx.opset();
  const Node& node = ctx.node;

  KEEL_ASSIGN_OR_RETURN(std::string mode, node.attr_string("mode", "nearest"));
  if (mode == "nearest") {
    p.mode = ResizeMode::kNearest;
  } else if (mode == "linear") {
    p.mode = ResizeMode::kLinear;
  } else if (mode == "cubic" && opset >= 11) {
    p.mode = ResizeMode::kCubic;
  } else {
    return ctx.invalid("unknown mode '" + mode + "'");
  }

  std::vector<int64_t> axes;
  size_t scales_slot = 1, sizes_slot = 0;
  if (opset < 11) {
    p.coordinate = ResizeCoordinate::kAsymmetric;
    p.rounding = NearestRounding::kLegacy;
  } else {
    scales_slot = 2;
    sizes_slot = 3;
    KEEL_ASSIGN_OR_RETURN(std::string ctm,
                          node.attr_string("coordinate_transformation_mode", "half_pixel"));
    if (ctm == "half_pixel") {
      p.coordinate = ResizeCoordinate::kHalfPixel;
    } else if (ctm == "half_pixel_symmetric") {
      p.coordinate = ResizeCoordinate::kHalfPixelSymmetric;
    } else if (ctm == "pytorch_half_pixel") {
      p.coordinate = ResizeCoordinate::kPytorchHalfPixel;
    } else if (ctm == "align_corners") {
      p.coordinate = ResizeCoordinate::kAlignCorners;
    } else if (ctm == "asymmetric") {
      p.coordinate = ResizeCoordinate::kAsymmetric;
    } else if (ctm == "tf_crop_and_resize") {
      p.coordinate = ResizeCoordinate::kTfCropAndResize;
    } else if (ctm == "tf_half_pixel_for_nn" && opset < 13) {
      return ctx.unsupported_case("coordinate_transformation_mode 'tf_half_pixel_for_nn'");
    } else {
      return ctx.invalid("unknown coordinate_transformation_mode '" + ctm + "'");
    }
    KEEL_ASSIGN_OR_RETURN(std::string nm, node.attr_string("nearest_mode", "round_prefer_floor"));
    if (nm == "round_prefer_floor") {
      p.rounding = NearestRounding::kRoundPreferFloor;
    } else if (nm == "round_prefer_ceil") {
      p.rounding = NearestRounding::kRoundPreferCeil;
    } else if (nm == "floor") {
      p.rounding = NearestRounding::kFloor;
    } else if (nm == "ceil") {
      p.rounding = NearestRounding::kCeil;
    } else {
      return ctx.invalid("unknown nearest_mode '" + nm + "'");
    }
    KEEL_ASSIGN_OR_RETURN(float a, node.attr_float("cubic_coeff_a", -0.75f));
    p.cubic_a = a;
    KEEL_ASSIGN_OR_RETURN(int64_t excl, node.attr_int("exclude_outside", 0));
    p.exclude_outside = excl != 0;
    KEEL_ASSIGN_OR_RETURN(float ev, node.attr_float("extrapolation_value", 0.0f));
    p.extrapolation_value = ev;
    if (opset >= 18) {
      KEEL_ASSIGN_OR_RETURN(int64_t aa, node.attr_int("antialias", 0));
      p.antialias = aa != 0 && p.mode != ResizeMode::kNearest;
      if (node.has_attribute("axes")) {
        KEEL_ASSIGN_OR_RETURN(std::vector<int64_t> raw, node.attr_ints("axes"));
        std::set<int64_t> seen;
        for (int64_t a2 : raw) {
          auto n = normalize_axis(a2, rank);
          if (!n || !seen.insert(*n).second) {
            return ctx.invalid("axes " + shape_to_string(raw) + " are out of range or repeated");
          }
          axes.push_back(*n);
        }
      }
    }
  }
  if (axes.empty()) {
    for (int64_t d = 0; d < rank; ++d) axes.push_back(d);
  }
  const size_t na = axes.size();

  p.scales.assign(r, 1.0);
  p.roi_start.assign(r, 0.0);
  p.roi_end.assign(r, 1.0);
  p.out_shape = p.in_shape;

  const bool have_sizes =
      sizes_slot != 0 && ctx.has_input(sizes_slot) && numel(ctx.input(sizes_slot).shape) > 0;
  const bool have_scales = ctx.has_input(scales_slot) && numel(ctx.input(scales_slot).shape) > 0;
  if (have_sizes == have_scales) {
    return ctx.invalid("exactly one of 'scales' and 'sizes' must be given");
  }
  if (have_scales) {
    KEEL_ASSIGN_OR_RETURN(std::vector<double> scales, known_floats(ctx, scales_slot, "scales"));
    if (scales.size() != na) {
      return ctx.invalid("scales has " + std::to_string(scales.size()) + " entries, expected " +
                         std::to_string(na));
    }
    KEEL_RETURN_IF_ERROR(check_scales(ctx, scales));
    for (size_t i = 0; i < na; ++i) {
      const auto d = static_cast<size_t>(axes[i]);
      p.scales[d] = scales[i];
      const double o = std::floor(scales[i] * static_cast<double>(p.in_shape[d]));
      if (o > 1e12) return ctx.invalid("scale " + std::to_string(scales[i]) + " is too large");
      p.out_shape[d] = static_cast<int64_t>(o);
    }
  } else {
    const Tensor* t = ctx.require_value(sizes_slot);
    if (!t) return ctx.require_value_status(sizes_slot);
    auto sizes = read_int_values(*t);
    if (!sizes || t->rank() != 1) return ctx.invalid("sizes must be a 1-D int64 tensor");
    if (sizes->size() != na) {
      return ctx.invalid("sizes has " + std::to_string(sizes->size()) + " entries, expected " +
                         std::to_string(na));
    }
    KEEL_ASSIGN_OR_RETURN(std::string policy,
                          node.attr_string("keep_aspect_ratio_policy", "stretch"));
    if (opset < 18) policy = "stretch";
    for (size_t i = 0; i < na; ++i) {
      const auto d = static_cast<size_t>(axes[i]);
      const int64_t s = (*sizes)[i];
      if (s < 0) return ctx.invalid("sizes has a negative entry");
      if (p.in_shape[d] == 0) {
        if (s != 0) return ctx.invalid("cannot resize an empty dim to " + std::to_string(s));
        continue;
      }
      p.out_shape[d] = s;
      p.scales[d] = static_cast<double>(s) / static_cast<double>(p.in_shape[d]);
    }
    if (policy != "stretch") {
      if (policy != "not_larger" && policy != "not_smaller") {
        return ctx.invalid("unknown keep_aspect_ratio_policy '" + policy + "'");
      }
      double scale = policy == "not_larger" ? INFINITY : 0.0;
      for (int64_t a : axes) {
        const double s = p.scales[static_cast<size_t>(a)];
        scale = policy == "not_larger" ? std::min(scale, s) : std::max(scale, s);
      }
      for (int64_t a : axes) {
        const auto d = static_cast<size_t>(a);
        p.scales[d] = scale;
        p.out_shape[d] = static_cast<int64_t>(scale * static_cast<double>(p.in_shape[d]) + 0.5);
      }
    }
    for (double s : p.scales) {
      if (!(s > 0.0)) return ctx.invalid("sizes must be positive");
    }
  }

  if (p.coordinate == ResizeCoordinate::kTfCropAndResize) {
    if (!ctx.has_input(1)) return ctx.invalid("tf_crop_and_resize needs the roi input");
    KEEL_ASSIGN_OR_RETURN(std::vector<double> roi, known_floats(ctx, 1, "roi"));
    if (roi.size() != 2 * na) {
      return ctx.invalid("roi has " + std::to_string(roi.size()) + " entries, expected " +
                         std::to_string(2 * na));
    }
    for (size_t i = 0; i < na; ++i) {
      const auto d = static_cast<size_t>(axes[i]);
      p.roi_start[d] = roi[i];
      p.roi_end[d] = roi[na + i];
    }
  }
  return finish(ctx, p);
}

KernelResult make_upsample(PrepareContext& ctx) {
  if (!ctx.has_input(0)) return ctx.invalid("input 0 is required but missing");
  if (!dtype_is_supported(ctx.input(0).dtype)) {
    return ctx.unsupported_case("input type " + dtype_name(ctx.input(0).dtype));
  }
  ResizeParams p;
  p.in_shape = ctx.input(0).shape;
  const size_t r = p.in_shape.size();
  KEEL_ASSIGN_OR_RETURN(std::string mode, ctx.node.attr_string("mode", "nearest"));
  if (mode == "nearest") {
    p.mode = ResizeMode::kNearest;
  } else if (mode == "linear" || mode == "bilinear") {
    p.mode = ResizeMode::kLinear;
  } else {
    return ctx.invalid("unknown mode '" + mode + "'");
  }
  p.coordinate = ResizeCoordinate::kAsymmetric;
  p.rounding = NearestRounding::kLegacy;
  std::vector<double> scales;
  if (ctx.opset() < 9) {
    if (!ctx.node.has_attribute("scales")) return ctx.invalid("attribute 'scales' is required");
    KEEL_ASSIGN_OR_RETURN(std::vector<float> s, ctx.node.attr_floats("scales"));
    scales.assign(s.begin(), s.end());
  } else {
    if (!ctx.has_input(1)) return ctx.invalid("input 1 (scales) is required");
    KEEL_ASSIGN_OR_RETURN(scales, known_floats(ctx, 1, "scales"));
  }
  if (scales.size() != r) {
    return ctx.invalid("scales has " + std::to_string(scales.size()) +
                       " entries, the input has rank " + std::to_string(r));
  }
  for (double s : scales) {
    if (!(s >= 1.0) || !std::isfinite(s)) return ctx.invalid("Upsample scales must be >= 1");
  }
  p.scales = scales;
  p.roi_start.assign(r, 0.0);
  p.roi_end.assign(r, 1.0);
  p.out_shape.resize(r);
  for (size_t d = 0; d < r; ++d) {
    const double o = std::floor(scales[d] * static_cast<double>(p.in_shape[d]));
    if (o > 1e12) return ctx.invalid("scale " + std::to_string(scales[d]) + " is too large");
    p.out_shape[d] = static_cast<int64_t>(o);
  }
  return finish(ctx, p);
}

}  // namespace

void register_resize_kernels(KernelRegistry& r) {
  r.add("Resize", make_resize, 10);
  r.add("Upsample", make_upsample, 7, 10);
}

}  // namespace keel
