// QuantizeLinear and DequantizeLinear (opsets 10 to 28): the exact path of QDQ models, and the
// reference every integer kernel is checked against; DynamicQuantizeLinear (ONNX Runtime's
// dynamic quantization of activations).
//
//   QuantizeLinear:   y = saturate(round_half_even(x / scale) + zero_point)
//   DequantizeLinear: y = (x - zero_point) * scale
//
// Scales and zero points are per tensor (a scalar or one element), per axis (1-D, the length of
// `axis`) or blocked (opset 21+: x's shape with dimension `axis` divided into blocks of
// `block_size`). Quantized types: int8, uint8, int16, uint16 (and int32 as a DequantizeLinear
// input); float8, int4/uint4, int2/uint2, float4 and float6 are refused as unsupported.
//
// Arithmetic follows the ONNX reference implementation: DequantizeLinear computes in float32
// and rounds to its output type; QuantizeLinear divides in the precision the operands promote
// to (float32; a float16 or bfloat16 pair in that type; int32 x in float64), or in the
// `precision` attribute's type (opset 23+). NaN quantizes to the low end of the range, as
// both the reference (NaN -> INT_MIN, then clipped) and ONNX Runtime do.
#include <algorithm>
#include <cmath>
#include <memory>
#include <string>
#include <type_traits>

#include "exec/parallel.hpp"
#include "kernels/elementwise_util.hpp"
#include "kernels/registry.hpp"

namespace keel {
namespace {

// Where an element's scale and zero point are: for x viewed as [outer, D, inner] (D the
// quantized axis), element (o, d, i) uses entry o * outer_stride + (d / block) * axis_stride
// + i * inner_stride.
struct QuantLayout {
  int64_t inner = 1;  // elements after the axis
  int64_t axis_dim = 1;
  int64_t block = 1;
  int64_t outer_stride = 0, axis_stride = 0, inner_stride = 0;
  bool per_row() const { return inner_stride == 0; }  // one scale per run of `inner` elements
  int64_t index(int64_t row, int64_t i) const {
    const int64_t o = row / axis_dim, d = row % axis_dim;
    return o * outer_stride + (d / block) * axis_stride + i * inner_stride;
  }
};

// Calls run(offset, count, k) over `n` elements in parallel, for runs of elements that share
// scale entry k: whole rows (or their parts at chunk ends) when the layout is per row, single
// elements otherwise (blocked scales change along the row).
template <typename F>
void for_each_run(const QuantLayout& L, int64_t n, int64_t cost, F&& run) {
  parallel_for(n, cost, [&](int64_t b, int64_t e) {
    while (b < e) {
      const int64_t row = b / L.inner, i0 = b % L.inner;
      const int64_t count = std::min(L.inner - i0, e - b);
      if (L.per_row()) {
        run(b, count, L.index(row, 0));
      } else {
        for (int64_t i = 0; i < count; ++i) run(b + i, int64_t{1}, L.index(row, i0 + i));
      }
      b += count;
    }
  });
}

// v rounded to the precision P (float16/bfloat16 storage), or v itself.
template <typename P, typename C>
inline C round_to_precision(C v) {
  if constexpr (std::is_same_v<P, Float16> || std::is_same_v<P, BFloat16>) {
    return static_cast<C>(convert_value<float>(convert_value<P>(static_cast<float>(v))));
  } else {
    return v;
  }
}

// Round half to even of |v| <= 2^(mantissa bits - 1), by the default rounding mode of an
// addition (vectorizes on SSE2, where roundps does not exist).
template <typename C>
inline C round_half_even(C v) {
  constexpr C kMagic = std::is_same_v<C, float> ? C(12582912.0f)          // 1.5 * 2^23
                                                : C(6755399441055744.0);  // 1.5 * 2^52
  return (v + kMagic) - kMagic;
}

// y = saturate(round(x / scale) + zero_point) for one run of elements sharing scale and zero
// point. The quotient is clamped to [lo - zp, hi - zp] first (integers, so rounding keeps it
// inside, and the rounding trick's range holds); NaN fails `q > lo` and becomes lo.
template <typename Y, typename X, typename P, typename C>
inline void quantize_run(const X* x, Y* y, int64_t n, C scale, C zp) {
  constexpr C kLo = static_cast<C>(std::numeric_limits<Y>::min());
  constexpr C kHi = static_cast<C>(std::numeric_limits<Y>::max());
  const C lo = kLo - zp, hi = kHi - zp;
  for (int64_t i = 0; i < n; ++i) {
    C q = round_to_precision<P>(round_to_precision<P>(convert_value<C>(x[i])) / scale);
    q = q > lo ? q : lo;
    q = q < hi ? q : hi;
    y[i] = static_cast<Y>(static_cast<int32_t>(round_half_even(q) + zp));
  }
}

// X, Y: storage types; S: the scale's; P: the precision of the division (float, double or a
// 16-bit storage type), C: the type it is carried out in.
template <typename X, typename S, typename Y, typename P>
class QuantizeKernel final : public Kernel {
  using C = std::conditional_t<std::is_same_v<P, double>, double, float>;

 public:
  QuantizeKernel(QuantLayout layout, bool has_zero_point)
      : layout_(layout), has_zero_point_(has_zero_point) {}

  void run(const KernelRun& r) const override {
    const X* x = r.in(0).as<const X>();
    const S* scale = r.in(1).as<const S>();
    const Y* zp = has_zero_point_ ? r.in(2).as<const Y>() : nullptr;
    Y* y = r.out(0).as<Y>();
    auto scale_at = [&](int64_t k) { return round_to_precision<P>(convert_value<C>(scale[k])); };
    auto zp_at = [&](int64_t k) { return zp ? static_cast<C>(zp[k]) : C(0); };
    for_each_run(layout_, r.out(0).numel, 4, [&](int64_t b, int64_t n, int64_t k) {
      quantize_run<Y, X, P, C>(x + b, y + b, n, scale_at(k), zp_at(k));
    });
  }
  const char* name() const override { return "quantize_linear"; }

 private:
  QuantLayout layout_;
  bool has_zero_point_;
};

// X: the quantized storage type; S: the scale's; Y: the output's. float32 arithmetic, as the
// reference: (float(x) - float(zp)) * float(scale), rounded once to Y.
template <typename X, typename S, typename Y>
class DequantizeKernel final : public Kernel {
 public:
  DequantizeKernel(QuantLayout layout, bool has_zero_point)
      : layout_(layout), has_zero_point_(has_zero_point) {}

  void run(const KernelRun& r) const override {
    const X* x = r.in(0).as<const X>();
    const S* scale = r.in(1).as<const S>();
    const X* zp = has_zero_point_ ? r.in(2).as<const X>() : nullptr;
    Y* y = r.out(0).as<Y>();
    for_each_run(layout_, r.out(0).numel, 2, [&](int64_t b, int64_t n, int64_t k) {
      const float s = convert_value<float>(scale[k]);
      const float z = zp ? static_cast<float>(zp[k]) : 0.0f;
      for (int64_t i = 0; i < n; ++i)
        y[b + i] = convert_value<Y>((static_cast<float>(x[b + i]) - z) * s);
    });
  }
  const char* name() const override { return "dequantize_linear"; }

 private:
  QuantLayout layout_;
  bool has_zero_point_;
};

bool is_float_type(DataType t) {
  return t == DataType::kFloat32 || t == DataType::kFloat16 || t == DataType::kBFloat16;
}

template <typename F>
bool visit_float_storage(DataType t, F&& fn) {
  switch (t) {
    case DataType::kFloat32: fn.template operator()<float>(); return true;
    case DataType::kFloat16: fn.template operator()<Float16>(); return true;
    case DataType::kBFloat16: fn.template operator()<BFloat16>(); return true;
    default: return false;
  }
}

template <typename F>
bool visit_quantized(DataType t, F&& fn) {
  switch (t) {
    case DataType::kInt8: fn.template operator()<int8_t>(); return true;
    case DataType::kUint8: fn.template operator()<uint8_t>(); return true;
    case DataType::kInt16: fn.template operator()<int16_t>(); return true;
    case DataType::kUint16: fn.template operator()<uint16_t>(); return true;
    default: return false;
  }
}

// Checks scale (input 1) and zero point (input 2) against x (input 0) and returns where each
// element's pair is.
Result<QuantLayout> quant_layout(PrepareContext& ctx) {
  const Shape& xs = ctx.input(0).shape;
  const Shape& ss = ctx.input(1).shape;
  const int64_t rank = static_cast<int64_t>(xs.size());
  // One element in either shape is one per-tensor pair (ONNX Runtime's quantizer writes a
  // scalar zero point beside a [1] scale).
  if (ctx.has_input(2) && ctx.input(2).shape != ss &&
      !(numel(ctx.input(2).shape) == 1 && numel(ss) == 1 && ss.size() <= 1)) {
    return ctx.invalid("the zero point's shape " + shape_to_string(ctx.input(2).shape) +
                       " differs from the scale's " + shape_to_string(ss));
  }
  KEEL_ASSIGN_OR_RETURN(int64_t block, ctx.node.attr_int("block_size", 0));
  if (block < 0) return ctx.invalid("block_size " + std::to_string(block) + " is negative");
  const int64_t scale_count = numel(ss);
  QuantLayout L;
  L.inner = std::max<int64_t>(numel(xs), 1);
  if (block == 0 && ss.size() <= 1 && scale_count == 1) return L;  // per tensor
  KEEL_ASSIGN_OR_RETURN(int64_t axis_attr, ctx.node.attr_int("axis", 1));
  const auto axis = normalize_axis(axis_attr, rank);
  if (!axis) {
    return ctx.invalid("axis " + std::to_string(axis_attr) + " is out of range for x of rank " +
                       std::to_string(rank));
  }
  const int64_t D = xs[static_cast<size_t>(*axis)];
  L.axis_dim = std::max<int64_t>(D, 1);
  L.inner = 1;
  for (size_t k = static_cast<size_t>(*axis) + 1; k < xs.size(); ++k) L.inner *= xs[k];
  L.inner = std::max<int64_t>(L.inner, 1);
  if (block == 0) {
    if (ss.size() != 1 || ss[0] != D) {
      return ctx.invalid("a per-axis scale must be 1-D with x's dimension " +
                         std::to_string(*axis) + " (" + std::to_string(D) + "), got " +
                         shape_to_string(ss) + " (x " + shape_to_string(xs) + ")");
    }
    L.axis_stride = 1;
    return L;
  }
  // Blocked: the scale has x's shape but ceil(D / block) along the axis.
  const int64_t blocks = D == 0 ? 0 : (D + block - 1) / block;
  bool ok = static_cast<int64_t>(ss.size()) == rank;
  for (int64_t k = 0; ok && k < rank; ++k) {
    const auto uk = static_cast<size_t>(k);
    ok = ss[uk] == (k == *axis ? blocks : xs[uk]);
  }
  if (!ok) {
    return ctx.invalid("a blocked scale (block_size " + std::to_string(block) + ", axis " +
                       std::to_string(*axis) + ") must have shape x " + shape_to_string(xs) +
                       " with dimension " + std::to_string(*axis) + " = ceil(" + std::to_string(D) +
                       " / " + std::to_string(block) + "), got " + shape_to_string(ss));
  }
  L.block = block;
  L.axis_stride = L.inner;
  L.inner_stride = 1;
  L.outer_stride = blocks * L.inner;
  return L;
}

Result<std::unique_ptr<Kernel>> make_quantize_linear(PrepareContext& ctx) {
  if (ctx.num_inputs() < 2 || !ctx.has_input(0) || !ctx.has_input(1)) {
    return ctx.invalid("expects inputs x and y_scale");
  }
  const DataType xt = ctx.input(0).dtype, st = ctx.input(1).dtype;
  if (!is_float_type(xt) && xt != DataType::kInt32) {
    return ctx.invalid("x has type " + dtype_name(xt) +
                       ", expected float32, float16, bfloat16 or int32");
  }
  if (!is_float_type(st)) {
    return ctx.unsupported_case("a y_scale of type " + dtype_name(st) +
                                " is not supported (float32, float16, bfloat16)");
  }
  if (ctx.opset() < 19 && (xt != DataType::kFloat32 && xt != DataType::kInt32)) {
    return ctx.invalid("x has type " + dtype_name(xt) + ", which needs opset 19");
  }
  // The quantized type: the zero point's, else output_dtype (opset 21+), else uint8.
  KEEL_ASSIGN_OR_RETURN(int64_t output_dtype, ctx.node.attr_int("output_dtype", 0));
  int64_t yt = ctx.has_input(2) ? static_cast<int64_t>(ctx.input(2).dtype) : output_dtype;
  if (ctx.has_input(2) && output_dtype != 0 && output_dtype != yt) {
    return ctx.invalid("output_dtype " + dtype_name(static_cast<DataType>(output_dtype)) +
                       " differs from the zero point's type " +
                       dtype_name(static_cast<DataType>(yt)));
  }
  if (yt == 0) yt = static_cast<int64_t>(DataType::kUint8);
  const auto y_type = static_cast<DataType>(yt);
  if (!visit_quantized(y_type, []<typename>() {})) {
    return ctx.unsupported_case("quantizing to " + dtype_name(static_cast<DataType>(yt)) +
                                " is not supported (int8, uint8, int16, uint16)");
  }
  // The division's precision: the attribute (opset 23+), else the operands' promotion.
  KEEL_ASSIGN_OR_RETURN(int64_t precision, ctx.node.attr_int("precision", 0));
  DataType pt = DataType::kFloat32;
  if (precision != 0) {
    if (precision < 0 || precision > 16 || !is_float_type(static_cast<DataType>(precision))) {
      return ctx.unsupported_case("precision " + dtype_name(static_cast<DataType>(precision)) +
                                  " is not supported (float32, float16, bfloat16)");
    }
    pt = static_cast<DataType>(precision);
  } else if (xt == DataType::kInt32) {
    pt = DataType::kFloat64;
  } else if (xt == st) {
    pt = xt;
  }
  KEEL_ASSIGN_OR_RETURN(QuantLayout layout, quant_layout(ctx));
  ctx.set_output(0, y_type, ctx.input(0).shape);
  std::unique_ptr<Kernel> kernel;
  auto with_x = [&]<typename X>() {
    visit_float_storage(st, [&]<typename S>() {
      visit_quantized(y_type, [&]<typename Y>() {
        auto with_p = [&]<typename P>() {
          kernel = std::make_unique<QuantizeKernel<X, S, Y, P>>(layout, ctx.has_input(2));
        };
        if (pt == DataType::kFloat64) {
          with_p.template operator()<double>();
        } else {
          visit_float_storage(pt, with_p);
        }
      });
    });
  };
  if (xt == DataType::kInt32) {
    with_x.template operator()<int32_t>();
  } else {
    visit_float_storage(xt, with_x);
  }
  if (!kernel) return ctx.invalid("unexpected type combination");
  return kernel;
}

Result<std::unique_ptr<Kernel>> make_dequantize_linear(PrepareContext& ctx) {
  if (ctx.num_inputs() < 2 || !ctx.has_input(0) || !ctx.has_input(1)) {
    return ctx.invalid("expects inputs x and x_scale");
  }
  const DataType xt = ctx.input(0).dtype, st = ctx.input(1).dtype;
  if (!is_float_type(st)) {
    return ctx.unsupported_case("an x_scale of type " + dtype_name(st) +
                                " is not supported (float32, float16, bfloat16)");
  }
  if (!visit_quantized(xt, []<typename>() {}) && xt != DataType::kInt32) {
    return ctx.unsupported_case("dequantizing " + dtype_name(xt) +
                                " is not supported (int8, uint8, int16, uint16, int32)");
  }
  if (ctx.has_input(2) && ctx.input(2).dtype != xt) {
    return ctx.invalid("the zero point has type " + dtype_name(ctx.input(2).dtype) + ", x has " +
                       dtype_name(xt));
  }
  KEEL_ASSIGN_OR_RETURN(int64_t output_dtype, ctx.node.attr_int("output_dtype", 0));
  DataType yt = st;
  if (output_dtype != 0) {
    if (output_dtype < 0 || output_dtype > 16 ||
        !is_float_type(static_cast<DataType>(output_dtype))) {
      return ctx.invalid("output_dtype " + dtype_name(static_cast<DataType>(output_dtype)) +
                         " is not float32, float16 or bfloat16");
    }
    yt = static_cast<DataType>(output_dtype);
  }
  KEEL_ASSIGN_OR_RETURN(QuantLayout layout, quant_layout(ctx));
  ctx.set_output(0, yt, ctx.input(0).shape);
  std::unique_ptr<Kernel> kernel;
  auto with_x = [&]<typename X>() {
    visit_float_storage(st, [&]<typename S>() {
      visit_float_storage(yt, [&]<typename Y>() {
        kernel = std::make_unique<DequantizeKernel<X, S, Y>>(layout, ctx.has_input(2));
      });
    });
  };
  if (xt == DataType::kInt32) {
    with_x.template operator()<int32_t>();
  } else {
    visit_quantized(xt, with_x);
  }
  if (!kernel) return ctx.invalid("unexpected type combination");
  return kernel;
}

// DynamicQuantizeLinear (opset 11): uint8 with the scale and zero point that map
// [min(0, min x), max(0, max x)] onto [0, 255], computed as the ONNX reference does in float32
// (an all-zero x gets scale 1/255). NaN elements take no part in the range and quantize to 0.
class DynamicQuantizeKernel final : public Kernel {
 public:
  void run(const KernelRun& r) const override {
    const float* x = r.in(0).as<const float>();
    const int64_t n = r.in(0).numel;
    float lo = 0.0f, hi = 0.0f;
    for (int64_t i = 0; i < n; ++i) {
      lo = x[i] < lo ? x[i] : lo;
      hi = x[i] > hi ? x[i] : hi;
    }
    const float scale = (hi == lo ? 1.0f : hi - lo) / 255.0f;
    const float initial_zp = std::min(255.0f, std::max(0.0f, 0.0f - lo / scale));
    const float zp = std::nearbyint(initial_zp);
    uint8_t* y = r.out(0).as<uint8_t>();
    parallel_for(n, 4, [&](int64_t b, int64_t e) {
      quantize_run<uint8_t, float, float, float>(x + b, y + b, e - b, scale, zp);
    });
    if (r.num_outputs > 1 && r.out(1).data) *r.out(1).as<float>() = scale;
    if (r.num_outputs > 2 && r.out(2).data) *r.out(2).as<uint8_t>() = static_cast<uint8_t>(zp);
  }
  const char* name() const override { return "dynamic_quantize_linear"; }
};

Result<std::unique_ptr<Kernel>> make_dynamic_quantize_linear(PrepareContext& ctx) {
  if (ctx.num_inputs() != 1 || !ctx.has_input(0)) return ctx.invalid("expects input x");
  KEEL_RETURN_IF_ERROR(ctx.check_input(0, {DataType::kFloat32}));
  ctx.set_output(0, DataType::kUint8, ctx.input(0).shape);
  if (ctx.outputs.size() > 1) ctx.set_output(1, DataType::kFloat32, {});
  if (ctx.outputs.size() > 2) ctx.set_output(2, DataType::kUint8, {});
  return std::unique_ptr<Kernel>(std::make_unique<DynamicQuantizeKernel>());
}

// The QOperator forms (QLinearConv, QLinearMatMul and ONNX Runtime's com.microsoft QGemm and
// QLinear* ops) run as the QDQ nodes passes/lower_qlinear_ops.cpp writes for them; one that
// reaches the planner was not lowered.
Result<std::unique_ptr<Kernel>> make_unlowered_qlinear(PrepareContext& ctx) {
  return ctx.unsupported_case(
      "runs only as DequantizeLinear, the float operator and QuantizeLinear, which the load "
      "passes write with runtime fusions on, channels_last 0 and the output's scale and zero "
      "point given");
}

}  // namespace

void register_quantize_kernels(KernelRegistry& r) {
  r.add("QLinearConv", &make_unlowered_qlinear, 10);
  r.add("QLinearMatMul", &make_unlowered_qlinear, 10);
  for (const char* op :
       {"QLinearConv", "QGemm", "QLinearAdd", "QLinearMul", "QLinearSigmoid", "QLinearLeakyRelu",
        "QLinearAveragePool", "QLinearGlobalAveragePool", "QLinearConcat"}) {
    r.add(op, &make_unlowered_qlinear, 1, kNewestVettedOpset, "com.microsoft");
  }
  r.add("QuantizeLinear", &make_quantize_linear, 10);
  r.add("DequantizeLinear", &make_dequantize_linear, 10);
  r.add("DynamicQuantizeLinear", &make_dynamic_quantize_linear, 11);
}

}  // namespace keel
