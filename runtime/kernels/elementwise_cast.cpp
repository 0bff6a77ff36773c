// Cast and CastLike between float32/64, float16, bfloat16, bool and the 8..64-bit integers.
//
// Rules (ONNX Cast): float -> int truncates toward zero (out-of-range values saturate here
// instead of being undefined), int -> int wraps, anything -> bool is "!= 0", float16 and
// bfloat16 round to nearest even. float8, int4/uint4, int2/uint2, float4 and string targets are
// rejected as unsupported.
#include <memory>
#include <string>
#include <type_traits>

#include "exec/parallel.hpp"
#include "kernels/elementwise_internal.hpp"
#include "kernels/elementwise_util.hpp"
#include "kernels/registry.hpp"

namespace keel {
namespace {

template <typename D, typename S>
class CastKernel final : public Kernel {
 public:
  void run(const KernelRun& r) const override {
    const S* x = r.in(0).as<const S>();
    D* y = r.out(0).as<D>();
    parallel_for(r.out(0).numel, 2, [&](int64_t b, int64_t e) {
      for (int64_t i = b; i < e; ++i) y[i] = convert_value<D>(x[i]);
    });
  }
  const char* name() const override { return "cast"; }
};

// Every type Cast handles, as its storage type.
template <typename F>
bool visit_cast_type(DataType t, F&& fn) {
  switch (t) {
    case DataType::kFloat16: fn.template operator()<Float16>(); return true;
    case DataType::kBFloat16: fn.template operator()<BFloat16>(); return true;
    case DataType::kBool: fn.template operator()<bool>(); return true;
    default: return visit_numeric(t, fn);
  }
}

// Cast-1..5 name the target type with a string.
bool dtype_from_legacy_name(const std::string& s, int64_t& to) {
  static const std::pair<const char*, DataType> kNames[] = {
      {"FLOAT", DataType::kFloat32},  {"UINT8", DataType::kUint8},
      {"INT8", DataType::kInt8},      {"UINT16", DataType::kUint16},
      {"INT16", DataType::kInt16},    {"INT32", DataType::kInt32},
      {"INT64", DataType::kInt64},    {"STRING", DataType::kString},
      {"BOOL", DataType::kBool},      {"FLOAT16", DataType::kFloat16},
      {"DOUBLE", DataType::kFloat64}, {"UINT32", DataType::kUint32},
      {"UINT64", DataType::kUint64},  {"BFLOAT16", DataType::kBFloat16},
  };
  for (const auto& [name, t] : kNames) {
    if (s == name) {
      to = static_cast<int64_t>(t);
      return true;
    }
  }
  return false;
}

Result<std::unique_ptr<Kernel>> make_cast_to(PrepareContext& ctx, int64_t to) {
  const DataType src = ctx.input(0).dtype;
  if (to <= 0 || to > 26)
    return ctx.invalid("target type " + std::to_string(to) + " is not an ONNX type");
  const auto dst = static_cast<DataType>(to);
  if (!dtype_is_supported(dst)) {
    return ctx.unsupported_case("casting to " + dtype_name(static_cast<DataType>(to)) +
                                " is not supported (supported: float32, float64, float16, "
                                "bfloat16, bool, int8..int64, uint8..uint64)");
  }
  ctx.set_output(0, dst, ctx.input(0).shape);
  if (src == dst) {
    ctx.alias_of[0] = 0;
    return std::unique_ptr<Kernel>(std::make_unique<NoOpKernel>());
  }
  std::unique_ptr<Kernel> kernel;
  visit_cast_type(src, [&]<typename S>() {
    visit_cast_type(dst, [&]<typename D>() { kernel = std::make_unique<CastKernel<D, S>>(); });
  });
  if (!kernel) {
    return ctx.unsupported_case("casting from " + dtype_name(src) + " is not supported");
  }
  if (dtype_size(src) == dtype_size(dst)) ctx.inplace_of[0] = 0;
  return kernel;
}

Result<std::unique_ptr<Kernel>> make_cast(PrepareContext& ctx) {
  if (ctx.num_inputs() != 1 || !ctx.has_input(0)) return ctx.invalid("expects 1 input");
  if (ctx.outputs.empty()) return ctx.invalid("expects 1 output");
  const Attribute* attr = ctx.node.find_attribute("to");
  if (!attr) return ctx.invalid("attribute 'to' is required");
  int64_t to = 0;
  if (attr->kind == AttributeKind::kString) {
    if (!dtype_from_legacy_name(attr->s, to)) {
      return ctx.invalid("attribute 'to' names an unknown type '" + attr->s + "'");
    }
  } else if (attr->kind == AttributeKind::kInt) {
    to = attr->i;
  } else {
    return ctx.invalid(std::string("attribute 'to' has kind ") + attribute_kind_name(attr->kind) +
                       ", expected int");
  }
  // saturate (opset 19+) only changes float8 targets, which are rejected below anyway.
  KEEL_ASSIGN_OR_RETURN(int64_t saturate, ctx.node.attr_int("saturate", 1));
  (void)saturate;
  return make_cast_to(ctx, to);
}

Result<std::unique_ptr<Kernel>> make_cast_like(PrepareContext& ctx) {
  if (ctx.num_inputs() != 2 || !ctx.has_input(0) || !ctx.has_input(1)) {
    return ctx.invalid("expects 2 inputs");
  }
  if (ctx.outputs.empty()) return ctx.invalid("expects 1 output");
  return make_cast_to(ctx, static_cast<int64_t>(ctx.input(1).dtype));
}

}  // namespace

void register_elementwise_cast_kernels(KernelRegistry& r) {
  r.add("Cast", &make_cast);
  r.add("CastLike", &make_cast_like, 15);
}

}  // namespace keel
