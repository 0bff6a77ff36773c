// Normalization ops that run as kernels (float32, NCHW): BatchNormalization (inference),
// LayerNormalization, RMSNormalization, InstanceNormalization, GroupNormalization,
// MeanVarianceNormalization and LRN. The row-wise ones share the numeric core in norm_rows;
// BatchNorm, LayerNorm, RMSNorm, InstanceNorm, GroupNorm and MVN run the per-ISA ukernels
// (ukernels/norm_ukernel.hpp) chosen once at plan time. BatchNorm, InstanceNorm and GroupNorm
// also run on NHWC data (nodes marked by the choose_layout pass, graph/layout.hpp) through the
// NHWC entry points norm::scale_shift_apply / norm::group_norm_apply.
#include <algorithm>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <limits>
#include <string>
#include <vector>
#include <xsimd/xsimd.hpp>

#include "exec/parallel.hpp"
#include "kernels/fused_activation.hpp"
#include "kernels/norm_rows.hpp"
#include "kernels/registry.hpp"
#include "ukernels/norm_dispatch.hpp"

namespace keel {
namespace {

constexpr DataType kF32 = DataType::kFloat32;

std::string num(double v) {
  char buf[32];
  std::snprintf(buf, sizeof(buf), "%g", v);
  return buf;
}

int64_t product(const Shape& s, size_t begin, size_t end) {
  int64_t n = 1;
  for (size_t i = begin; i < end; ++i) n *= s[i];
  return n;
}

size_t align64(size_t n) { return round_up(n, 64); }

// An optional output counts as used when something reads it (the planner allocates only
// those); a name that nobody consumes is not a request for training statistics.
bool output_used(const Node& node, size_t i) {
  if (!node.has_output(i)) return false;
  const Value* v = node.outputs[i];
  return v->is_graph_output || !v->consumers.empty();
}

Status check_arity(const PrepareContext& ctx, size_t min_in, size_t max_in, size_t max_out) {
  if (ctx.num_inputs() < min_in || ctx.num_inputs() > max_in) {
    return ctx.invalid("expects " +
                       (min_in == max_in
                            ? std::to_string(min_in)
                            : std::to_string(min_in) + " to " + std::to_string(max_in)) +
                       " inputs, got " + std::to_string(ctx.num_inputs()));
  }
  if (ctx.node.outputs.empty() || !ctx.node.has_output(0))
    return ctx.invalid("output 0 is missing");
  if (ctx.node.outputs.size() > max_out) {
    return ctx.invalid("has " + std::to_string(ctx.node.outputs.size()) + " outputs, at most " +
                       std::to_string(max_out) + " allowed");
  }
  return Status::ok();
}

Result<float> read_epsilon(const PrepareContext& ctx, float default_value) {
  KEEL_ASSIGN_OR_RETURN(float eps, ctx.node.attr_float("epsilon", default_value));
  if (!std::isfinite(eps) || eps < 0.0f) {
    return ctx.invalid("epsilon must be finite and >= 0, got " + num(eps));
  }
  return eps;
}

Status check_x(const PrepareContext& ctx, int64_t min_rank) {
  KEEL_RETURN_IF_ERROR(ctx.check_input(0, {kF32}, min_rank));
  if (!checked_numel(ctx.input(0).shape)) {
    return ctx.invalid("input shape " + shape_to_string(ctx.input(0).shape) + " is invalid");
  }
  return Status::ok();
}

// A float32 parameter of exactly the given shape.
Status check_param(const PrepareContext& ctx, size_t i, const std::string& name, const Shape& want,
                   const std::string& why) {
  if (!ctx.has_input(i)) return ctx.invalid(name + " (input " + std::to_string(i) + ") is missing");
  const InputInfo& in = ctx.input(i);
  if (in.dtype != kF32) {
    return ctx.unsupported_case(name + " has type " + dtype_name(in.dtype) +
                                ", supported: float32");
  }
  if (in.shape != want) {
    return ctx.invalid(name + " has shape " + shape_to_string(in.shape) + ", expected " +
                       shape_to_string(want) + " (" + why + ")");
  }
  return Status::ok();
}

// `src` broadcasts to `dst` one way (numpy rules, dims aligned right; dims beyond dst are 1).
bool broadcasts_to(const Shape& src, const Shape& dst) {
  const size_t rs = src.size(), rd = dst.size();
  for (size_t i = 0; i < rs; ++i) {
    const int64_t s = src[rs - 1 - i];
    if (i >= rd) {
      if (s != 1) return false;
      continue;
    }
    const int64_t d = dst[rd - 1 - i];
    if (s != d && s != 1) return false;
  }
  return true;
}

// dst (shape `dst_shape`, contiguous) = src broadcast; shapes checked by broadcasts_to.
void broadcast_copy(const float* src, const Shape& src_shape, const Shape& dst_shape, float* dst) {
  const size_t rd = dst_shape.size();
  const int64_t total = product(dst_shape, 0, rd);
  std::vector<int64_t> sstride(rd, 0);
  int64_t st = 1;
  for (size_t i = 0; i < rd && i < src_shape.size(); ++i) {
    const int64_t s = src_shape[src_shape.size() - 1 - i];
    sstride[rd - 1 - i] = s == 1 ? 0 : st;
    st *= s;
  }
  std::vector<int64_t> idx(rd, 0);
  int64_t off = 0;
  for (int64_t e = 0; e < total; ++e) {
    dst[e] = src[off];
    for (size_t d = rd; d-- > 0;) {
      off += sstride[d];
      if (++idx[d] < dst_shape[d]) break;
      off -= sstride[d] * idx[d];
      idx[d] = 0;
    }
  }
}

// Where a per-element or per-channel parameter comes from at run time.
struct Param {
  enum Kind { kAbsent, kKnown, kInput } kind = kAbsent;
  std::vector<float> values;  // kKnown: already expanded to the target shape
  int input = -1;             // kInput
  bool expand = false;        // kInput that must be broadcast into scratch first
  Shape src_shape, dst_shape;
  size_t scratch_offset = 0;

  const float* resolve(const KernelRun& r) const {
    switch (kind) {
      case kAbsent: return nullptr;
      case kKnown: return values.data();
      case kInput: break;
    }
    const float* src = r.in(static_cast<size_t>(input)).as<const float>();
    if (!expand) return src;
    float* dst = reinterpret_cast<float*>(static_cast<std::byte*>(r.scratch) + scratch_offset);
    broadcast_copy(src, src_shape, dst_shape, dst);
    return dst;
  }
};

// Input i broadcast to `target`; a known value is copied (expanded) now, an unknown one is read
// at run time, through `*scratch` bytes of expansion space when its shape differs.
Param make_param(const PrepareContext& ctx, size_t i, const Shape& target, size_t* scratch) {
  Param p;
  const InputInfo& in = ctx.input(i);
  const int64_t n = product(target, 0, target.size());
  const bool same_layout = product(in.shape, 0, in.shape.size()) == n;
  if (in.value) {
    p.kind = Param::kKnown;
    p.values.resize(static_cast<size_t>(n));
    const float* src = in.value->data_as<float>();
    if (same_layout) {
      if (n > 0) std::memcpy(p.values.data(), src, static_cast<size_t>(n) * sizeof(float));
    } else {
      broadcast_copy(src, in.shape, target, p.values.data());
    }
    return p;
  }
  p.kind = Param::kInput;
  p.input = static_cast<int>(i);
  if (!same_layout) {
    p.expand = true;
    p.src_shape = in.shape;
    p.dst_shape = target;
    p.scratch_offset = *scratch;
    *scratch += align64(static_cast<size_t>(n) * sizeof(float));
  }
  return p;
}

float* optional_out(const KernelRun& r, int i) {
  if (i < 0 || static_cast<size_t>(i) >= r.num_outputs) return nullptr;
  return r.out(static_cast<size_t>(i)).as<float>();
}

// ---------------------------------------------------------------------------------------------
// Row-wise normalizations

class RowNormKernel final : public Kernel {
 public:
  const char* name_ = "";
  norm::RowNormParams params;
  bool segmented = false;
  int64_t seg_len = 0;
  int64_t period = 1;
  Param gamma, beta;
  int mean_output = -1;
  int inv_output = -1;
  size_t rows_scratch_offset = 0;
  size_t rows_scratch_bytes = 0;
  size_t scratch_total = 0;

  void run(const KernelRun& r) const override {
    norm::RowAffine a;
    const float* g = gamma.resolve(r);
    const float* b = beta.resolve(r);
    if (segmented) {
      a.seg_len = seg_len;
      a.period = period;
      a.seg_gamma = g;
      a.seg_beta = b;
    } else {
      a.gamma = g;
      a.beta = b;
    }
    void* rows_scratch =
        rows_scratch_bytes ? static_cast<std::byte*>(r.scratch) + rows_scratch_offset : nullptr;
    norm::normalize_rows(r.in(0).as<const float>(), r.out(0).as<float>(), params, a,
                         optional_out(r, mean_output), optional_out(r, inv_output), rows_scratch,
                         current_max_threads());
  }
  const char* name() const override { return name_; }
  size_t scratch_bytes() const override { return scratch_total; }

  // Call once gamma/beta expansion space (`param_scratch` bytes) is known.
  void finish_scratch(size_t param_scratch) {
    params.uk = norm_ukernels_active();
    rows_scratch_offset = param_scratch;
    rows_scratch_bytes = norm::normalize_rows_scratch_bytes(params.rows, params.len);
    scratch_total = rows_scratch_offset + rows_scratch_bytes;
  }
};

// LayerNormalization-17 (kMeanVariance, Scale + optional B, optional Mean/InvStdDev outputs)
// and RMSNormalization-23 (kMeanSquare, scale only).
Result<std::unique_ptr<Kernel>> prepare_last_axes_norm(PrepareContext& ctx, bool rms) {
  KEEL_RETURN_IF_ERROR(check_arity(ctx, 2, rms ? 2 : 3, rms ? 1 : 3));
  KEEL_RETURN_IF_ERROR(check_x(ctx, 1));
  const Shape& shape = ctx.input(0).shape;
  const auto rank = static_cast<int64_t>(shape.size());
  KEEL_ASSIGN_OR_RETURN(int64_t axis_attr, ctx.node.attr_int("axis", -1));
  const auto axis = normalize_axis(axis_attr, rank);
  if (!axis) {
    return ctx.invalid("axis " + std::to_string(axis_attr) + " is out of range for input rank " +
                       std::to_string(rank));
  }
  KEEL_ASSIGN_OR_RETURN(float eps, read_epsilon(ctx, 1e-5f));
  KEEL_ASSIGN_OR_RETURN(int64_t stash_type, ctx.node.attr_int("stash_type", 1));
  const Shape norm_shape(shape.begin() + *axis, shape.end());

  auto k = std::make_unique<RowNormKernel>();
  k->name_ = rms ? "rmsnorm_lastaxes" : "layernorm_lastaxes";
  k->params.rows = product(shape, 0, static_cast<size_t>(*axis));
  k->params.len = product(shape, static_cast<size_t>(*axis), shape.size());
  k->params.kind = rms ? norm::StatKind::kMeanSquare : norm::StatKind::kMeanVariance;
  k->params.epsilon = eps;

  size_t scratch = 0;
  const char* names[] = {"X", "Scale", "B"};
  for (size_t i = 1; i < 3; ++i) {
    if (!ctx.has_input(i)) {
      if (i == 1) return ctx.invalid("Scale (input 1) is missing");
      continue;
    }
    const InputInfo& in = ctx.input(i);
    if (in.dtype != kF32) {
      return ctx.unsupported_case(std::string(names[i]) + " has type " + dtype_name(in.dtype) +
                                  ", supported: float32");
    }
    if (!broadcasts_to(in.shape, norm_shape)) {
      return ctx.invalid(std::string(names[i]) + " has shape " + shape_to_string(in.shape) +
                         ", which does not broadcast to the normalized shape " +
                         shape_to_string(norm_shape) + " (axis " + std::to_string(*axis) + ")");
    }
    (i == 1 ? k->gamma : k->beta) = make_param(ctx, i, norm_shape, &scratch);
  }
  k->finish_scratch(scratch);

  ctx.set_output(0, kF32, shape);
  ctx.inplace_of[0] = 0;
  if (!rms) {
    const bool stats_used = output_used(ctx.node, 1) || output_used(ctx.node, 2);
    if (stats_used && stash_type != 1) {
      return ctx.unsupported_case("Mean/InvStdDev outputs with stash_type " +
                                  std::to_string(stash_type) + " (only 1, float32)");
    }
    Shape stat_shape(shape.begin(), shape.begin() + *axis);
    stat_shape.resize(shape.size(), 1);
    for (size_t i = 1; i < 3; ++i) {
      if (!ctx.node.has_output(i)) continue;
      ctx.set_output(i, kF32, stat_shape);
      (i == 1 ? k->mean_output : k->inv_output) = static_cast<int>(i);
    }
  }
  return std::unique_ptr<Kernel>(std::move(k));
}

Result<std::unique_ptr<Kernel>> prepare_layernorm(PrepareContext& ctx) {
  return prepare_last_axes_norm(ctx, false);
}

Result<std::unique_ptr<Kernel>> prepare_rmsnorm(PrepareContext& ctx) {
  return prepare_last_axes_norm(ctx, true);
}

// InstanceNorm / GroupNorm on NHWC data: statistics per (image, group) over the pixels and the
// group's channels (norm::group_norm_apply, fixed reduction order).
class GroupNormNhwcKernel final : public Kernel {
 public:
  GroupNormNhwcKernel(const char* name, const Shape& shape, int64_t groups, bool per_channel,
                      double epsilon)
      : name_(name),
        batch_(shape[0]),
        channels_(shape[3]),
        spatial_(shape[1] * shape[2]),
        groups_(groups),
        per_channel_(per_channel),
        epsilon_(epsilon),
        uk_(norm_ukernels_active()) {}
  void run(const KernelRun& r) const override {
    norm::group_norm_apply(uk_, norm::NormLayout::kNhwc, r.in(0).as<const float>(),
                           r.out(0).as<float>(), batch_, channels_, spatial_, groups_,
                           r.in(1).as<const float>(), r.in(2).as<const float>(), per_channel_,
                           epsilon_, r.scratch);
  }
  const char* name() const override { return name_; }
  size_t scratch_bytes() const override {
    return norm::group_norm_scratch_bytes(norm::NormLayout::kNhwc, batch_, channels_, spatial_,
                                          groups_);
  }

 private:
  const char* name_;
  int64_t batch_, channels_, spatial_, groups_;
  bool per_channel_;
  double epsilon_;
  const NormUkernels* uk_;
};

Result<std::unique_ptr<Kernel>> prepare_instancenorm(PrepareContext& ctx) {
  KEEL_RETURN_IF_ERROR(check_arity(ctx, 3, 3, 1));
  KEEL_RETURN_IF_ERROR(check_x(ctx, 3));
  KEEL_ASSIGN_OR_RETURN(const bool nhwc, runs_nhwc(ctx));
  const Shape& shape = ctx.input(0).shape;
  const int64_t c = shape[nhwc ? 3 : 1];
  KEEL_RETURN_IF_ERROR(check_param(ctx, 1, "scale", {c}, "one value per channel"));
  KEEL_RETURN_IF_ERROR(check_param(ctx, 2, "B", {c}, "one value per channel"));
  KEEL_ASSIGN_OR_RETURN(float eps, read_epsilon(ctx, 1e-5f));
  if (nhwc) {
    ctx.set_output(0, kF32, shape);
    ctx.inplace_of[0] = 0;
    return std::unique_ptr<Kernel>(
        std::make_unique<GroupNormNhwcKernel>("instancenorm_nhwc", shape, c, true, eps));
  }

  auto k = std::make_unique<RowNormKernel>();
  k->name_ = "instancenorm_nchw";
  k->params.rows = shape[0] * c;
  k->params.len = product(shape, 2, shape.size());
  k->params.epsilon = eps;
  k->segmented = true;
  k->seg_len = std::max<int64_t>(1, k->params.len);
  k->period = std::max<int64_t>(1, c);
  size_t scratch = 0;
  k->gamma = make_param(ctx, 1, {c}, &scratch);
  k->beta = make_param(ctx, 2, {c}, &scratch);
  k->finish_scratch(scratch);
  ctx.set_output(0, kF32, shape);
  ctx.inplace_of[0] = 0;
  return std::unique_ptr<Kernel>(std::move(k));
}

// GroupNormalization-18 scales per group (scale/bias [num_groups]); GroupNormalization-21 per
// channel ([C]).
Result<std::unique_ptr<Kernel>> prepare_groupnorm(PrepareContext& ctx) {
  KEEL_RETURN_IF_ERROR(check_arity(ctx, 3, 3, 1));
  KEEL_RETURN_IF_ERROR(check_x(ctx, 2));
  KEEL_ASSIGN_OR_RETURN(const bool nhwc, runs_nhwc(ctx));
  const Shape& shape = ctx.input(0).shape;
  const int64_t c = shape[nhwc ? 3 : 1];
  if (!ctx.node.has_attribute("num_groups")) return ctx.invalid("attribute num_groups is missing");
  KEEL_ASSIGN_OR_RETURN(int64_t groups, ctx.node.attr_int("num_groups", 0));
  if (groups <= 0) return ctx.invalid("num_groups must be > 0, got " + std::to_string(groups));
  if (c % groups != 0) {
    return ctx.invalid("the " + std::to_string(c) + " channels of X " + shape_to_string(shape) +
                       " are not divisible by num_groups " + std::to_string(groups));
  }
  const bool per_channel = ctx.opset() >= 21;
  const int64_t plen = per_channel ? c : groups;
  const std::string why = per_channel ? "GroupNormalization-21: one value per channel"
                                      : "GroupNormalization-18: one value per group";
  KEEL_RETURN_IF_ERROR(check_param(ctx, 1, "scale", {plen}, why));
  KEEL_RETURN_IF_ERROR(check_param(ctx, 2, "bias", {plen}, why));
  KEEL_ASSIGN_OR_RETURN(float eps, read_epsilon(ctx, 1e-5f));
  if (nhwc) {
    ctx.set_output(0, kF32, shape);
    ctx.inplace_of[0] = 0;
    return std::unique_ptr<Kernel>(
        std::make_unique<GroupNormNhwcKernel>("groupnorm_nhwc", shape, groups, per_channel, eps));
  }

  auto k = std::make_unique<RowNormKernel>();
  k->name_ = "groupnorm_nchw";
  const int64_t spatial = product(shape, 2, shape.size());
  k->params.rows = shape[0] * groups;
  k->params.len = (c / groups) * spatial;
  k->params.epsilon = eps;
  k->segmented = true;
  k->seg_len = std::max<int64_t>(1, per_channel ? spatial : k->params.len);
  k->period = groups;
  size_t scratch = 0;
  k->gamma = make_param(ctx, 1, {plen}, &scratch);
  k->beta = make_param(ctx, 2, {plen}, &scratch);
  k->finish_scratch(scratch);
  ctx.set_output(0, kF32, shape);
  ctx.inplace_of[0] = 0;
  return std::unique_ptr<Kernel>(std::move(k));
}

// ---------------------------------------------------------------------------------------------
// MeanVarianceNormalization: (x - mean) / (sqrt(var) + 1e-9) over `axes`.

constexpr double kMvnEpsilon = 1e-9;

// When the reduced axes are not a suffix (the default [0, 2, 3] with N > 1): each kept index
// gathers its elements as runs (contiguous when the last axis is reduced).
class MvnStridedKernel final : public Kernel {
 public:
  std::vector<int64_t> kept_sizes, kept_strides;    // outermost first
  std::vector<int64_t> outer_sizes, outer_strides;  // reduced dims except the contiguous run
  int64_t run_len = 1;
  int64_t kept_count = 0, runs_per_kept = 0;

  void run(const KernelRun& r) const override {
    const float* x = r.in(0).as<const float>();
    float* y = r.out(0).as<float>();
    norm::RowNormParams p;
    p.epsilon = kMvnEpsilon;
    p.epsilon_on_stddev = true;
    const double n = static_cast<double>(runs_per_kept) * static_cast<double>(run_len);
    parallel_for(kept_count, 3 * runs_per_kept * run_len, [&](int64_t k0, int64_t k1) {
      std::vector<int64_t> idx(outer_sizes.size());
      for (int64_t k = k0; k < k1; ++k) {
        int64_t base = 0, rem = k;
        for (size_t d = kept_sizes.size(); d-- > 0;) {
          base += (rem % kept_sizes[d]) * kept_strides[d];
          rem /= kept_sizes[d];
        }
        // Visits every run of this kept index in a fixed order.
        auto for_runs = [&](auto&& fn) {
          std::fill(idx.begin(), idx.end(), 0);
          int64_t off = base;
          for (int64_t i = 0; i < runs_per_kept; ++i) {
            fn(off);
            for (size_t d = idx.size(); d-- > 0;) {
              off += outer_strides[d];
              if (++idx[d] < outer_sizes[d]) break;
              off -= outer_strides[d] * idx[d];
              idx[d] = 0;
            }
          }
        };
        double sum = 0.0;
        for_runs([&](int64_t off) { sum += norm::f32_sum(x + off, run_len); });
        const float shift = static_cast<float>(sum / n);
        double s1 = 0.0, s2 = 0.0;
        for_runs([&](int64_t off) {
          double u1, u2;
          norm::f32_shifted_moments(x + off, run_len, shift, &u1, &u2);
          s1 += u1;
          s2 += u2;
        });
        const norm::RowStats st = norm::finish_stats(p, n, shift, s1, s2);
        for_runs([&](int64_t off) {
          norm::apply_elementwise(x + off, y + off, run_len, st.mean, st.inv, nullptr, nullptr);
        });
      }
    });
  }
  const char* name() const override { return "mvn_strided"; }
};

Result<std::unique_ptr<Kernel>> prepare_mvn(PrepareContext& ctx) {
  KEEL_RETURN_IF_ERROR(check_arity(ctx, 1, 1, 1));
  KEEL_RETURN_IF_ERROR(check_x(ctx, 0));
  const Shape& shape = ctx.input(0).shape;
  const auto rank = static_cast<int64_t>(shape.size());
  KEEL_ASSIGN_OR_RETURN(std::vector<int64_t> axes, ctx.node.attr_ints("axes", {0, 2, 3}));
  if (axes.empty()) {
    // The function body's ReduceMean reduces over every axis when given none.
    for (int64_t d = 0; d < rank; ++d) axes.push_back(d);
  }
  std::vector<bool> reduced(shape.size(), false);
  for (int64_t a : axes) {
    const auto n = normalize_axis(a, rank);
    if (!n) {
      return ctx.invalid("axis " + std::to_string(a) + " in axes is out of range for input rank " +
                         std::to_string(rank) +
                         (ctx.node.has_attribute("axes") ? "" : " (default axes [0,2,3])"));
    }
    if (reduced[*n]) return ctx.invalid("axis " + std::to_string(a) + " appears twice in axes");
    reduced[*n] = true;
  }
  ctx.set_output(0, kF32, shape);
  ctx.inplace_of[0] = 0;

  // Coalesce: drop size-1 dims, merge neighbours with the same role.
  struct Dim {
    int64_t size, stride;
    bool reduced;
  };
  std::vector<Dim> dims;
  const std::vector<int64_t> strides = contiguous_strides(shape);
  for (size_t d = 0; d < shape.size(); ++d) {
    if (shape[d] == 1) continue;
    if (!dims.empty() && dims.back().reduced == reduced[d]) {
      dims.back().size *= shape[d];
      dims.back().stride = strides[d];
    } else {
      dims.push_back({shape[d], strides[d], reduced[d]});
    }
  }
  const int64_t total = product(shape, 0, shape.size());
  const bool suffix = dims.size() <= 1 || (dims.size() == 2 && dims[1].reduced) || total == 0;
  if (suffix) {
    auto k = std::make_unique<RowNormKernel>();
    k->name_ = "mvn_rows";
    const int64_t len = dims.empty() ? 1 : (dims.back().reduced ? dims.back().size : 1);
    k->params.rows = total == 0 ? 0 : total / len;
    k->params.len = len;
    k->params.epsilon = kMvnEpsilon;
    k->params.epsilon_on_stddev = true;
    k->finish_scratch(0);
    return std::unique_ptr<Kernel>(std::move(k));
  }
  auto k = std::make_unique<MvnStridedKernel>();
  const bool last_reduced = dims.back().reduced;
  k->run_len = last_reduced ? dims.back().size : 1;
  const size_t outer_end = last_reduced ? dims.size() - 1 : dims.size();
  for (size_t d = 0; d < dims.size(); ++d) {
    if (!dims[d].reduced) {
      k->kept_sizes.push_back(dims[d].size);
      k->kept_strides.push_back(dims[d].stride);
    } else if (d < outer_end) {
      k->outer_sizes.push_back(dims[d].size);
      k->outer_strides.push_back(dims[d].stride);
    }
  }
  k->kept_count = product(k->kept_sizes, 0, k->kept_sizes.size());
  k->runs_per_kept = product(k->outer_sizes, 0, k->outer_sizes.size());
  return std::unique_ptr<Kernel>(std::move(k));
}

// ---------------------------------------------------------------------------------------------
// BatchNormalization (inference): y = x * a[c] + b[c], a = scale / sqrt(var + eps),
// b = B - mean * a, computed in double and rounded once.

void batchnorm_coefficients(const float* scale, const float* bias, const float* mean,
                            const float* var, double eps, int64_t n, float* a, float* b) {
  for (int64_t c = 0; c < n; ++c) {
    const double s = static_cast<double>(scale[c]) / std::sqrt(static_cast<double>(var[c]) + eps);
    a[c] = static_cast<float>(s);
    b[c] = static_cast<float>(static_cast<double>(bias[c]) - static_cast<double>(mean[c]) * s);
  }
}

class BatchNormKernel final : public Kernel {
 public:
  int64_t batch = 0, channels = 0, plane = 0;  // channels: per-activation count when spatial=0
  double epsilon = 1e-5;
  bool known = false;
  std::vector<float> a_, b_;
  ActParams epilogue;
  const NormUkernels* uk = nullptr;  // chosen at plan time
  norm::NormLayout layout = norm::NormLayout::kNchw;

  void run(const KernelRun& r) const override {
    const float* a = a_.data();
    const float* b = b_.data();
    if (!known) {
      float* sa = static_cast<float*>(r.scratch);
      float* sb = sa + round_up(static_cast<size_t>(channels), 16);
      batchnorm_coefficients(r.in(1).as<const float>(), r.in(2).as<const float>(),
                             r.in(3).as<const float>(), r.in(4).as<const float>(), epsilon,
                             channels, sa, sb);
      a = sa;
      b = sb;
    }
    norm::scale_shift_apply(uk, layout, r.in(0).as<const float>(), r.out(0).as<float>(), batch,
                            channels, plane, a, b, epilogue);
  }
  const char* name() const override {
    if (layout == norm::NormLayout::kNhwc) {
      return epilogue.kind == NormAct::kNone ? "batchnorm_nhwc" : "batchnorm_act_nhwc";
    }
    return epilogue.kind == NormAct::kNone ? "batchnorm_nchw" : "batchnorm_act_nchw";
  }
  size_t scratch_bytes() const override {
    return known ? 0 : 2 * round_up(static_cast<size_t>(channels), 16) * sizeof(float);
  }
};

Result<std::unique_ptr<Kernel>> prepare_batchnorm(PrepareContext& ctx) {
  const int opset = ctx.opset();
  const size_t max_outputs = opset >= 14 ? 3 : 5;
  KEEL_RETURN_IF_ERROR(check_arity(ctx, 5, 5, max_outputs));
  if (opset >= 14) {
    KEEL_ASSIGN_OR_RETURN(int64_t training, ctx.node.attr_int("training_mode", 0));
    if (training != 0) {
      return ctx.unsupported_case(
          "training_mode=1 (normalizing with the batch's own statistics and updating the "
          "running mean/var) is not supported; keel runs BatchNormalization in inference mode");
    }
  }
  for (size_t i = 1; i < ctx.node.outputs.size(); ++i) {
    if (output_used(ctx.node, i)) {
      return ctx.unsupported_case("optional output " + std::to_string(i) +
                                  " (running or saved mean/var) is used: only inference mode "
                                  "(output Y alone) is supported");
    }
  }
  if (opset < 7) {
    // is_test=0 (the default) meant training, but without the statistics outputs, which are
    // checked above, only Y is computed and it is the inference result.
    KEEL_ASSIGN_OR_RETURN(int64_t is_test, ctx.node.attr_int("is_test", 0));
    (void)is_test;
  }
  int64_t spatial = 1;
  if (opset < 9) {
    KEEL_ASSIGN_OR_RETURN(spatial, ctx.node.attr_int("spatial", 1));
  }
  KEEL_RETURN_IF_ERROR(check_x(ctx, 2));
  const Shape& shape = ctx.input(0).shape;
  KEEL_ASSIGN_OR_RETURN(float eps, ctx.node.attr_float("epsilon", 1e-5f));
  if (!std::isfinite(eps)) return ctx.invalid("epsilon must be finite, got " + num(eps));

  auto k = std::make_unique<BatchNormKernel>();
  k->uk = norm_ukernels_active();
  k->epilogue = ctx.node.decisions.activation;
  k->batch = shape[0];
  k->epsilon = eps;
  const char* names[] = {"X", "scale", "B", "mean", "var"};
  Shape want = {shape[1]};
  std::string why = "one value per channel";
  KEEL_ASSIGN_OR_RETURN(const bool nhwc, runs_nhwc(ctx));
  k->channels = shape[1];
  k->plane = product(shape, 2, shape.size());
  if (nhwc) {
    if (spatial == 0) return ctx.unsupported_case("spatial=0 on NHWC data");
    k->layout = norm::NormLayout::kNhwc;
    k->channels = shape[3];
    k->plane = shape[1] * shape[2];
    want = {shape[3]};
  }
  if (spatial == 0 && k->plane != 1) {
    // Per-activation statistics (BatchNormalization-1..7, spatial=0): parameters [C, D1..Dn].
    want.assign(shape.begin() + 1, shape.end());
    why = "spatial=0: one value per activation";
    k->channels = product(shape, 1, shape.size());
    k->plane = 1;
  }
  bool all_known = true;
  for (size_t i = 1; i < 5; ++i) {
    KEEL_RETURN_IF_ERROR(check_param(ctx, i, names[i], want, why));
    all_known = all_known && ctx.input(i).value != nullptr;
  }
  if (all_known) {
    const auto c = static_cast<size_t>(k->channels);
    k->known = true;
    k->a_.resize(c);
    k->b_.resize(c);
    const float* var = ctx.input(4).value->data_as<float>();
    for (size_t i = 0; i < c; ++i) {
      const double v = static_cast<double>(var[i]) + eps;
      if (!(v > 0.0)) {
        return ctx.invalid("var[" + std::to_string(i) + "] + epsilon = " + num(v) +
                           " is not positive");
      }
    }
    batchnorm_coefficients(
        ctx.input(1).value->data_as<float>(), ctx.input(2).value->data_as<float>(),
        ctx.input(3).value->data_as<float>(), var, eps, k->channels, k->a_.data(), k->b_.data());
    for (size_t i = 0; i < c; ++i) {
      if (!std::isfinite(k->a_[i]) || !std::isfinite(k->b_[i])) {
        return ctx.invalid("channel " + std::to_string(i) +
                           ": scale / sqrt(var + epsilon) or its shift is not finite (a=" +
                           num(k->a_[i]) + ", b=" + num(k->b_[i]) + ")");
      }
    }
  }
  ctx.set_output(0, kF32, shape);
  ctx.inplace_of[0] = 0;
  return std::unique_ptr<Kernel>(std::move(k));
}

// ---------------------------------------------------------------------------------------------
// LRN across channels: y = x / (bias + alpha / size * sum of x^2 over the channel window)^beta,
// window [c - floor((size-1)/2), c + ceil((size-1)/2)] clipped to [0, C).

constexpr int64_t kLrnBlock = 1024;

class LrnKernel final : public Kernel {
 public:
  int64_t batch = 0, channels = 0, plane = 0, size = 1;
  float alpha_over_size = 0, beta = 0, bias = 0;
  bool nhwc = false;
  const NormUkernels* uk = nullptr;  // chosen at plan time

  void run(const KernelRun& r) const override {
    const float* x = r.in(0).as<const float>();
    float* y = r.out(0).as<float>();
    if (nhwc) {
      run_nhwc(x, y);
      return;
    }
    const int64_t before = (size - 1) / 2, after = size - 1 - before;
    const int64_t blocks = (plane + kLrnBlock - 1) / kLrnBlock;
    const int64_t window = std::min(size, channels);
    parallel_for(batch * channels * blocks, (window + 4) * std::min(plane, kLrnBlock),
                 [&](int64_t i0, int64_t i1) {
                   float acc[kLrnBlock];
                   for (int64_t i = i0; i < i1; ++i) {
                     const int64_t p = i / blocks;  // plane index n * C + c
                     const int64_t c = p % channels;
                     const int64_t n0 = p - c;
                     const int64_t s0 = (i % blocks) * kLrnBlock;
                     const int64_t m = std::min(kLrnBlock, plane - s0);
                     std::fill(acc, acc + m, 0.0f);
                     const int64_t lo = std::max<int64_t>(0, c - before);
                     const int64_t hi = std::min<int64_t>(channels - 1, c + after);
                     for (int64_t j = lo; j <= hi; ++j) {
                       const float* xj = x + (n0 + j) * plane + s0;
                       for (int64_t t = 0; t < m; ++t) acc[t] += xj[t] * xj[t];
                     }
                     const float* xp = x + p * plane + s0;
                     float* yp = y + p * plane + s0;
                     finish(xp, acc, yp, m);
                   }
                 });
  }

  // NHWC: the channel window is contiguous. Each sum adds the same squares in the same order
  // as the NCHW path, so both layouts give the same bits.
  void run_nhwc(const float* x, float* y) const {
    const int64_t before = (size - 1) / 2, after = size - 1 - before;
    const int64_t window = std::min(size, channels);
    parallel_for(batch * plane, (window + 4) * channels, [&](int64_t p0, int64_t p1) {
      float acc[kLrnBlock];
      for (int64_t p = p0; p < p1; ++p) {
        const float* xp = x + p * channels;
        float* yp = y + p * channels;
        for (int64_t c0 = 0; c0 < channels; c0 += kLrnBlock) {
          const int64_t m = std::min(kLrnBlock, channels - c0);
          for (int64_t t = 0; t < m; ++t) {
            const int64_t c = c0 + t;
            const int64_t lo = std::max<int64_t>(0, c - before);
            const int64_t hi = std::min<int64_t>(channels - 1, c + after);
            float a = 0.0f;
            for (int64_t j = lo; j <= hi; ++j) a += xp[j] * xp[j];
            acc[t] = a;
          }
          finish(xp + c0, acc, yp + c0, m);
        }
      }
    });
  }

  // y = x * (bias + alpha/size * acc)^-beta: the per-ISA ukernel for beta 0.75, 0.5 and 1
  // (square roots and divisions), pow otherwise.
  void finish(const float* x, const float* acc, float* y, int64_t m) const {
    const int32_t mode = beta == 0.75f ? 0 : beta == 0.5f ? 1 : beta == 1.0f ? 2 : 3;
    if (mode < 3) {
      uk->lrn_finish(x, acc, y, m, bias, alpha_over_size, mode);
      return;
    }
    for (int64_t t = 0; t < m; ++t) y[t] = x[t] * std::pow(bias + alpha_over_size * acc[t], -beta);
  }
  const char* name() const override { return nhwc ? "lrn_nhwc" : "lrn_nchw"; }
};

Result<std::unique_ptr<Kernel>> prepare_lrn(PrepareContext& ctx) {
  KEEL_RETURN_IF_ERROR(check_arity(ctx, 1, 1, 1));
  KEEL_RETURN_IF_ERROR(check_x(ctx, 2));
  const Shape& shape = ctx.input(0).shape;
  if (!ctx.node.has_attribute("size")) return ctx.invalid("attribute size is missing");
  KEEL_ASSIGN_OR_RETURN(int64_t size, ctx.node.attr_int("size", 0));
  if (size <= 0) return ctx.invalid("size must be > 0, got " + std::to_string(size));
  KEEL_ASSIGN_OR_RETURN(float alpha, ctx.node.attr_float("alpha", 1e-4f));
  KEEL_ASSIGN_OR_RETURN(float beta, ctx.node.attr_float("beta", 0.75f));
  KEEL_ASSIGN_OR_RETURN(float bias, ctx.node.attr_float("bias", 1.0f));
  if (!std::isfinite(alpha) || !std::isfinite(beta) || !std::isfinite(bias)) {
    return ctx.invalid("alpha, beta and bias must be finite (got " + num(alpha) + ", " + num(beta) +
                       ", " + num(bias) + ")");
  }
  KEEL_ASSIGN_OR_RETURN(const bool nhwc, runs_nhwc(ctx));
  auto k = std::make_unique<LrnKernel>();
  k->uk = norm_ukernels_active();
  k->nhwc = nhwc;
  k->batch = shape[0];
  k->channels = shape[nhwc ? 3 : 1];
  k->plane = nhwc ? shape[1] * shape[2] : product(shape, 2, shape.size());
  k->size = size;
  k->alpha_over_size = static_cast<float>(static_cast<double>(alpha) / static_cast<double>(size));
  k->beta = beta;
  k->bias = bias;
  ctx.set_output(0, kF32, shape);
  return std::unique_ptr<Kernel>(std::move(k));
}

}  // namespace

void register_normalization_kernels(KernelRegistry& r) {
  r.add("BatchNormalization", prepare_batchnorm, 1);
  r.add(kFusedBatchNorm, prepare_batchnorm, 1, kNewestVettedOpset, kKeelDomain);
  r.add("LayerNormalization", prepare_layernorm, 17);
  r.add("RMSNormalization", prepare_rmsnorm, 23);
  r.add("InstanceNormalization", prepare_instancenorm, 1);
  r.add("GroupNormalization", prepare_groupnorm, 18);
  r.add("MeanVarianceNormalization", prepare_mvn, 9);
  r.add("LRN", prepare_lrn, 1);
}

}  // namespace keel
