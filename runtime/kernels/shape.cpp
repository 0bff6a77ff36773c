// Shape-only ops: views of their input (Reshape, Flatten, Squeeze, Unsqueeze, Identity,
// inference Dropout), ops whose output is known from shapes alone (Shape, Size), and the small
// generators used by shape subgraphs (Expand, ConstantOfShape, Range). All are dtype-agnostic:
// they move bytes by element size.
#include <algorithm>
#include <cmath>
#include <cstring>
#include <set>

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

// Output 0 is input 0's bytes with another shape.
KernelResult make_view(PrepareContext& ctx, Shape shape) {
  ctx.set_output(0, ctx.input(0).dtype, std::move(shape));
  ctx.alias_of[0] = 0;
  return std::unique_ptr<Kernel>(std::make_unique<NoOpKernel>());
}

// Reads a known 1-D (or scalar) int64/int32 input; a missing value is reported through
// require_value_status so the planner can tell "unknown" from "malformed".
Result<std::vector<int64_t>> known_ints(PrepareContext& ctx, size_t i, const char* what) {
  const Tensor* t = ctx.require_value(i);
  if (!t) return ctx.require_value_status(i);
  if (t->rank() > 1) {
    return ctx.invalid(std::string(what) + " must be a 1-D tensor, found shape " +
                       shape_to_string(t->shape()));
  }
  auto v = read_int_values(*t);
  if (!v) return ctx.invalid(std::string(what) + " must be int64, found " + dtype_name(t->dtype()));
  return std::move(*v);
}

// --- Reshape ---------------------------------------------------------------------------

KernelResult make_reshape(PrepareContext& ctx) {
  KEEL_RETURN_IF_ERROR(check_data_input(ctx, 0));
  std::vector<int64_t> target;
  if (ctx.opset() < 5) {
    if (!ctx.node.has_attribute("shape")) return ctx.invalid("attribute 'shape' is required");
    KEEL_ASSIGN_OR_RETURN(target, ctx.node.attr_ints("shape"));
  } else {
    if (!ctx.has_input(1)) return ctx.invalid("input 1 (shape) is required");
    KEEL_ASSIGN_OR_RETURN(target, known_ints(ctx, 1, "shape"));
  }
  KEEL_ASSIGN_OR_RETURN(int64_t allowzero, ctx.node.attr_int("allowzero", 0));
  const Shape& in = ctx.input(0).shape;
  const int64_t in_numel = numel(in);
  Shape out(target.size());
  int64_t infer_at = -1;
  int64_t known = 1;
  bool has_zero = false;
  for (size_t i = 0; i < target.size(); ++i) {
    int64_t d = target[i];
    if (d == -1) {
      if (infer_at >= 0)
        return ctx.invalid("shape " + shape_to_string(target) + " has more than one -1");
      infer_at = static_cast<int64_t>(i);
      continue;
    }
    if (d < -1) return ctx.invalid("shape " + shape_to_string(target) + " has a negative dim");
    if (d == 0 && allowzero == 0) {
      if (i >= in.size()) {
        return ctx.invalid("shape " + shape_to_string(target) + " copies dim " + std::to_string(i) +
                           " (0) but the input " + shape_to_string(in) + " has no such dim");
      }
      d = in[i];
    }
    if (d == 0) has_zero = true;
    out[i] = d;
    if (d != 0) {
      auto p = checked_numel({known, d});
      if (!p) return ctx.invalid("shape " + shape_to_string(target) + " overflows int64");
      known = *p;
    }
  }
  if (infer_at >= 0) {
    if (allowzero != 0 && has_zero) {
      return ctx.invalid("with allowzero=1 the shape may not hold both 0 and -1");
    }
    if (has_zero) {
      // The other dims multiply to 0: -1 is ambiguous unless the input is empty too.
      return ctx.invalid("shape " + shape_to_string(target) + " has -1 beside a 0 dim");
    }
    if (in_numel % known != 0) {
      return ctx.invalid("cannot reshape " + shape_to_string(in) + " to " +
                         shape_to_string(target));
    }
    out[static_cast<size_t>(infer_at)] = in_numel / known;
  }
  if (numel(out) != in_numel || (has_zero && in_numel != 0)) {
    return ctx.invalid("cannot reshape " + shape_to_string(in) + " (" + std::to_string(in_numel) +
                       " elements) to " + shape_to_string(target));
  }
  return make_view(ctx, std::move(out));
}

// --- Flatten ---------------------------------------------------------------------------

KernelResult make_flatten(PrepareContext& ctx) {
  KEEL_RETURN_IF_ERROR(check_data_input(ctx, 0));
  const Shape& in = ctx.input(0).shape;
  const auto rank = static_cast<int64_t>(in.size());
  KEEL_ASSIGN_OR_RETURN(int64_t axis, ctx.node.attr_int("axis", 1));
  const int64_t lo = ctx.opset() >= 11 ? -rank : 0;
  if (axis < lo || axis > rank) {
    return ctx.invalid("axis " + std::to_string(axis) + " is out of range for rank " +
                       std::to_string(rank));
  }
  if (axis < 0) axis += rank;
  int64_t outer = 1;
  int64_t inner = 1;
  for (int64_t i = 0; i < rank; ++i) (i < axis ? outer : inner) *= in[static_cast<size_t>(i)];
  return make_view(ctx, {outer, inner});
}

// --- Squeeze / Unsqueeze ---------------------------------------------------------------

KernelResult make_squeeze(PrepareContext& ctx) {
  KEEL_RETURN_IF_ERROR(check_data_input(ctx, 0));
  const Shape& in = ctx.input(0).shape;
  const auto rank = static_cast<int64_t>(in.size());
  std::vector<int64_t> axes;
  bool have_axes = false;
  if (ctx.opset() < 13) {
    have_axes = ctx.node.has_attribute("axes");
    KEEL_ASSIGN_OR_RETURN(axes, ctx.node.attr_ints("axes"));
  } else if (ctx.has_input(1)) {
    have_axes = true;
    KEEL_ASSIGN_OR_RETURN(axes, known_ints(ctx, 1, "axes"));
  }
  std::vector<bool> drop(in.size(), false);
  if (have_axes) {
    KEEL_ASSIGN_OR_RETURN(std::vector<int64_t> norm, normalize_axes(ctx, axes, rank));
    for (int64_t a : norm) {
      if (in[static_cast<size_t>(a)] != 1) {
        return ctx.invalid("cannot squeeze axis " + std::to_string(a) + " of shape " +
                           shape_to_string(in) + ": its size is not 1");
      }
      drop[static_cast<size_t>(a)] = true;
    }
  } else {
    for (size_t i = 0; i < in.size(); ++i) drop[i] = in[i] == 1;
  }
  Shape out;
  for (size_t i = 0; i < in.size(); ++i) {
    if (!drop[i]) out.push_back(in[i]);
  }
  return make_view(ctx, std::move(out));
}

KernelResult make_unsqueeze(PrepareContext& ctx) {
  KEEL_RETURN_IF_ERROR(check_data_input(ctx, 0));
  const Shape& in = ctx.input(0).shape;
  std::vector<int64_t> axes;
  if (ctx.opset() < 13) {
    if (!ctx.node.has_attribute("axes")) return ctx.invalid("attribute 'axes' is required");
    KEEL_ASSIGN_OR_RETURN(axes, ctx.node.attr_ints("axes"));
  } else {
    if (!ctx.has_input(1)) return ctx.invalid("input 1 (axes) is required");
    KEEL_ASSIGN_OR_RETURN(axes, known_ints(ctx, 1, "axes"));
  }
  const auto out_rank = static_cast<int64_t>(in.size() + axes.size());
  KEEL_ASSIGN_OR_RETURN(std::vector<int64_t> norm, normalize_axes(ctx, axes, out_rank));
  std::vector<bool> inserted(static_cast<size_t>(out_rank), false);
  for (int64_t a : norm) inserted[static_cast<size_t>(a)] = true;
  Shape out;
  size_t next = 0;
  for (int64_t i = 0; i < out_rank; ++i) {
    out.push_back(inserted[static_cast<size_t>(i)] ? 1 : in[next++]);
  }
  return make_view(ctx, std::move(out));
}

// --- Identity / Dropout ----------------------------------------------------------------

KernelResult make_identity(PrepareContext& ctx) {
  KEEL_RETURN_IF_ERROR(check_data_input(ctx, 0));
  return make_view(ctx, ctx.input(0).shape);
}

KernelResult make_dropout(PrepareContext& ctx) {
  KEEL_RETURN_IF_ERROR(check_data_input(ctx, 0));
  if (ctx.opset() >= 12 && ctx.has_input(2)) {
    const Tensor* training = ctx.require_value(2);
    if (!training) return ctx.require_value_status(2);
    auto flag = read_scalar_as_double(*training);
    if (!flag || training->dtype() != DataType::kBool) {
      return ctx.invalid("training_mode must be a bool scalar");
    }
    if (*flag != 0.0) {
      double ratio = 0.5;
      if (ctx.has_input(1)) {
        const Tensor* r = ctx.require_value(1);
        if (!r) return ctx.require_value_status(1);
        auto v = read_scalar_as_double(*r);
        if (!v) return ctx.invalid("ratio must be a scalar");
        ratio = *v;
      }
      if (ratio != 0.0) {
        return ctx.unsupported_case("training_mode=true with ratio " + std::to_string(ratio) +
                                    " (random dropout) is not supported by an inference runtime");
      }
    }
  }
  const DataType dtype = ctx.input(0).dtype;
  const Shape shape = ctx.input(0).shape;
  if (ctx.node.has_output(1)) {
    // Nothing is dropped in inference: the mask is all true (all ones before opset 10,
    // where it has the data's type).
    const DataType mask_type = ctx.opset() >= 10 ? DataType::kBool : dtype;
    KEEL_ASSIGN_OR_RETURN(Tensor mask, Tensor::allocate(mask_type, shape));
    const size_t es = dtype_size(mask_type);
    std::byte one[8];
    encode_scalar(1.0, mask_type, one);
    auto* p = static_cast<std::byte*>(mask.data());
    for (int64_t i = 0; i < mask.numel(); ++i) std::memcpy(p + i * es, one, es);
    ctx.set_output(1, mask_type, shape);
    ctx.output_values[1] = std::move(mask);
  }
  return make_view(ctx, shape);
}

// --- Shape / Size ----------------------------------------------------------------------

KernelResult make_shape(PrepareContext& ctx) {
  if (!ctx.has_input(0)) return ctx.invalid("input 0 is required but missing");
  const Shape& in = ctx.input(0).shape;
  const auto rank = static_cast<int64_t>(in.size());
  int64_t start = 0;
  int64_t end = rank;
  if (ctx.opset() >= 15) {
    KEEL_ASSIGN_OR_RETURN(start, ctx.node.attr_int("start", 0));
    KEEL_ASSIGN_OR_RETURN(end, ctx.node.attr_int("end", rank));
  }
  if (start < 0) start += rank;
  if (end < 0) end += rank;
  start = std::clamp<int64_t>(start, 0, rank);
  end = std::clamp<int64_t>(end, 0, rank);
  std::vector<int64_t> dims;
  for (int64_t i = start; i < end; ++i) dims.push_back(in[static_cast<size_t>(i)]);
  const auto n = static_cast<int64_t>(dims.size());
  ctx.set_output(0, DataType::kInt64, {n});
  ctx.output_values[0] = Tensor::from_vector<int64_t>({n}, dims);
  return std::unique_ptr<Kernel>(std::make_unique<NoOpKernel>());
}

KernelResult make_size(PrepareContext& ctx) {
  if (!ctx.has_input(0)) return ctx.invalid("input 0 is required but missing");
  ctx.set_output(0, DataType::kInt64, {});
  ctx.output_values[0] = Tensor::scalar<int64_t>(numel(ctx.input(0).shape));
  return std::unique_ptr<Kernel>(std::make_unique<NoOpKernel>());
}

// --- Expand ----------------------------------------------------------------------------

KernelResult make_expand(PrepareContext& ctx) {
  KEEL_RETURN_IF_ERROR(check_data_input(ctx, 0));
  if (!ctx.has_input(1)) return ctx.invalid("input 1 (shape) is required");
  KEEL_ASSIGN_OR_RETURN(std::vector<int64_t> target, known_ints(ctx, 1, "shape"));
  const Shape& in = ctx.input(0).shape;
  const size_t rank = std::max(in.size(), target.size());
  Shape out(rank);
  for (size_t i = 0; i < rank; ++i) {
    const int64_t a = i + in.size() >= rank ? in[i + in.size() - rank] : 1;
    const int64_t b = i + target.size() >= rank ? target[i + target.size() - rank] : 1;
    if (b < 0) return ctx.invalid("shape " + shape_to_string(target) + " has a negative dim");
    if (a != b && a != 1 && b != 1) {
      return ctx.invalid("cannot expand " + shape_to_string(in) + " to " + shape_to_string(target));
    }
    out[i] = a == 1 ? b : a;
  }
  if (!checked_numel(out))
    return ctx.invalid("output shape " + shape_to_string(out) + " overflows");
  const DataType dtype = ctx.input(0).dtype;
  ctx.set_output(0, dtype, out);
  StridedCopy copy(dtype_size(dtype), out, broadcast_strides(in, out), 0);
  return std::unique_ptr<Kernel>(std::make_unique<StridedCopyKernel>("expand", std::move(copy)));
}

// --- ConstantOfShape -------------------------------------------------------------------

class FillKernel final : public Kernel {
 public:
  FillKernel(size_t elem_size, const void* value) : elem_size_(elem_size) {
    std::memcpy(value_, value, elem_size);
  }
  void run(const KernelRun& r) const override {
    auto* out = static_cast<std::byte*>(r.out(0).data);
    const int64_t n = r.out(0).numel;
    const size_t es = elem_size_;
    bool zero = true;
    for (size_t i = 0; i < es; ++i) zero = zero && value_[i] == std::byte{0};
    parallel_for(n, 1, [&](int64_t b, int64_t e) {
      if (zero) {
        std::memset(out + b * es, 0, static_cast<size_t>(e - b) * es);
        return;
      }
      for (int64_t i = b; i < e; ++i) std::memcpy(out + i * es, value_, es);
    });
  }
  const char* name() const override { return "fill"; }

 private:
  size_t elem_size_;
  std::byte value_[8] = {};
};

KernelResult make_constant_of_shape(PrepareContext& ctx) {
  if (!ctx.has_input(0)) return ctx.invalid("input 0 (shape) is required");
  KEEL_ASSIGN_OR_RETURN(std::vector<int64_t> shape, known_ints(ctx, 0, "shape"));
  for (int64_t d : shape) {
    if (d < 0) return ctx.invalid("shape " + shape_to_string(shape) + " has a negative dim");
  }
  if (!checked_numel(shape)) return ctx.invalid("shape " + shape_to_string(shape) + " overflows");
  DataType dtype = DataType::kFloat32;
  std::byte value[8] = {};
  if (const Attribute* a = ctx.node.find_attribute("value")) {
    if (a->kind != AttributeKind::kTensor) return ctx.invalid("attribute 'value' must be a tensor");
    if (a->t.numel() != 1) return ctx.invalid("attribute 'value' must hold exactly one element");
    dtype = a->t.dtype();
    if (!dtype_is_supported(dtype)) {
      return ctx.unsupported_case("value of type " + dtype_name(dtype) + " is not supported");
    }
    std::memcpy(value, a->t.data(), dtype_size(dtype));
  }
  ctx.set_output(0, dtype, shape);
  return std::unique_ptr<Kernel>(std::make_unique<FillKernel>(dtype_size(dtype), value));
}

// --- Range -----------------------------------------------------------------------------

KernelResult make_range(PrepareContext& ctx) {
  for (size_t i = 0; i < 3; ++i) {
    if (!ctx.has_input(i)) return ctx.invalid("input " + std::to_string(i) + " is required");
  }
  const DataType dtype = ctx.input(0).dtype;
  if (dtype != DataType::kFloat32 && dtype != DataType::kFloat64 && dtype != DataType::kInt16 &&
      dtype != DataType::kInt32 && dtype != DataType::kInt64) {
    return ctx.unsupported_case("type " + dtype_name(dtype) +
                                " (supported: float32|float64|int16|int32|int64)");
  }
  for (size_t i = 0; i < 3; ++i) {
    if (ctx.input(i).dtype != dtype) return ctx.invalid("start, limit and delta must share a type");
    if (numel(ctx.input(i).shape) != 1 || ctx.input(i).shape.size() > 1) {
      return ctx.invalid("input " + std::to_string(i) + " must be a scalar, found shape " +
                         shape_to_string(ctx.input(i).shape));
    }
  }
  const Tensor* values[3];
  for (size_t i = 0; i < 3; ++i) {
    values[i] = ctx.require_value(i);
  }
  for (size_t i = 0; i < 3; ++i) {
    if (!values[i]) return ctx.require_value_status(i);
  }
  KEEL_ASSIGN_OR_RETURN(Tensor out, [&]() -> Result<Tensor> {
    if (dtype == DataType::kFloat32 || dtype == DataType::kFloat64) {
      const double start = *read_scalar_as_double(*values[0]);
      const double limit = *read_scalar_as_double(*values[1]);
      const double delta = *read_scalar_as_double(*values[2]);
      if (delta == 0.0 || !std::isfinite(delta) || !std::isfinite(start) || !std::isfinite(limit)) {
        return ctx.invalid("start, limit and delta must be finite and delta non-zero");
      }
      const double count = std::max(std::ceil((limit - start) / delta), 0.0);
      if (count > 1e12) return ctx.invalid("range of " + std::to_string(count) + " elements");
      const auto n = static_cast<int64_t>(count);
      KEEL_ASSIGN_OR_RETURN(Tensor t, Tensor::allocate(dtype, {n}));
      for (int64_t i = 0; i < n; ++i) {
        const double v = start + static_cast<double>(i) * delta;
        if (dtype == DataType::kFloat32) {
          t.data_as<float>()[i] = static_cast<float>(v);
        } else {
          t.data_as<double>()[i] = v;
        }
      }
      return t;
    }
    // Integers: exact arithmetic in 128 bits so extreme limits cannot overflow.
    auto as_int = [](const Tensor& t) -> __int128 {
      switch (t.dtype()) {
        case DataType::kInt16: return *t.data_as<int16_t>();
        case DataType::kInt32: return *t.data_as<int32_t>();
        default: return *t.data_as<int64_t>();
      }
    };
    const __int128 start = as_int(*values[0]);
    const __int128 limit = as_int(*values[1]);
    const __int128 delta = as_int(*values[2]);
    if (delta == 0) return ctx.invalid("delta must be non-zero");
    __int128 count = 0;
    const __int128 span = limit - start;
    if ((span > 0 && delta > 0) || (span < 0 && delta < 0)) {
      const __int128 a = span < 0 ? -span : span;
      const __int128 d = delta < 0 ? -delta : delta;
      count = (a + d - 1) / d;
    }
    if (count > (__int128{1} << 40)) return ctx.invalid("range is too large");
    const auto n = static_cast<int64_t>(count);
    KEEL_ASSIGN_OR_RETURN(Tensor t, Tensor::allocate(dtype, {n}));
    for (int64_t i = 0; i < n; ++i) {
      const auto v = static_cast<int64_t>(start + delta * i);
      if (dtype == DataType::kInt16) t.data_as<int16_t>()[i] = static_cast<int16_t>(v);
      if (dtype == DataType::kInt32) t.data_as<int32_t>()[i] = static_cast<int32_t>(v);
      if (dtype == DataType::kInt64) t.data_as<int64_t>()[i] = v;
    }
    return t;
  }());
  ctx.set_output(0, dtype, out.shape());
  ctx.output_values[0] = std::move(out);
  return std::unique_ptr<Kernel>(std::make_unique<NoOpKernel>());
}

}  // namespace

void register_shape_kernels(KernelRegistry& r) {
  r.add("Reshape", make_reshape);
  r.add("Flatten", make_flatten);
  r.add("Squeeze", make_squeeze);
  r.add("Unsqueeze", make_unsqueeze);
  r.add("Identity", make_identity);
  r.add("Dropout", make_dropout);
  r.add("Shape", make_shape);
  r.add("Size", make_size);
  r.add("Expand", make_expand, 8);
  r.add("ConstantOfShape", make_constant_of_shape, 9);
  r.add("Range", make_range, 11);
}

}  // namespace keel
