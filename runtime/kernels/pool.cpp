// MaxPool (float32/float64/int8/uint8, optional Indices), AveragePool (float32),
// GlobalAveragePool and GlobalMaxPool (float32), NCHW, 1-D to 3-D spatial (run as 3-D with
// leading dims of size 1). Windows are walked row by row: for each output row and each valid
// kernel tap the whole valid range of output columns is updated, which vectorizes for stride 1.
// On NHWC data (2-D, nodes marked by choose_layout; no Indices output) every output pixel
// reduces its valid taps as rows of C contiguous channels, which vectorizes for any stride:
// float through the per-ISA pooling ukernel (pool_ukernel.hpp), double in a scalar loop.
#include <algorithm>
#include <array>
#include <cmath>
#include <limits>
#include <memory>
#include <type_traits>
#include <vector>

#include "exec/parallel.hpp"
#include "kernels/global_average_pool.hpp"
#include "kernels/registry.hpp"
#include "kernels/window_geometry.hpp"
#include "ukernels/pool_dispatch.hpp"

namespace keel {
namespace {

// The running maximum of pooling, propagating NaN as IEEE 754-2019 maximum does: a NaN tap
// makes the result NaN (a NaN acc stays: x > NaN is false).
template <typename T>
inline T max_nan(T acc, T x) {
  if constexpr (std::is_floating_point_v<T>) {
    return (x > acc || x != x) ? x : acc;
  } else {
    return std::max(acc, x);
  }
}

// The shared window (kernels/window_geometry.hpp) over N * C planes.
struct PoolGeometry : Geometry3 {
  int64_t planes = 0;  // N * C
};

PoolGeometry to_pool_geometry(const WindowGeometry& g, int64_t planes) {
  PoolGeometry r;
  static_cast<Geometry3&>(r) = to_geometry3(g);
  r.planes = planes;
  return r;
}

template <typename T>
T lowest() {
  return std::numeric_limits<T>::has_infinity ? -std::numeric_limits<T>::infinity()
                                              : std::numeric_limits<T>::lowest();
}

// ------------------------------------------------------------------------------- MaxPool

template <typename T>
class MaxPoolKernel final : public Kernel {
 public:
  MaxPoolKernel(PoolGeometry g, bool with_indices, bool column_major)
      : g_(g), with_indices_(with_indices), column_major_(column_major) {}
  const char* name() const override {
    return with_indices_ ? "maxpool_nchw_indices" : "maxpool_nchw";
  }

  void run(const KernelRun& r) const override {
    const T* x = r.in(0).as<T>();
    T* y = r.out(0).as<T>();
    int64_t* idx = r.num_outputs > 1 ? r.out(1).as<int64_t>() : nullptr;
    const PoolGeometry& g = g_;
    const int64_t isize = g.in_size(), osize = g.out_size();
    const int64_t ksize = g.k[0] * g.k[1] * g.k[2];
    parallel_for(g.planes, osize * ksize, [&](int64_t p0, int64_t p1) {
      for (int64_t p = p0; p < p1; ++p) {
        if (idx != nullptr) {
          plane_with_indices(x + p * isize, y + p * osize, idx + p * osize, p * isize);
        } else {
          plane(x + p * isize, y + p * osize);
        }
      }
    });
  }

 private:
  void plane(const T* x, T* y) const {
    const PoolGeometry& g = g_;
    for (int64_t od = 0; od < g.out[0]; ++od) {
      for (int64_t oh = 0; oh < g.out[1]; ++oh) {
        T* row = y + (od * g.out[1] + oh) * g.out[2];
        std::fill(row, row + g.out[2], lowest<T>());
        for (int64_t kd = 0; kd < g.k[0]; ++kd) {
          const int64_t id = od * g.s[0] - g.pb[0] + kd * g.d[0];
          if (id < 0 || id >= g.in[0]) continue;
          for (int64_t kh = 0; kh < g.k[1]; ++kh) {
            const int64_t ih = oh * g.s[1] - g.pb[1] + kh * g.d[1];
            if (ih < 0 || ih >= g.in[1]) continue;
            const T* xrow = x + (id * g.in[1] + ih) * g.in[2];
            for (int64_t kw = 0; kw < g.k[2]; ++kw) {
              const int64_t off = kw * g.d[2] - g.pb[2];
              int64_t lo, hi;
              valid_output_range(off, g.s[2], g.in[2], g.out[2], lo, hi);
              const T* src = xrow + off;
              const int64_t sw = g.s[2];
              if (sw == 1) {
                for (int64_t ow = lo; ow < hi; ++ow) row[ow] = max_nan(row[ow], src[ow]);
              } else {
                for (int64_t ow = lo; ow < hi; ++ow) row[ow] = max_nan(row[ow], src[ow * sw]);
              }
            }
          }
        }
      }
    }
  }

  // Indices are flat positions in the whole input tensor (row-major, or column-major over
  // the spatial dims when storage_order = 1); the first maximum wins.
  void plane_with_indices(const T* x, T* y, int64_t* idx, int64_t plane_offset) const {
    const PoolGeometry& g = g_;
    for (int64_t od = 0; od < g.out[0]; ++od) {
      for (int64_t oh = 0; oh < g.out[1]; ++oh) {
        for (int64_t ow = 0; ow < g.out[2]; ++ow) {
          T best = lowest<T>();
          int64_t best_pos = -1;
          for (int64_t kd = 0; kd < g.k[0]; ++kd) {
            const int64_t id = od * g.s[0] - g.pb[0] + kd * g.d[0];
            if (id < 0 || id >= g.in[0]) continue;
            for (int64_t kh = 0; kh < g.k[1]; ++kh) {
              const int64_t ih = oh * g.s[1] - g.pb[1] + kh * g.d[1];
              if (ih < 0 || ih >= g.in[1]) continue;
              for (int64_t kw = 0; kw < g.k[2]; ++kw) {
                const int64_t iw = ow * g.s[2] - g.pb[2] + kw * g.d[2];
                if (iw < 0 || iw >= g.in[2]) continue;
                const int64_t pos = (id * g.in[1] + ih) * g.in[2] + iw;
                if (best_pos < 0 || x[pos] > best) {
                  best = x[pos];
                  best_pos = column_major_ ? id + g.in[0] * (ih + g.in[1] * iw) : pos;
                }
              }
            }
          }
          const int64_t o = (od * g.out[1] + oh) * g.out[2] + ow;
          y[o] = best;
          idx[o] = best_pos < 0 ? -1 : plane_offset + best_pos;
        }
      }
    }
  }

  PoolGeometry g_;
  bool with_indices_;
  bool column_major_;
};

// --------------------------------------------------------------------------- AveragePool

using Divisors = std::array<std::vector<int64_t>, kMaxSpatial>;

// AveragePool's divisor per output position and dim (the divisor of an output is the product
// over dims): the taps inside the counted range, the input or the input plus its explicit pads
// (not the extra ceil_mode positions).
Divisors average_divisors(const PoolGeometry& g, bool count_include_pad) {
  Divisors counts;
  for (size_t i = 0; i < kMaxSpatial; ++i) {
    const int64_t lo_bound = count_include_pad ? -g.pb[i] : 0;
    const int64_t hi_bound = count_include_pad ? g.in[i] + g.pe[i] : g.in[i];
    counts[i].resize(static_cast<size_t>(g.out[i]));
    for (int64_t o = 0; o < g.out[i]; ++o) {
      int64_t c = 0;
      for (int64_t kk = 0; kk < g.k[i]; ++kk) {
        const int64_t pos = o * g.s[i] - g.pb[i] + kk * g.d[i];
        c += pos >= lo_bound && pos < hi_bound;
      }
      counts[i][o] = c;
    }
  }
  return counts;
}

class AveragePoolKernel final : public Kernel {
 public:
  AveragePoolKernel(PoolGeometry g, bool count_include_pad)
      : g_(g), counts_(average_divisors(g, count_include_pad)) {}
  const char* name() const override { return "averagepool_nchw"; }

  void run(const KernelRun& r) const override {
    const float* x = r.in(0).as<float>();
    float* y = r.out(0).as<float>();
    const PoolGeometry& g = g_;
    const int64_t isize = g.in_size(), osize = g.out_size();
    const int64_t ksize = g.k[0] * g.k[1] * g.k[2];
    parallel_for(g.planes, osize * ksize, [&](int64_t p0, int64_t p1) {
      for (int64_t p = p0; p < p1; ++p) plane(x + p * isize, y + p * osize);
    });
  }

 private:
  void plane(const float* x, float* y) const {
    const PoolGeometry& g = g_;
    for (int64_t od = 0; od < g.out[0]; ++od) {
      for (int64_t oh = 0; oh < g.out[1]; ++oh) {
        float* row = y + (od * g.out[1] + oh) * g.out[2];
        std::fill(row, row + g.out[2], 0.0f);
        for (int64_t kd = 0; kd < g.k[0]; ++kd) {
          const int64_t id = od * g.s[0] - g.pb[0] + kd * g.d[0];
          if (id < 0 || id >= g.in[0]) continue;
          for (int64_t kh = 0; kh < g.k[1]; ++kh) {
            const int64_t ih = oh * g.s[1] - g.pb[1] + kh * g.d[1];
            if (ih < 0 || ih >= g.in[1]) continue;
            const float* xrow = x + (id * g.in[1] + ih) * g.in[2];
            for (int64_t kw = 0; kw < g.k[2]; ++kw) {
              const int64_t off = kw * g.d[2] - g.pb[2];
              int64_t lo, hi;
              valid_output_range(off, g.s[2], g.in[2], g.out[2], lo, hi);
              const float* src = xrow + off;
              const int64_t sw = g.s[2];
              if (sw == 1) {
                for (int64_t ow = lo; ow < hi; ++ow) row[ow] += src[ow];
              } else {
                for (int64_t ow = lo; ow < hi; ++ow) row[ow] += src[ow * sw];
              }
            }
          }
        }
        const int64_t c_dh = counts_[0][od] * counts_[1][oh];
        for (int64_t ow = 0; ow < g.out[2]; ++ow) {
          const int64_t c = c_dh * counts_[2][ow];
          row[ow] =
              c > 0 ? row[ow] / static_cast<float>(c) : std::numeric_limits<float>::quiet_NaN();
        }
      }
    }
  }

  PoolGeometry g_;
  Divisors counts_;
};

// --------------------------------------------------------------------------- NHWC window pools

// MaxPool (T) or AveragePool (float) over [N, H, W, C]: one task per (image, output row);
// float through the pooling ukernel, double (MaxPool only) in a scalar loop.
template <typename T>
class NhwcPoolKernel final : public Kernel {
 public:
  // `divisors` empty: MaxPool.
  NhwcPoolKernel(PoolGeometry g, int64_t batch, int64_t channels, Divisors divisors, bool is_max)
      : g_(g),
        batch_(batch),
        c_(channels),
        counts_(std::move(divisors)),
        max_(is_max),
        uk_(pool_ukernels(active_isa())) {}
  const char* name() const override { return max_ ? "maxpool_nhwc" : "averagepool_nhwc"; }

  void run(const KernelRun& r) const override {
    const T* x = r.in(0).as<T>();
    T* y = r.out(0).as<T>();
    const PoolGeometry& g = g_;
    const int64_t oh_n = g.out[1], ow_n = g.out[2], ih_n = g.in[1], iw_n = g.in[2];
    const int64_t c = c_;
    if constexpr (std::is_same_v<T, float>) {
      PoolParams p;
      set_window_2d(p, g);
      p.channels = c;
      if (!max_) {
        p.row_counts = counts_[1].data();
        p.col_counts = counts_[2].data();
      }
      parallel_for(batch_ * oh_n, ow_n * g.k[1] * g.k[2] * c, [&](int64_t r0, int64_t r1) {
        for (int64_t row = r0; row < r1; ++row) {
          uk_->row(&p, x + (row / oh_n) * ih_n * iw_n * c, row % oh_n, y + row * ow_n * c);
        }
      });
    } else {
      // double: MaxPool only (AveragePool takes float), in a scalar loop.
      parallel_for(batch_ * oh_n, ow_n * g.k[1] * g.k[2] * c, [&](int64_t r0, int64_t r1) {
        for (int64_t row = r0; row < r1; ++row) {
          const int64_t n = row / oh_n, oh = row % oh_n;
          const T* xn = x + n * ih_n * iw_n * c;
          for (int64_t ow = 0; ow < ow_n; ++ow) {
            T* yp = y + (row * ow_n + ow) * c;
            std::fill(yp, yp + c, lowest<T>());
            for (int64_t kh = 0; kh < g.k[1]; ++kh) {
              const int64_t ih = oh * g.s[1] - g.pb[1] + kh * g.d[1];
              if (ih < 0 || ih >= ih_n) continue;
              for (int64_t kw = 0; kw < g.k[2]; ++kw) {
                const int64_t iw = ow * g.s[2] - g.pb[2] + kw * g.d[2];
                if (iw < 0 || iw >= iw_n) continue;
                const T* xp = xn + (ih * iw_n + iw) * c;
                for (int64_t k = 0; k < c; ++k) yp[k] = max_nan(yp[k], xp[k]);
              }
            }
          }
        }
      });
    }
  }

 private:
  PoolGeometry g_;
  int64_t batch_, c_;
  Divisors counts_;
  bool max_;
  const PoolUkernels* uk_;
};

// ------------------------------------------------------------------------------- factories

// Shared validation: X rank 3..5, kernel_shape, strides, pads, dilations, auto_pad,
// ceil_mode. Sets output 0's shape.
// On NHWC data (`nhwc`, X rank 4) the spatial dims are X[1..2] and the output is
// [N, OH, OW, C].
Status prepare_window_pool(PrepareContext& ctx, bool dilations_allowed, bool ceil_allowed,
                           bool nhwc, PoolGeometry& pg) {
  const Shape& x = ctx.input(0).shape;
  const size_t nsp = x.size() - 2;
  const size_t first_spatial = nhwc ? 1 : 2;
  if (nsp > kMaxSpatial) {
    return ctx.unsupported_case(std::to_string(nsp) + "-D pooling (at most 3-D supported)");
  }
  for (size_t i = first_spatial; i < first_spatial + nsp; ++i) {
    if (x[i] < 1) return ctx.unsupported_case("empty spatial input " + shape_to_string(x));
  }
  std::vector<int64_t> kernel;
  bool present = false;
  KEEL_RETURN_IF_ERROR(read_kernel_shape(ctx, nsp, true, kernel, present));
  WindowGeometry wg;
  const std::vector<int64_t> spatial(x.begin() + static_cast<int64_t>(first_spatial),
                                     x.begin() + static_cast<int64_t>(first_spatial + nsp));
  KEEL_RETURN_IF_ERROR(read_window(ctx, spatial, kernel, dilations_allowed, wg));
  KEEL_ASSIGN_OR_RETURN(int64_t ceil_mode, ctx.node.attr_int("ceil_mode", 0));
  if (ceil_mode != 0 && ceil_mode != 1) return ctx.invalid("ceil_mode must be 0 or 1");
  if (ceil_mode == 1 && !ceil_allowed) return ctx.invalid("ceil_mode is not defined at this opset");
  KEEL_RETURN_IF_ERROR(compute_forward_output(ctx, ceil_mode == 1, wg));
  Shape out = {x[0]};
  if (!nhwc) out.push_back(x[1]);
  out.insert(out.end(), wg.out.begin(), wg.out.end());
  if (nhwc) out.push_back(x[3]);
  if (!checked_numel(out) || !checked_numel(x)) return ctx.invalid("tensor too large");
  pg = to_pool_geometry(wg, x[0] * x[nhwc ? 3 : 1]);
  ctx.set_output(0, ctx.input(0).dtype, out);
  return Status::ok();
}

Result<std::unique_ptr<Kernel>> make_max_pool(PrepareContext& ctx) {
  if (ctx.num_inputs() != 1) return ctx.invalid("expected 1 input");
  KEEL_RETURN_IF_ERROR(ctx.check_input(
      0, {DataType::kFloat32, DataType::kFloat64, DataType::kInt8, DataType::kUint8}, 3, 64));
  const DataType t = ctx.input(0).dtype;
  if (ctx.opset() < 12 && (t == DataType::kInt8 || t == DataType::kUint8)) {
    return ctx.invalid("int8/uint8 MaxPool needs opset 12");
  }
  if (ctx.node.outputs.size() > 2) return ctx.invalid("expected at most 2 outputs");
  const bool with_indices = ctx.node.has_output(1);
  if (with_indices && ctx.opset() < 8) return ctx.invalid("the Indices output needs opset 8");
  KEEL_ASSIGN_OR_RETURN(int64_t storage_order, ctx.node.attr_int("storage_order", 0));
  if (storage_order != 0 && storage_order != 1) return ctx.invalid("storage_order must be 0 or 1");
  KEEL_ASSIGN_OR_RETURN(const bool nhwc, runs_nhwc(ctx));
  if (nhwc && with_indices) return ctx.unsupported_case("the Indices output on NHWC data");
  PoolGeometry pg;
  KEEL_RETURN_IF_ERROR(prepare_window_pool(ctx, ctx.opset() >= 10, ctx.opset() >= 10, nhwc, pg));
  if (nhwc) {
    const Shape& x = ctx.input(0).shape;
    if (t == DataType::kFloat64) {
      return std::unique_ptr<Kernel>(
          std::make_unique<NhwcPoolKernel<double>>(pg, x[0], x[3], Divisors{}, true));
    }
    if (t != DataType::kFloat32) return ctx.unsupported_case("8-bit MaxPool on NHWC data");
    return std::unique_ptr<Kernel>(
        std::make_unique<NhwcPoolKernel<float>>(pg, x[0], x[3], Divisors{}, true));
  }
  if (with_indices) ctx.set_output(1, DataType::kInt64, ctx.outputs[0].shape);
  const bool cm = storage_order == 1;
  switch (t) {
    case DataType::kFloat64:
      return std::unique_ptr<Kernel>(std::make_unique<MaxPoolKernel<double>>(pg, with_indices, cm));
    case DataType::kInt8:
      return std::unique_ptr<Kernel>(std::make_unique<MaxPoolKernel<int8_t>>(pg, with_indices, cm));
    case DataType::kUint8:
      return std::unique_ptr<Kernel>(
          std::make_unique<MaxPoolKernel<uint8_t>>(pg, with_indices, cm));
    default:
      return std::unique_ptr<Kernel>(std::make_unique<MaxPoolKernel<float>>(pg, with_indices, cm));
  }
}

Result<std::unique_ptr<Kernel>> make_average_pool(PrepareContext& ctx) {
  if (ctx.num_inputs() != 1) return ctx.invalid("expected 1 input");
  KEEL_RETURN_IF_ERROR(ctx.check_input(0, {DataType::kFloat32}, 3, 64));
  KEEL_ASSIGN_OR_RETURN(int64_t include_pad, ctx.node.attr_int("count_include_pad", 0));
  if (include_pad != 0 && include_pad != 1) return ctx.invalid("count_include_pad must be 0 or 1");
  KEEL_ASSIGN_OR_RETURN(const bool nhwc, runs_nhwc(ctx));
  PoolGeometry pg;
  KEEL_RETURN_IF_ERROR(prepare_window_pool(ctx, ctx.opset() >= 19, ctx.opset() >= 10, nhwc, pg));
  if (nhwc) {
    const Shape& x = ctx.input(0).shape;
    return std::unique_ptr<Kernel>(std::make_unique<NhwcPoolKernel<float>>(
        pg, x[0], x[3], average_divisors(pg, include_pad == 1), false));
  }
  return std::unique_ptr<Kernel>(std::make_unique<AveragePoolKernel>(pg, include_pad == 1));
}

// Global pooling over [N, H, W, C]: the average through global_average_pool
// (kernels/global_average_pool.hpp, the same bits as the NCHW kernel); the maximum per (image,
// block of channels).
class GlobalPoolNhwcKernel final : public Kernel {
 public:
  static constexpr int64_t kBlock = 32;
  GlobalPoolNhwcKernel(int64_t batch, int64_t pixels, int64_t channels, bool is_max)
      : batch_(batch), pixels_(pixels), c_(channels), max_(is_max) {}
  const char* name() const override { return max_ ? "globalmaxpool_nhwc" : "globalavgpool_nhwc"; }
  void run(const KernelRun& r) const override {
    const float* x = r.in(0).as<float>();
    float* y = r.out(0).as<float>();
    if (!max_) {
      global_average_pool(x, batch_, pixels_, c_, true, y);
      return;
    }
    const int64_t blocks = (c_ + kBlock - 1) / kBlock;
    parallel_for(batch_ * blocks, pixels_ * kBlock, [&](int64_t t0, int64_t t1) {
      for (int64_t t = t0; t < t1; ++t) {
        const int64_t n = t / blocks, c0 = (t % blocks) * kBlock;
        const int64_t len = std::min(kBlock, c_ - c0);
        const float* xn = x + n * pixels_ * c_ + c0;
        float m[kBlock];
        std::fill(m, m + len, -std::numeric_limits<float>::infinity());
        for (int64_t p = 0; p < pixels_; ++p) {
          for (int64_t k = 0; k < len; ++k) m[k] = max_nan(m[k], xn[p * c_ + k]);
        }
        std::copy(m, m + len, y + n * c_ + c0);
      }
    });
  }

 private:
  int64_t batch_, pixels_, c_;
  bool max_;
};

class GlobalPoolKernel final : public Kernel {
 public:
  GlobalPoolKernel(int64_t planes, int64_t size, bool is_max)
      : planes_(planes), size_(size), max_(is_max) {}
  const char* name() const override { return max_ ? "globalmaxpool_nchw" : "globalavgpool_nchw"; }
  void run(const KernelRun& r) const override {
    const float* x = r.in(0).as<float>();
    float* y = r.out(0).as<float>();
    if (!max_) {
      global_average_pool(x, planes_, size_, 1, false, y);
      return;
    }
    parallel_for(planes_, size_, [&](int64_t p0, int64_t p1) {
      for (int64_t p = p0; p < p1; ++p) {
        const float* xp = x + p * size_;
        float m = -std::numeric_limits<float>::infinity();
        for (int64_t i = 0; i < size_; ++i) m = max_nan(m, xp[i]);
        y[p] = m;
      }
    });
  }

 private:
  int64_t planes_, size_;
  bool max_;
};

Result<std::unique_ptr<Kernel>> make_global_pool(PrepareContext& ctx, bool is_max) {
  if (ctx.num_inputs() != 1) return ctx.invalid("expected 1 input");
  KEEL_RETURN_IF_ERROR(ctx.check_input(0, {DataType::kFloat32}, 3, 64));
  KEEL_ASSIGN_OR_RETURN(const bool nhwc, runs_nhwc(ctx));
  const Shape& x = ctx.input(0).shape;
  if (nhwc) {
    if (x[1] < 1 || x[2] < 1)
      return ctx.unsupported_case("empty spatial input " + shape_to_string(x));
    if (!checked_numel(x)) return ctx.invalid("input too large");
    ctx.set_output(0, DataType::kFloat32, {x[0], 1, 1, x[3]});
    return std::unique_ptr<Kernel>(
        std::make_unique<GlobalPoolNhwcKernel>(x[0], x[1] * x[2], x[3], is_max));
  }
  Shape out = {x[0], x[1]};
  out.resize(x.size(), 1);
  const auto n = checked_numel(x);
  if (!n) return ctx.invalid("input too large");
  const int64_t planes = x[0] * x[1];
  const int64_t size = planes > 0 ? *n / planes : 0;
  if (size == 0 && planes > 0) {
    return ctx.unsupported_case("global pooling over an empty spatial extent " +
                                shape_to_string(x));
  }
  ctx.set_output(0, DataType::kFloat32, out);
  return std::unique_ptr<Kernel>(std::make_unique<GlobalPoolKernel>(planes, size, is_max));
}

Result<std::unique_ptr<Kernel>> make_global_average_pool(PrepareContext& ctx) {
  return make_global_pool(ctx, false);
}
Result<std::unique_ptr<Kernel>> make_global_max_pool(PrepareContext& ctx) {
  return make_global_pool(ctx, true);
}

}  // namespace

void register_pool_kernels(KernelRegistry& r) {
  r.add("MaxPool", &make_max_pool, 1);
  r.add("AveragePool", &make_average_pool, 1);
  r.add("GlobalAveragePool", &make_global_average_pool, 1);
  r.add("GlobalMaxPool", &make_global_max_pool, 1);
}

}  // namespace keel
