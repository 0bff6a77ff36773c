// Ops that move elements without computing on them: Transpose, Concat, Split, Slice, Gather,
// Pad, Tile. All are dtype-agnostic (elements are moved by their byte size), so the same code
// serves float32 activations and the int64 shape subgraphs folded at plan time.
#include <algorithm>
#include <cstring>
#include <set>

#include "core/run_failure.hpp"
#include "exec/parallel.hpp"
#include "kernels/plan_values.hpp"
#include "kernels/registry.hpp"
#include "kernels/strided_copy.hpp"

namespace keel {
namespace {

using KernelResult = Result<std::unique_ptr<Kernel>>;

Status check_data_input(PrepareContext& ctx, size_t i) {
  if (!ctx.has_input(i))
    return ctx.invalid("input " + std::to_string(i) + " is required but missing");
  if (!dtype_is_supported(ctx.input(i).dtype)) {
    return ctx.unsupported_case("input " + std::to_string(i) + " has unsupported type " +
                                dtype_name(ctx.input(i).dtype));
  }
  return Status::ok();
}

Result<std::vector<int64_t>> known_ints(PrepareContext& ctx, size_t i, const char* what) {
  const Tensor* t = ctx.require_value(i);
  if (!t) return ctx.require_value_status(i);
  if (t->rank() > 1) {
    return ctx.invalid(std::string(what) + " must be a 1-D tensor, found shape " +
                       shape_to_string(t->shape()));
  }
  auto v = read_int_values(*t);
  if (!v) {
    return ctx.invalid(std::string(what) + " must be int32 or int64, found " +
                       dtype_name(t->dtype()));
  }
  return std::move(*v);
}

Result<int64_t> axis_attr(PrepareContext& ctx, int64_t default_axis, int64_t rank) {
  KEEL_ASSIGN_OR_RETURN(int64_t axis, ctx.node.attr_int("axis", default_axis));
  auto n = normalize_axis(axis, rank);
  if (!n) {
    return ctx.invalid("axis " + std::to_string(axis) + " is out of range for rank " +
                       std::to_string(rank));
  }
  return *n;
}

int64_t product(const Shape& s, size_t begin, size_t end) {
  int64_t p = 1;
  for (size_t i = begin; i < end; ++i) p *= s[i];
  return p;
}

// --- Transpose -------------------------------------------------------------------------

KernelResult make_transpose(PrepareContext& ctx) {
  KEEL_RETURN_IF_ERROR(check_data_input(ctx, 0));
  const Shape& in = ctx.input(0).shape;
  const auto rank = static_cast<int64_t>(in.size());
  std::vector<int64_t> perm;
  if (ctx.node.has_attribute("perm")) {
    KEEL_ASSIGN_OR_RETURN(perm, ctx.node.attr_ints("perm"));
    if (static_cast<int64_t>(perm.size()) != rank) {
      return ctx.invalid("perm " + shape_to_string(perm) + " has " + std::to_string(perm.size()) +
                         " entries, the input has rank " + std::to_string(rank));
    }
    std::vector<bool> seen(in.size(), false);
    for (int64_t& p : perm) {
      // Negative entries are not in the spec but are read as Python would by some exporters.
      if (p < 0 || p >= rank || seen[static_cast<size_t>(p)]) {
        return ctx.invalid("perm " + shape_to_string(perm) + " is not a permutation of [0, " +
                           std::to_string(rank) + ")");
      }
      seen[static_cast<size_t>(p)] = true;
    }
  } else {
    for (int64_t i = rank - 1; i >= 0; --i) perm.push_back(i);
  }
  const std::vector<int64_t> strides = contiguous_strides(in);
  Shape out(in.size());
  std::vector<int64_t> read_strides(in.size());
  for (size_t i = 0; i < in.size(); ++i) {
    out[i] = in[static_cast<size_t>(perm[i])];
    read_strides[i] = strides[static_cast<size_t>(perm[i])];
  }
  const DataType dtype = ctx.input(0).dtype;
  ctx.set_output(0, dtype, out);
  StridedCopy copy(dtype_size(dtype), out, read_strides, 0);
  return std::unique_ptr<Kernel>(std::make_unique<StridedCopyKernel>("transpose", std::move(copy)));
}

// --- Concat / Split --------------------------------------------------------------------

// Concat and Split move `outer` blocks per tensor; the block of tensor k has bytes[k] bytes.
class ConcatKernel final : public Kernel {
 public:
  ConcatKernel(int64_t outer, std::vector<int64_t> bytes, bool split)
      : outer_(outer), bytes_(std::move(bytes)), split_(split) {
    offsets_.push_back(0);
    for (int64_t b : bytes_) offsets_.push_back(offsets_.back() + b);
  }
  void run(const KernelRun& r) const override {
    const auto parts = static_cast<int64_t>(bytes_.size());
    const int64_t row = offsets_.back();
    parallel_for(outer_ * parts, row / parts + 1, [&](int64_t begin, int64_t end) {
      for (int64_t t = begin; t < end; ++t) {
        const int64_t o = t / parts;
        const auto k = static_cast<size_t>(t % parts);
        const int64_t n = bytes_[k];
        if (n == 0) continue;
        if (split_) {
          auto* dst = static_cast<std::byte*>(r.out(k).data);
          if (!dst) continue;  // an omitted optional output
          const auto* src = static_cast<const std::byte*>(r.in(0).data);
          std::memcpy(dst + o * n, src + o * row + offsets_[k], static_cast<size_t>(n));
        } else {
          auto* dst = static_cast<std::byte*>(r.out(0).data);
          const auto* src = static_cast<const std::byte*>(r.in(k).data);
          std::memcpy(dst + o * row + offsets_[k], src + o * n, static_cast<size_t>(n));
        }
      }
    });
  }
  const char* name() const override { return split_ ? "split" : "concat"; }

 private:
  int64_t outer_;
  std::vector<int64_t> bytes_;
  std::vector<int64_t> offsets_;
  bool split_;
};

KernelResult make_concat(PrepareContext& ctx) {
  if (ctx.num_inputs() == 0) return ctx.invalid("needs at least one input");
  for (size_t i = 0; i < ctx.num_inputs(); ++i) KEEL_RETURN_IF_ERROR(check_data_input(ctx, i));
  const Shape& first = ctx.input(0).shape;
  const DataType dtype = ctx.input(0).dtype;
  const auto rank = static_cast<int64_t>(first.size());
  if (rank == 0) return ctx.invalid("inputs must have rank >= 1");
  // Concat-1 defaults the axis to 1; later versions require it.
  if (ctx.opset() >= 4 && !ctx.node.has_attribute("axis")) {
    return ctx.invalid("attribute 'axis' is required");
  }
  KEEL_ASSIGN_OR_RETURN(int64_t axis, axis_attr(ctx, 1, rank));
  const auto ax = static_cast<size_t>(axis);
  Shape out = first;
  out[ax] = 0;
  for (size_t i = 0; i < ctx.num_inputs(); ++i) {
    const Shape& s = ctx.input(i).shape;
    if (ctx.input(i).dtype != dtype) {
      return ctx.invalid("input " + std::to_string(i) + " has type " +
                         dtype_name(ctx.input(i).dtype) + ", input 0 has " + dtype_name(dtype));
    }
    bool ok = s.size() == first.size();
    for (size_t d = 0; ok && d < s.size(); ++d) ok = d == ax || s[d] == first[d];
    if (!ok) {
      return ctx.invalid("input " + std::to_string(i) + " has shape " + shape_to_string(s) +
                         ", incompatible with input 0 " + shape_to_string(first) + " on axis " +
                         std::to_string(axis));
    }
    out[ax] += s[ax];
  }
  if (!checked_numel(out)) return ctx.invalid("output shape overflows");
  const auto es = static_cast<int64_t>(dtype_size(dtype));
  const int64_t inner = product(first, ax + 1, first.size()) * es;
  std::vector<int64_t> bytes;
  for (size_t i = 0; i < ctx.num_inputs(); ++i) bytes.push_back(ctx.input(i).shape[ax] * inner);
  ctx.set_output(0, dtype, out);
  return std::unique_ptr<Kernel>(
      std::make_unique<ConcatKernel>(product(first, 0, ax), std::move(bytes), false));
}

KernelResult make_split(PrepareContext& ctx) {
  KEEL_RETURN_IF_ERROR(check_data_input(ctx, 0));
  const Shape& in = ctx.input(0).shape;
  const auto rank = static_cast<int64_t>(in.size());
  if (rank == 0) return ctx.invalid("input must have rank >= 1");
  KEEL_ASSIGN_OR_RETURN(int64_t axis, axis_attr(ctx, 0, rank));
  const auto ax = static_cast<size_t>(axis);
  const auto num_outputs = static_cast<int64_t>(ctx.node.outputs.size());
  if (num_outputs == 0) return ctx.invalid("needs at least one output");
  const int64_t dim = in[ax];
  std::vector<int64_t> split;
  bool have_split = false;
  if (ctx.opset() >= 13 || (ctx.opset() < 2 && ctx.has_input(1))) {
    if (ctx.has_input(1)) {
      have_split = true;
      KEEL_ASSIGN_OR_RETURN(split, known_ints(ctx, 1, "split"));
    }
  } else if (ctx.node.has_attribute("split")) {
    have_split = true;
    KEEL_ASSIGN_OR_RETURN(split, ctx.node.attr_ints("split"));
  }
  const bool has_num = ctx.opset() >= 18 && ctx.node.has_attribute("num_outputs");
  if (have_split && has_num) return ctx.invalid("give either 'split' or 'num_outputs', not both");
  if (have_split) {
    if (static_cast<int64_t>(split.size()) != num_outputs) {
      return ctx.invalid("split has " + std::to_string(split.size()) + " entries for " +
                         std::to_string(num_outputs) + " outputs");
    }
    int64_t sum = 0;
    for (int64_t s : split) {
      if (s < 0) return ctx.invalid("split " + shape_to_string(split) + " has a negative entry");
      if (s > dim - sum) {  // sum <= dim so far: no overflow
        return ctx.invalid("split " + shape_to_string(split) + " sums to more than the axis size " +
                           std::to_string(dim));
      }
      sum += s;
    }
    if (sum != dim) {
      return ctx.invalid("split " + shape_to_string(split) + " sums to " + std::to_string(sum) +
                         ", the axis has size " + std::to_string(dim));
    }
  } else {
    int64_t parts = num_outputs;
    if (has_num) {
      KEEL_ASSIGN_OR_RETURN(parts, ctx.node.attr_int("num_outputs", 0));
      if (parts != num_outputs) {
        return ctx.invalid("num_outputs=" + std::to_string(parts) + " but the node has " +
                           std::to_string(num_outputs) + " outputs");
      }
    } else if (ctx.opset() >= 18) {
      return ctx.invalid("either input 'split' or attribute 'num_outputs' is required");
    }
    if (dim % parts == 0) {
      split.assign(static_cast<size_t>(parts), dim / parts);
    } else if (has_num) {
      // Opset 18: ceil(dim / n) per output, the last one takes what is left.
      const int64_t chunk = dim / parts + 1;
      split.assign(static_cast<size_t>(parts), chunk);
      split.back() = dim - chunk * (parts - 1);
      if (split.back() < 0) {
        return ctx.invalid("cannot split size " + std::to_string(dim) + " into " +
                           std::to_string(parts) + " chunks of " + std::to_string(chunk));
      }
    } else {
      return ctx.invalid("axis size " + std::to_string(dim) + " does not divide into " +
                         std::to_string(parts) + " equal parts");
    }
  }
  const DataType dtype = ctx.input(0).dtype;
  const auto es = static_cast<int64_t>(dtype_size(dtype));
  const int64_t inner = product(in, ax + 1, in.size()) * es;
  std::vector<int64_t> bytes;
  for (size_t k = 0; k < split.size(); ++k) {
    Shape s = in;
    s[ax] = split[k];
    ctx.set_output(k, dtype, s);
    bytes.push_back(split[k] * inner);
  }
  return std::unique_ptr<Kernel>(
      std::make_unique<ConcatKernel>(product(in, 0, ax), std::move(bytes), true));
}

// --- Slice -----------------------------------------------------------------------------

KernelResult make_slice(PrepareContext& ctx) {
  KEEL_RETURN_IF_ERROR(check_data_input(ctx, 0));
  const Shape& in = ctx.input(0).shape;
  const auto rank = static_cast<int64_t>(in.size());
  std::vector<int64_t> starts, ends, axes, steps;
  bool have_axes = false, have_steps = false;
  if (ctx.opset() < 10) {
    if (!ctx.node.has_attribute("starts") || !ctx.node.has_attribute("ends")) {
      return ctx.invalid("attributes 'starts' and 'ends' are required");
    }
    KEEL_ASSIGN_OR_RETURN(starts, ctx.node.attr_ints("starts"));
    KEEL_ASSIGN_OR_RETURN(ends, ctx.node.attr_ints("ends"));
    have_axes = ctx.node.has_attribute("axes");
    KEEL_ASSIGN_OR_RETURN(axes, ctx.node.attr_ints("axes"));
  } else {
    if (!ctx.has_input(1) || !ctx.has_input(2))
      return ctx.invalid("inputs starts and ends are required");
    KEEL_ASSIGN_OR_RETURN(starts, known_ints(ctx, 1, "starts"));
    KEEL_ASSIGN_OR_RETURN(ends, known_ints(ctx, 2, "ends"));
    if (ctx.has_input(3)) {
      have_axes = true;
      KEEL_ASSIGN_OR_RETURN(axes, known_ints(ctx, 3, "axes"));
    }
    if (ctx.has_input(4)) {
      have_steps = true;
      KEEL_ASSIGN_OR_RETURN(steps, known_ints(ctx, 4, "steps"));
    }
  }
  if (starts.size() != ends.size()) return ctx.invalid("starts and ends differ in length");
  if (!have_axes) {
    axes.clear();
    for (size_t i = 0; i < starts.size(); ++i) axes.push_back(static_cast<int64_t>(i));
  }
  if (!have_steps) steps.assign(starts.size(), 1);
  if (axes.size() != starts.size() || steps.size() != starts.size()) {
    return ctx.invalid("starts, ends, axes and steps must have the same length");
  }
  KEEL_ASSIGN_OR_RETURN(std::vector<int64_t> norm, normalize_axes(ctx, axes, rank));
  const std::vector<int64_t> in_strides = contiguous_strides(in);
  Shape out = in;
  std::vector<int64_t> read_strides = in_strides;
  int64_t offset = 0;
  for (size_t i = 0; i < norm.size(); ++i) {
    const auto a = static_cast<size_t>(norm[i]);
    const int64_t dim = in[a];
    const int64_t step = steps[i];
    if (step == 0) return ctx.invalid("steps must be non-zero");
    int64_t start = starts[i];
    int64_t end = ends[i];
    if (start < 0) start += dim;
    if (end < 0) end += dim;
    int64_t count = 0;
    if (dim > 0) {
      if (step > 0) {
        start = std::clamp<int64_t>(start, 0, dim);
        end = std::clamp<int64_t>(end, 0, dim);
        if (end > start) count = (end - start - 1) / step + 1;
      } else {
        start = std::clamp<int64_t>(start, 0, dim - 1);
        end = std::clamp<int64_t>(end, -1, dim - 1);
        // step may be INT64_MIN: negate in unsigned arithmetic.
        const uint64_t neg = static_cast<uint64_t>(-(step + 1)) + 1;
        if (start > end)
          count = static_cast<int64_t>(static_cast<uint64_t>(start - end - 1) / neg) + 1;
      }
    }
    out[a] = count;
    if (count > 0) {
      offset += start * in_strides[a];
      read_strides[a] = count > 1 ? in_strides[a] * step : in_strides[a];
    }
  }
  const DataType dtype = ctx.input(0).dtype;
  ctx.set_output(0, dtype, out);
  StridedCopy copy(dtype_size(dtype), out, read_strides, offset);
  return std::unique_ptr<Kernel>(std::make_unique<StridedCopyKernel>("slice", std::move(copy)));
}

// --- Gather ----------------------------------------------------------------------------

// out[o, k, i] = data[o, indices[k], i]. An out-of-range index (only possible when the indices
// are a run-time tensor; known indices are checked at plan time) fails the run with
// INVALID_ARGUMENT naming the index (core/run_failure.hpp); its slice is zeroed, never read
// from outside the input.
class GatherKernel final : public Kernel {
 public:
  GatherKernel(int64_t outer, int64_t axis_dim, int64_t inner_bytes, bool idx64)
      : outer_(outer), axis_dim_(axis_dim), inner_bytes_(inner_bytes), idx64_(idx64) {}
  void run(const KernelRun& r) const override {
    const int64_t n = r.in(1).numel;
    const auto* src = static_cast<const std::byte*>(r.in(0).data);
    auto* dst = static_cast<std::byte*>(r.out(0).data);
    const void* idx = r.in(1).data;
    const auto ib = static_cast<size_t>(inner_bytes_);
    parallel_for(outer_ * n, inner_bytes_ / 4 + 1, [&](int64_t begin, int64_t end) {
      for (int64_t t = begin; t < end; ++t) {
        const int64_t o = t / n;
        const int64_t k = t % n;
        int64_t j =
            idx64_ ? static_cast<const int64_t*>(idx)[k] : static_cast<const int32_t*>(idx)[k];
        if (j < 0) j += axis_dim_;
        std::byte* d = dst + t * inner_bytes_;
        if (j < 0 || j >= axis_dim_) {
          std::memset(d, 0, ib);
          const int64_t given =
              idx64_ ? static_cast<const int64_t*>(idx)[k] : static_cast<const int32_t*>(idx)[k];
          report_run_failure(invalid_argument("index " + std::to_string(given) + " (position " +
                                              std::to_string(k) + " of the indices) is out of " +
                                              "range for an axis of size " +
                                              std::to_string(axis_dim_)));
        } else {
          std::memcpy(d, src + (o * axis_dim_ + j) * inner_bytes_, ib);
        }
      }
    });
  }
  const char* name() const override { return "gather"; }

 private:
  int64_t outer_, axis_dim_, inner_bytes_;
  bool idx64_;
};

KernelResult make_gather(PrepareContext& ctx) {
  KEEL_RETURN_IF_ERROR(check_data_input(ctx, 0));
  KEEL_RETURN_IF_ERROR(ctx.check_input(1, {DataType::kInt64, DataType::kInt32}));
  const Shape& in = ctx.input(0).shape;
  const Shape& idx_shape = ctx.input(1).shape;
  const auto rank = static_cast<int64_t>(in.size());
  if (rank == 0) return ctx.invalid("data must have rank >= 1");
  KEEL_ASSIGN_OR_RETURN(int64_t axis, axis_attr(ctx, 0, rank));
  const auto ax = static_cast<size_t>(axis);
  const int64_t dim = in[ax];
  if (const Tensor* known = ctx.input(1).value) {
    const std::vector<int64_t> v = *read_int_values(*known);
    for (int64_t j : v) {
      if (j < -dim || j >= dim) {
        return ctx.invalid("index " + std::to_string(j) + " is out of range for axis " +
                           std::to_string(axis) + " of size " + std::to_string(dim));
      }
    }
  }
  Shape out(in.begin(), in.begin() + axis);
  out.insert(out.end(), idx_shape.begin(), idx_shape.end());
  out.insert(out.end(), in.begin() + axis + 1, in.end());
  if (!checked_numel(out)) return ctx.invalid("output shape overflows");
  const DataType dtype = ctx.input(0).dtype;
  ctx.set_output(0, dtype, out);
  const int64_t inner = product(in, ax + 1, in.size()) * static_cast<int64_t>(dtype_size(dtype));
  return std::unique_ptr<Kernel>(std::make_unique<GatherKernel>(
      product(in, 0, ax), dim, inner, ctx.input(1).dtype == DataType::kInt64));
}

// --- Pad -------------------------------------------------------------------------------

enum class PadMode { kConstant, kReflect, kEdge, kWrap };

// Each output coordinate of each dim maps to an input coordinate, or -1 for the constant.
// Negative pads crop the input first; the mode then pads the cropped tensor (as ORT does).
class PadKernel final : public Kernel {
 public:
  PadKernel(size_t elem_size, Shape in, Shape out, std::vector<std::vector<int64_t>> maps,
            const std::byte* value)
      : es_(elem_size), in_(std::move(in)), out_(std::move(out)), maps_(std::move(maps)) {
    std::memcpy(value_, value, elem_size);
    in_strides_ = contiguous_strides(in_);
    // The longest run of the last dim that maps to consecutive input elements.
    const std::vector<int64_t>& m = maps_.back();
    const auto n = static_cast<int64_t>(m.size());
    for (int64_t b = 0; b < n;) {
      int64_t e = b;
      if (m[b] >= 0) {
        while (e + 1 < n && m[e + 1] == m[e] + 1) ++e;
        if (e - b + 1 > run_len_) {
          run_len_ = e - b + 1;
          run_begin_ = b;
        }
      }
      b = e + 1;
    }
  }

  void run(const KernelRun& r) const override {
    const auto* src = static_cast<const std::byte*>(r.in(0).data);
    auto* dst = static_cast<std::byte*>(r.out(0).data);
    const size_t rank = out_.size();
    if (rank == 0) {
      std::memcpy(dst, src, es_);
      return;
    }
    const int64_t inner = out_[rank - 1];
    const int64_t rows = numel(out_) / std::max<int64_t>(inner, 1);
    if (inner == 0) return;
    const std::vector<int64_t>& last = maps_[rank - 1];
    parallel_for(rows, inner, [&](int64_t begin, int64_t end) {
      for (int64_t row = begin; row < end; ++row) {
        std::byte* d = dst + row * inner * static_cast<int64_t>(es_);
        int64_t off = 0;
        bool constant = false;
        int64_t rem = row;
        for (size_t k = rank - 1; k-- > 0;) {
          const int64_t c = rem % out_[k];
          rem /= out_[k];
          const int64_t m = maps_[k][static_cast<size_t>(c)];
          if (m < 0) {
            constant = true;
            break;
          }
          off += m * in_strides_[k];
        }
        if (constant) {
          fill(d, inner);
          continue;
        }
        const std::byte* s = src + off * static_cast<int64_t>(es_);
        for (int64_t x = 0; x < inner;) {
          if (x == run_begin_ && run_len_ > 0) {
            std::memcpy(d + x * es_, s + last[x] * es_, static_cast<size_t>(run_len_) * es_);
            x += run_len_;
            continue;
          }
          if (last[x] < 0) {
            std::memcpy(d + x * es_, value_, es_);
          } else {
            std::memcpy(d + x * es_, s + last[x] * es_, es_);
          }
          ++x;
        }
      }
    });
  }
  const char* name() const override { return "pad"; }

 private:
  void fill(std::byte* d, int64_t n) const {
    for (int64_t i = 0; i < n; ++i) std::memcpy(d + i * es_, value_, es_);
  }

  size_t es_;
  Shape in_, out_;
  std::vector<int64_t> in_strides_;
  std::vector<std::vector<int64_t>> maps_;
  std::byte value_[8] = {};
  int64_t run_begin_ = 0;
  int64_t run_len_ = 0;
};

KernelResult make_pad(PrepareContext& ctx) {
  KEEL_RETURN_IF_ERROR(check_data_input(ctx, 0));
  const Shape& in = ctx.input(0).shape;
  const auto rank = static_cast<int64_t>(in.size());
  const DataType dtype = ctx.input(0).dtype;
  KEEL_ASSIGN_OR_RETURN(std::string mode_name, ctx.node.attr_string("mode", "constant"));
  PadMode mode;
  if (mode_name == "constant") {
    mode = PadMode::kConstant;
  } else if (mode_name == "reflect") {
    mode = PadMode::kReflect;
  } else if (mode_name == "edge") {
    mode = PadMode::kEdge;
  } else if (mode_name == "wrap" && ctx.opset() >= 19) {
    mode = PadMode::kWrap;
  } else {
    return ctx.invalid("unknown mode '" + mode_name + "'");
  }
  std::vector<int64_t> pads, axes;
  std::byte value[8] = {};
  if (ctx.opset() < 11) {
    const char* pads_name = ctx.opset() < 2 ? "paddings" : "pads";
    if (!ctx.node.has_attribute(pads_name)) {
      return ctx.invalid(std::string("attribute '") + pads_name + "' is required");
    }
    KEEL_ASSIGN_OR_RETURN(pads, ctx.node.attr_ints(pads_name));
    KEEL_ASSIGN_OR_RETURN(float v, ctx.node.attr_float("value", 0.0f));
    encode_scalar(v, dtype, value);
  } else {
    if (!ctx.has_input(1)) return ctx.invalid("input 1 (pads) is required");
    KEEL_ASSIGN_OR_RETURN(pads, known_ints(ctx, 1, "pads"));
    if (ctx.has_input(2)) {
      const Tensor* v = ctx.require_value(2);
      if (!v) return ctx.require_value_status(2);
      if (v->numel() != 1 || v->dtype() != dtype) {
        return ctx.invalid("constant_value must be one element of the data's type");
      }
      std::memcpy(value, v->data(), dtype_size(dtype));
    }
    if (ctx.opset() >= 18 && ctx.has_input(3)) {
      KEEL_ASSIGN_OR_RETURN(axes, known_ints(ctx, 3, "axes"));
    }
  }
  std::vector<int64_t> norm_axes;
  if (axes.empty()) {
    for (int64_t i = 0; i < rank; ++i) norm_axes.push_back(i);
  } else {
    KEEL_ASSIGN_OR_RETURN(norm_axes, normalize_axes(ctx, axes, rank));
  }
  if (pads.size() != 2 * norm_axes.size()) {
    return ctx.invalid("pads has " + std::to_string(pads.size()) + " entries, expected " +
                       std::to_string(2 * norm_axes.size()));
  }
  std::vector<int64_t> begin(in.size(), 0), end(in.size(), 0);
  for (size_t i = 0; i < norm_axes.size(); ++i) {
    begin[static_cast<size_t>(norm_axes[i])] = pads[i];
    end[static_cast<size_t>(norm_axes[i])] = pads[norm_axes.size() + i];
  }
  Shape out(in.size());
  std::vector<std::vector<int64_t>> maps(in.size());
  for (size_t d = 0; d < in.size(); ++d) {
    const int64_t n = in[d];
    const int64_t b = begin[d], e = end[d];
    if (b < -n || e < -n || b > (int64_t{1} << 40) || e > (int64_t{1} << 40)) {
      return ctx.invalid("pads " + shape_to_string(pads) + " are out of range for shape " +
                         shape_to_string(in));
    }
    out[d] = n + b + e;
    if (out[d] < 0) {
      return ctx.invalid("pads " + shape_to_string(pads) + " give a negative output dim");
    }
    const int64_t crop = std::max<int64_t>(-b, 0);
    const int64_t m = n - crop - std::max<int64_t>(-e, 0);  // size after cropping
    const int64_t lead = std::max<int64_t>(b, 0);
    if (m <= 0 && out[d] > 0 && mode != PadMode::kConstant) {
      return ctx.invalid("mode '" + mode_name + "' cannot pad an empty axis " + std::to_string(d));
    }
    auto& map = maps[d];
    map.resize(static_cast<size_t>(out[d]));
    for (int64_t o = 0; o < out[d]; ++o) {
      int64_t k = o - lead;
      if (k < 0 || k >= m) {
        switch (mode) {
          case PadMode::kConstant: k = -1; break;
          case PadMode::kEdge: k = std::clamp<int64_t>(k, 0, m - 1); break;
          case PadMode::kWrap: k = ((k % m) + m) % m; break;
          case PadMode::kReflect:
            if (m == 1) {
              k = 0;
            } else {
              const int64_t period = 2 * (m - 1);
              k = ((k % period) + period) % period;
              if (k >= m) k = period - k;
            }
            break;
        }
      }
      map[static_cast<size_t>(o)] = k < 0 ? -1 : k + crop;
    }
  }
  if (!checked_numel(out)) return ctx.invalid("output shape overflows");
  ctx.set_output(0, dtype, out);
  return std::unique_ptr<Kernel>(
      std::make_unique<PadKernel>(dtype_size(dtype), in, out, std::move(maps), value));
}

// --- Tile ------------------------------------------------------------------------------

KernelResult make_tile(PrepareContext& ctx) {
  KEEL_RETURN_IF_ERROR(check_data_input(ctx, 0));
  if (!ctx.has_input(1)) return ctx.invalid("input 1 (repeats) is required");
  KEEL_ASSIGN_OR_RETURN(std::vector<int64_t> repeats, known_ints(ctx, 1, "repeats"));
  const Shape& in = ctx.input(0).shape;
  if (repeats.size() != in.size()) {
    return ctx.invalid("repeats has " + std::to_string(repeats.size()) +
                       " entries, the input has rank " + std::to_string(in.size()));
  }
  // Tile = broadcast copy of the input viewed as [1, d0, 1, d1, ...] to [r0, d0, r1, d1, ...].
  const std::vector<int64_t> strides = contiguous_strides(in);
  Shape out, view_shape;
  std::vector<int64_t> view_strides;
  for (size_t i = 0; i < in.size(); ++i) {
    if (repeats[i] < 0) return ctx.invalid("repeats must be non-negative");
    view_shape.push_back(repeats[i]);
    view_strides.push_back(0);
    view_shape.push_back(in[i]);
    view_strides.push_back(strides[i]);
    auto d = checked_numel({in[i], repeats[i]});
    if (!d) return ctx.invalid("output shape overflows");
    out.push_back(*d);
  }
  if (!checked_numel(out)) return ctx.invalid("output shape overflows");
  const DataType dtype = ctx.input(0).dtype;
  ctx.set_output(0, dtype, out);
  StridedCopy copy(dtype_size(dtype), view_shape, view_strides, 0);
  return std::unique_ptr<Kernel>(std::make_unique<StridedCopyKernel>("tile", std::move(copy)));
}

}  // namespace

void register_data_movement_kernels(KernelRegistry& r) {
  r.add("Transpose", make_transpose);
  r.add("Concat", make_concat);
  r.add("Split", make_split);
  r.add("Slice", make_slice);
  r.add("Gather", make_gather);
  r.add("Pad", make_pad);
  r.add("Tile", make_tile, 6);
}

}  // namespace keel
