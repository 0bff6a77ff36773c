// Binary and n-ary elementwise ops with numpy broadcasting: arithmetic (Add, Sub, Mul, Div, Pow,
// Mod), Min/Max/Sum/Mean (variadic), comparisons (bool output), logical ops, PRelu
// (unidirectional slope broadcast) and Where (three-way broadcast).
//
// Every kernel walks the output through for_each_segment (broadcast.hpp): each run is a
// contiguous loop where an operand is either a vector (stride 1) or a scalar (stride 0), so
// same-shape, scalar-operand and per-channel ([C,1,1]) cases all become plain vectorizable loops.
#include <algorithm>
#include <cmath>
#include <cstring>
#include <memory>
#include <string>
#include <type_traits>

#include "exec/parallel.hpp"
#include "kernels/broadcast.hpp"
#include "kernels/elementwise_internal.hpp"
#include "kernels/elementwise_util.hpp"
#include "kernels/registry.hpp"

namespace keel {
namespace {

enum class Bin {
  kAdd,
  kSub,
  kMul,
  kDiv,
  kPow,
  kMod,
  kFmod,
  kMin,
  kMax,
  kEqual,
  kLess,
  kGreater,
  kLessEq,
  kGreaterEq,
  kAnd,
  kOr,
  kXor,
  kPRelu,
};

constexpr bool is_comparison(Bin k) {
  return k == Bin::kEqual || k == Bin::kLess || k == Bin::kGreater || k == Bin::kLessEq ||
         k == Bin::kGreaterEq;
}
constexpr bool is_logical(Bin k) { return k == Bin::kAnd || k == Bin::kOr || k == Bin::kXor; }

constexpr const char* bin_name(Bin k) {
  switch (k) {
    case Bin::kAdd: return "add_broadcast";
    case Bin::kSub: return "sub_broadcast";
    case Bin::kMul: return "mul_broadcast";
    case Bin::kDiv: return "div_broadcast";
    case Bin::kPow: return "pow_broadcast";
    case Bin::kMod: return "mod_broadcast";
    case Bin::kFmod: return "fmod_broadcast";
    case Bin::kMin: return "min_broadcast";
    case Bin::kMax: return "max_broadcast";
    case Bin::kEqual: return "equal_broadcast";
    case Bin::kLess: return "less_broadcast";
    case Bin::kGreater: return "greater_broadcast";
    case Bin::kLessEq: return "less_equal_broadcast";
    case Bin::kGreaterEq: return "greater_equal_broadcast";
    case Bin::kAnd: return "and_broadcast";
    case Bin::kOr: return "or_broadcast";
    case Bin::kXor: return "xor_broadcast";
    case Bin::kPRelu: return "prelu_broadcast";
  }
  return "binary";
}

constexpr int64_t bin_cost(Bin k) {
  switch (k) {
    case Bin::kDiv:
    case Bin::kMod:
    case Bin::kFmod: return 4;
    case Bin::kPow: return 16;
    default: return 1;
  }
}

// Integer power by squaring with wrap-around; negative exponents truncate like 1/x^n.
template <typename T, typename E>
T int_pow(T base, E exp) {
  if constexpr (std::is_signed_v<E>) {
    if (exp < 0) {
      if (base == T(1)) return T(1);
      if constexpr (std::is_signed_v<T>) {
        if (base == T(-1)) return (exp % 2 == 0) ? T(1) : T(-1);
      }
      return T(0);
    }
  }
  T result = T(1);
  T b = base;
  auto e = static_cast<std::make_unsigned_t<E>>(exp);
  while (e) {
    if (e & 1) result = wrap_mul(result, b);
    b = wrap_mul(b, b);
    e >>= 1;
  }
  return result;
}

template <Bin K, typename T, typename E>
inline auto bin_apply(T a, E b) {
  if constexpr (K == Bin::kAdd) {
    return wrap_add(a, b);
  } else if constexpr (K == Bin::kSub) {
    return wrap_sub(a, b);
  } else if constexpr (K == Bin::kMul) {
    return wrap_mul(a, b);
  } else if constexpr (K == Bin::kDiv) {
    if constexpr (std::is_integral_v<T>) {
      // C truncation as ONNX asks; x/0 gives 0 and MIN/-1 wraps instead of trapping.
      if (b == T(0)) return T(0);
      if constexpr (std::is_signed_v<T>) {
        if (b == T(-1)) return wrap_sub(T(0), a);
      }
      return static_cast<T>(a / b);
    } else {
      return a / b;
    }
  } else if constexpr (K == Bin::kPow) {
    if constexpr (std::is_integral_v<T> && std::is_integral_v<E>) {
      return int_pow(a, b);
    } else if constexpr (std::is_integral_v<T>) {
      return float_to_int<T>(std::pow(static_cast<double>(a), static_cast<double>(b)));
    } else if constexpr (std::is_same_v<T, float> && std::is_same_v<E, float>) {
      return std::pow(a, b);
    } else {
      return static_cast<T>(std::pow(static_cast<double>(a), static_cast<double>(b)));
    }
  } else if constexpr (K == Bin::kMod) {
    // Mod with fmod=0: the result takes the divisor's sign, like Python (floats from Mod-28:
    // A - floor(A / B) * B, a zero result signed like B).
    if constexpr (std::is_floating_point_v<T>) {
      T r = std::fmod(a, b);
      if (r == 0) return std::copysign(T(0), b);
      if ((r < 0) != (b < 0)) r += b;
      return r;
    } else if (b == T(0)) {
      return T(0);
    } else if constexpr (std::is_signed_v<T>) {
      if (b == T(-1)) return T(0);
      T r = static_cast<T>(a % b);
      if (r != 0 && ((r < 0) != (b < 0))) r = static_cast<T>(r + b);
      return r;
    } else {
      return static_cast<T>(a % b);
    }
  } else if constexpr (K == Bin::kFmod) {
    if constexpr (std::is_integral_v<T>) {
      // fmod=1 on integers: C remainder (the dividend's sign).
      if (b == T(0)) return T(0);
      if constexpr (std::is_signed_v<T>) {
        if (b == T(-1)) return T(0);
      }
      return static_cast<T>(a % b);
    } else {
      return std::fmod(a, b);
    }
  } else if constexpr (K == Bin::kMin) {
    return (a < b || a != a) ? a : b;  // NaN propagates like numpy.minimum
  } else if constexpr (K == Bin::kMax) {
    return (a > b || a != a) ? a : b;
  } else if constexpr (K == Bin::kEqual) {
    return static_cast<uint8_t>(a == b);
  } else if constexpr (K == Bin::kLess) {
    return static_cast<uint8_t>(a < b);
  } else if constexpr (K == Bin::kGreater) {
    return static_cast<uint8_t>(a > b);
  } else if constexpr (K == Bin::kLessEq) {
    return static_cast<uint8_t>(a <= b);
  } else if constexpr (K == Bin::kGreaterEq) {
    return static_cast<uint8_t>(a >= b);
  } else if constexpr (K == Bin::kAnd) {
    return static_cast<uint8_t>((a != 0) & (b != 0));
  } else if constexpr (K == Bin::kOr) {
    return static_cast<uint8_t>((a != 0) | (b != 0));
  } else if constexpr (K == Bin::kXor) {
    return static_cast<uint8_t>((a != 0) ^ (b != 0));
  } else {
    static_assert(K == Bin::kPRelu);
    return a < T(0) ? wrap_mul(a, b) : a;
  }
}

// One run of the broadcast walk: sa/sb are 1 (vector) or 0 (scalar).
template <Bin K, typename T, typename E, typename O>
inline void bin_segment(const T* a, int64_t sa, const E* b, int64_t sb, O* o, int64_t n) {
  if (sa && sb) {
    for (int64_t i = 0; i < n; ++i) o[i] = bin_apply<K>(a[i], b[i]);
  } else if (sa) {
    const E bv = *b;
    if constexpr (K == Bin::kPow && std::is_floating_point_v<T>) {
      // x^2 and x^0.5 are common in decomposed normalizations.
      if (bv == E(2)) {
        for (int64_t i = 0; i < n; ++i) o[i] = a[i] * a[i];
        return;
      }
      if (bv == E(0.5)) {
        for (int64_t i = 0; i < n; ++i) o[i] = std::sqrt(a[i]);
        return;
      }
    }
    for (int64_t i = 0; i < n; ++i) o[i] = bin_apply<K>(a[i], bv);
  } else if (sb) {
    const T av = *a;
    for (int64_t i = 0; i < n; ++i) o[i] = bin_apply<K>(av, b[i]);
  } else {
    const O v = bin_apply<K>(*a, *b);
    for (int64_t i = 0; i < n; ++i) o[i] = v;
  }
}

template <Bin K, typename T, typename E, typename O>
void bin_run(const BroadcastLayout<2>& layout, const T* a, const E* b, O* o) {
  const int64_t sa = layout.inner_stride(0);
  const int64_t sb = layout.inner_stride(1);
  // Rows times one row ([N, H, W, C] * [C]: a squeeze-excitation gate on NHWC data): a row loop
  // without the general per-segment index walk, which cost more than the products for 32-channel
  // rows (EfficientNet's 112x112x32 gate 117 us).
  if (layout.dims.size() == 2 && sa == 1 && sb == 1) {
    const int64_t rows = layout.dims[0], len = layout.dims[1];
    const int64_t ra = layout.strides[0][0], rb = layout.strides[1][0];
    if ((ra == len && rb == 0) || (ra == 0 && rb == len)) {
      parallel_for(rows, len * bin_cost(K), [&](int64_t r0, int64_t r1) {
        for (int64_t r = r0; r < r1; ++r) {
          bin_segment<K>(a + r * ra, 1, b + r * rb, 1, o + r * len, len);
        }
      });
      return;
    }
  }
  parallel_for(layout.numel, bin_cost(K), [&](int64_t begin, int64_t end) {
    for_each_segment(layout, begin, end,
                     [&](int64_t po, const std::array<int64_t, 2>& offs, int64_t len) {
                       bin_segment<K>(a + offs[0], sa, b + offs[1], sb, o + po, len);
                     });
  });
}

template <Bin K, typename T, typename E, typename O>
class BinaryKernel final : public Kernel {
 public:
  explicit BinaryKernel(BroadcastLayout<2> layout) : layout_(std::move(layout)) {}
  void run(const KernelRun& r) const override {
    bin_run<K>(layout_, r.in(0).as<const T>(), r.in(1).as<const E>(), r.out(0).as<O>());
  }
  const char* name() const override { return bin_name(K); }

 private:
  BroadcastLayout<2> layout_;
};

// Opset < 7 Add/Sub/Mul/Div/Pow/And/Or/Xor/Equal/Less/Greater: B broadcasts onto A only when
// broadcast=1, aligned at `axis` (default: trailing dims). Returns B's shape at A's rank.
Result<Shape> legacy_b_shape(PrepareContext& ctx, const Shape& a, const Shape& b) {
  KEEL_ASSIGN_OR_RETURN(int64_t bcast, ctx.node.attr_int("broadcast", 0));
  if (bcast == 0) {
    if (a != b) {
      return ctx.invalid("inputs have shapes " + shape_to_string(a) + " and " + shape_to_string(b) +
                         " but broadcast=0");
    }
    return b;
  }
  const auto ra = static_cast<int64_t>(a.size());
  const auto rb = static_cast<int64_t>(b.size());
  if (rb > ra) return ctx.invalid("B has a higher rank than A with legacy broadcast");
  KEEL_ASSIGN_OR_RETURN(int64_t axis, ctx.node.attr_int("axis", ra - rb));
  if (axis < 0) axis += ra;
  if (axis < 0 || axis + rb > ra) {
    return ctx.invalid("legacy broadcast axis " + std::to_string(axis) + " does not fit B " +
                       shape_to_string(b) + " into A " + shape_to_string(a));
  }
  Shape out(ra, 1);
  for (int64_t d = 0; d < rb; ++d) out[axis + d] = b[d];
  if (!broadcasts_to(out, a)) {
    return ctx.invalid("B " + shape_to_string(b) + " does not broadcast onto A " +
                       shape_to_string(a) + " at axis " + std::to_string(axis));
  }
  return out;
}

constexpr bool has_legacy_broadcast(Bin k) {
  return k == Bin::kAdd || k == Bin::kSub || k == Bin::kMul || k == Bin::kDiv || k == Bin::kPow ||
         k == Bin::kAnd || k == Bin::kOr || k == Bin::kXor || k == Bin::kEqual || k == Bin::kLess ||
         k == Bin::kGreater;
}

template <Bin K>
Result<std::unique_ptr<Kernel>> make_binary(PrepareContext& ctx) {
  if (ctx.num_inputs() != 2 || !ctx.has_input(0) || !ctx.has_input(1)) {
    return ctx.invalid("expects 2 inputs");
  }
  if (ctx.outputs.empty()) return ctx.invalid("expects 1 output");
  const DataType ta = ctx.input(0).dtype;
  const DataType tb = ctx.input(1).dtype;
  if (K != Bin::kPow && ta != tb) {
    return ctx.invalid("inputs have different types " + dtype_name(ta) + " and " + dtype_name(tb));
  }
  const Shape& sa = ctx.input(0).shape;
  Shape sb = ctx.input(1).shape;
  if (has_legacy_broadcast(K) && ctx.opset() < 7) {
    KEEL_ASSIGN_OR_RETURN(sb, legacy_b_shape(ctx, sa, sb));
  }
  Shape out;
  if (K == Bin::kPRelu) {
    if (!broadcasts_to(sb, sa)) {
      return ctx.invalid("slope shape " + shape_to_string(sb) + " does not broadcast to X " +
                         shape_to_string(sa));
    }
    out = sa;
  } else {
    auto shape = broadcast_shapes(sa, sb);
    if (!shape) {
      return ctx.invalid("input shapes " + shape_to_string(sa) + " and " + shape_to_string(sb) +
                         " are not broadcastable");
    }
    out = std::move(*shape);
  }
  if (!checked_numel(out))
    return ctx.invalid("output shape " + shape_to_string(out) + " is too large");
  BroadcastLayout<2> layout = make_broadcast_layout<2>({&sa, &sb}, out);

  std::unique_ptr<Kernel> kernel;
  DataType out_type = ta;
  if constexpr (is_logical(K)) {
    if (ta == DataType::kBool) {
      kernel = std::make_unique<BinaryKernel<K, uint8_t, uint8_t, uint8_t>>(layout);
    }
    out_type = DataType::kBool;
  } else if constexpr (is_comparison(K)) {
    out_type = DataType::kBool;
    if (K == Bin::kEqual && ta == DataType::kBool) {
      kernel = std::make_unique<BinaryKernel<K, uint8_t, uint8_t, uint8_t>>(layout);
    }
    visit_numeric(ta, [&]<typename T>() {
      kernel = std::make_unique<BinaryKernel<K, T, T, uint8_t>>(layout);
    });
  } else if constexpr (K == Bin::kPow) {
    visit_numeric(ta, [&]<typename T>() {
      visit_numeric(
          tb, [&]<typename E>() { kernel = std::make_unique<BinaryKernel<K, T, E, T>>(layout); });
    });
  } else if constexpr (K == Bin::kPRelu) {
    visit_numeric(ta, [&]<typename T>() {
      if constexpr (!std::is_unsigned_v<T>) {
        kernel = std::make_unique<BinaryKernel<K, T, T, T>>(layout);
      }
    });
  } else {
    visit_numeric(
        ta, [&]<typename T>() { kernel = std::make_unique<BinaryKernel<K, T, T, T>>(layout); });
  }
  if (!kernel) {
    return ctx.unsupported_case("input types " + dtype_name(ta) + ", " + dtype_name(tb) +
                                " are not supported");
  }
  ctx.set_output(0, out_type, out);
  for (int i = 0; i < 2; ++i) {
    if (ctx.input(i).dtype == out_type && ctx.input(i).shape == out) {
      ctx.inplace_of[0] = i;
      break;
    }
  }
  return kernel;
}

Result<std::unique_ptr<Kernel>> make_mod(PrepareContext& ctx) {
  KEEL_ASSIGN_OR_RETURN(int64_t fmod, ctx.node.attr_int("fmod", 0));
  if (fmod != 0 && fmod != 1) return ctx.invalid("attribute 'fmod' must be 0 or 1");
  if (fmod == 0) {
    // Mod-10 and Mod-13 define fmod=0 for integers only; Mod-28 for floats too.
    if (ctx.opset() < 28 && ctx.has_input(0) && !dtype_is_integer(ctx.input(0).dtype) &&
        ctx.input(0).dtype != DataType::kUndefined) {
      return ctx.invalid(
          "Mod with fmod=0 requires integer inputs before opset 28 (use fmod=1 "
          "for floats), got " +
          dtype_name(ctx.input(0).dtype));
    }
    return make_binary<Bin::kMod>(ctx);
  }
  return make_binary<Bin::kFmod>(ctx);
}

// Min, Max, Sum, Mean over 1..N inputs: folds pairwise into the output buffer.
template <Bin K, typename T>
class VariadicKernel final : public Kernel {
 public:
  VariadicKernel(std::vector<BroadcastLayout<2>> layouts, bool mean, const char* name)
      : layouts_(std::move(layouts)), mean_(mean), name_(name) {}

  void run(const KernelRun& r) const override {
    T* o = r.out(0).as<T>();
    const int64_t n = r.out(0).numel;
    if (r.num_inputs == 1) {
      std::memcpy(o, r.in(0).data, static_cast<size_t>(n) * sizeof(T));
    } else {
      bin_run<K>(layouts_[0], r.in(0).as<const T>(), r.in(1).as<const T>(), o);
      for (size_t i = 2; i < r.num_inputs; ++i) {
        bin_run<K>(layouts_[i - 1], static_cast<const T*>(o), r.in(i).as<const T>(), o);
      }
    }
    if constexpr (std::is_floating_point_v<T>) {
      if (mean_) {
        const T scale = T(1) / static_cast<T>(r.num_inputs);
        parallel_for(n, 1, [&](int64_t b, int64_t e) {
          for (int64_t i = b; i < e; ++i) o[i] *= scale;
        });
      }
    }
  }
  const char* name() const override { return name_; }

 private:
  std::vector<BroadcastLayout<2>> layouts_;
  bool mean_;
  const char* name_;
};

template <Bin K, bool kMean>
Result<std::unique_ptr<Kernel>> make_variadic(PrepareContext& ctx) {
  if (ctx.num_inputs() < 1) return ctx.invalid("expects at least 1 input");
  if (ctx.outputs.empty()) return ctx.invalid("expects 1 output");
  std::vector<const Shape*> shapes;
  const DataType t = ctx.input(0).dtype;
  for (size_t i = 0; i < ctx.num_inputs(); ++i) {
    if (!ctx.has_input(i)) return ctx.invalid("input " + std::to_string(i) + " is missing");
    if (ctx.input(i).dtype != t) {
      return ctx.invalid("input " + std::to_string(i) + " has type " +
                         dtype_name(ctx.input(i).dtype) + ", expected " + dtype_name(t));
    }
    shapes.push_back(&ctx.input(i).shape);
  }
  auto out = broadcast_shapes(shapes);
  if (!out) return ctx.invalid("input shapes are not broadcastable");
  if (!checked_numel(*out)) return ctx.invalid("output shape is too large");
  if (ctx.num_inputs() == 1 && *out != ctx.input(0).shape) return ctx.invalid("bad shape");
  std::vector<BroadcastLayout<2>> layouts;
  if (ctx.num_inputs() >= 2) {
    layouts.push_back(make_broadcast_layout<2>({shapes[0], shapes[1]}, *out));
    for (size_t i = 2; i < shapes.size(); ++i) {
      layouts.push_back(make_broadcast_layout<2>({&*out, shapes[i]}, *out));
    }
  }
  const bool float_only = K == Bin::kAdd;  // Sum and Mean are float ops in ONNX
  std::unique_ptr<Kernel> kernel;
  auto make = [&]<typename T>() {
    kernel = std::make_unique<VariadicKernel<K, T>>(std::move(layouts), kMean,
                                                    kMean ? "mean_variadic" : bin_name(K));
  };
  if (float_only) {
    visit_float(t, make);
  } else {
    visit_numeric(t, make);
  }
  if (!kernel) return ctx.unsupported_case("input type " + dtype_name(t) + " is not supported");
  ctx.set_output(0, t, *out);
  // Input 0 may be overwritten only when the first pairwise step reads it element by element.
  if (ctx.input(0).shape == *out) ctx.inplace_of[0] = 0;
  return kernel;
}

// Where(cond, X, Y): copies elements, so it dispatches on the element size only.
template <typename T>
class WhereKernel final : public Kernel {
 public:
  explicit WhereKernel(BroadcastLayout<3> layout) : layout_(std::move(layout)) {}
  void run(const KernelRun& r) const override {
    const auto* c = r.in(0).as<const uint8_t>();
    const T* x = r.in(1).as<const T>();
    const T* y = r.in(2).as<const T>();
    T* o = r.out(0).as<T>();
    const int64_t sc = layout_.inner_stride(0);
    const int64_t sx = layout_.inner_stride(1);
    const int64_t sy = layout_.inner_stride(2);
    parallel_for(layout_.numel, 1, [&](int64_t begin, int64_t end) {
      for_each_segment(layout_, begin, end,
                       [&](int64_t po, const std::array<int64_t, 3>& offs, int64_t len) {
                         const uint8_t* cs = c + offs[0];
                         const T* xs = x + offs[1];
                         const T* ys = y + offs[2];
                         T* os = o + po;
                         if (sc && sx && sy) {
                           for (int64_t i = 0; i < len; ++i) os[i] = cs[i] ? xs[i] : ys[i];
                         } else {
                           for (int64_t i = 0; i < len; ++i) {
                             os[i] = cs[i * sc] ? xs[i * sx] : ys[i * sy];
                           }
                         }
                       });
    });
  }
  const char* name() const override { return "where_broadcast"; }

 private:
  BroadcastLayout<3> layout_;
};

Result<std::unique_ptr<Kernel>> make_where(PrepareContext& ctx) {
  if (ctx.num_inputs() != 3) return ctx.invalid("expects 3 inputs");
  if (ctx.outputs.empty()) return ctx.invalid("expects 1 output");
  KEEL_RETURN_IF_ERROR(ctx.check_input(0, {DataType::kBool}));
  KEEL_RETURN_IF_ERROR(ctx.check_input(1, {}));
  KEEL_RETURN_IF_ERROR(ctx.check_input(2, {}));
  const DataType t = ctx.input(1).dtype;
  if (ctx.input(2).dtype != t) {
    return ctx.invalid("X and Y have different types " + dtype_name(t) + " and " +
                       dtype_name(ctx.input(2).dtype));
  }
  const Shape& s0 = ctx.input(0).shape;
  const Shape& s1 = ctx.input(1).shape;
  const Shape& s2 = ctx.input(2).shape;
  auto out = broadcast_shapes({&s0, &s1, &s2});
  if (!out) {
    return ctx.invalid("shapes " + shape_to_string(s0) + ", " + shape_to_string(s1) + ", " +
                       shape_to_string(s2) + " are not broadcastable");
  }
  if (!checked_numel(*out)) return ctx.invalid("output shape is too large");
  BroadcastLayout<3> layout = make_broadcast_layout<3>({&s0, &s1, &s2}, *out);
  std::unique_ptr<Kernel> kernel;
  switch (dtype_size(t)) {
    case 1: kernel = std::make_unique<WhereKernel<uint8_t>>(std::move(layout)); break;
    case 2: kernel = std::make_unique<WhereKernel<uint16_t>>(std::move(layout)); break;
    case 4: kernel = std::make_unique<WhereKernel<uint32_t>>(std::move(layout)); break;
    case 8: kernel = std::make_unique<WhereKernel<uint64_t>>(std::move(layout)); break;
    default: return ctx.unsupported_case("element type " + dtype_name(t) + " is not supported");
  }
  ctx.set_output(0, t, *out);
  for (int i = 1; i < 3; ++i) {
    if (ctx.input(i).shape == *out) {
      ctx.inplace_of[0] = i;
      break;
    }
  }
  return kernel;
}

}  // namespace

void register_elementwise_binary_kernels(KernelRegistry& r) {
  r.add("Add", &make_binary<Bin::kAdd>);
  r.add("Sub", &make_binary<Bin::kSub>);
  r.add("Mul", &make_binary<Bin::kMul>);
  r.add("Div", &make_binary<Bin::kDiv>);
  r.add("Pow", &make_binary<Bin::kPow>);
  r.add("Mod", &make_mod, 10);
  r.add("Equal", &make_binary<Bin::kEqual>);
  r.add("Less", &make_binary<Bin::kLess>);
  r.add("Greater", &make_binary<Bin::kGreater>);
  r.add("LessOrEqual", &make_binary<Bin::kLessEq>, 12);
  r.add("GreaterOrEqual", &make_binary<Bin::kGreaterEq>, 12);
  r.add("And", &make_binary<Bin::kAnd>);
  r.add("Or", &make_binary<Bin::kOr>);
  r.add("Xor", &make_binary<Bin::kXor>);
  r.add("PRelu", &make_binary<Bin::kPRelu>);
  r.add("Min", &make_variadic<Bin::kMin, false>);
  r.add("Max", &make_variadic<Bin::kMax, false>);
  r.add("Sum", &make_variadic<Bin::kAdd, false>);
  r.add("Mean", &make_variadic<Bin::kAdd, true>);
  r.add("Where", &make_where, 9);
}

}  // namespace keel
