// Unary elementwise ops (activations and math functions) and the family's registration.
//
// float32/float64 bodies are written once on xsimd batches (baseline ISA of this translation
// unit); a chunk's tail is padded into one more batch, so every element goes through the same
// code and results do not depend on how parallel_for splits the range. Integer variants
// (Relu, Neg, Abs, Sign, Clip) are plain loops the compiler vectorizes.
#include <algorithm>
#include <cfloat>
#include <cmath>
#include <memory>
#include <string>
#include <xsimd/xsimd.hpp>

#include "exec/parallel.hpp"
#include "kernels/elementwise_internal.hpp"
#include "kernels/elementwise_util.hpp"
#include "kernels/registry.hpp"

namespace keel {
namespace {

enum class Unary {
  kRelu,
  kLeakyRelu,
  kSigmoid,
  kHardSigmoid,
  kHardSwish,
  kTanh,
  kErf,
  kGelu,
  kGeluTanh,
  kSqrt,
  kReciprocal,
  kExp,
  kNeg,
  kAbs,
  kElu,
  kSelu,
  kSoftplus,
  kSoftsign,
  kMish,
  kThresholdedRelu,
  kCelu,
  kLog,
  kFloor,
  kCeil,
  kRound,
  kSign,
  kSin,
  kCos,
  kClip,
};

constexpr const char* unary_name(Unary k) {
  switch (k) {
    case Unary::kRelu: return "relu";
    case Unary::kLeakyRelu: return "leaky_relu";
    case Unary::kSigmoid: return "sigmoid";
    case Unary::kHardSigmoid: return "hard_sigmoid";
    case Unary::kHardSwish: return "hard_swish";
    case Unary::kTanh: return "tanh";
    case Unary::kErf: return "erf";
    case Unary::kGelu: return "gelu_erf";
    case Unary::kGeluTanh: return "gelu_tanh";
    case Unary::kSqrt: return "sqrt";
    case Unary::kReciprocal: return "reciprocal";
    case Unary::kExp: return "exp";
    case Unary::kNeg: return "neg";
    case Unary::kAbs: return "abs";
    case Unary::kElu: return "elu";
    case Unary::kSelu: return "selu";
    case Unary::kSoftplus: return "softplus";
    case Unary::kSoftsign: return "softsign";
    case Unary::kMish: return "mish";
    case Unary::kThresholdedRelu: return "thresholded_relu";
    case Unary::kCelu: return "celu";
    case Unary::kLog: return "log";
    case Unary::kFloor: return "floor";
    case Unary::kCeil: return "ceil";
    case Unary::kRound: return "round";
    case Unary::kSign: return "sign";
    case Unary::kSin: return "sin";
    case Unary::kCos: return "cos";
    case Unary::kClip: return "clip";
  }
  return "unary";
}

// Rough cost in element operations (decides when forking threads pays).
constexpr int64_t unary_cost(Unary k) {
  switch (k) {
    case Unary::kRelu:
    case Unary::kLeakyRelu:
    case Unary::kHardSigmoid:
    case Unary::kHardSwish:
    case Unary::kNeg:
    case Unary::kAbs:
    case Unary::kFloor:
    case Unary::kCeil:
    case Unary::kRound:
    case Unary::kSign:
    case Unary::kClip:
    case Unary::kThresholdedRelu: return 1;
    case Unary::kSqrt:
    case Unary::kReciprocal:
    case Unary::kSoftsign: return 4;
    default: return 16;
  }
}

template <Unary K, typename T>
constexpr bool unary_supports() {
  if constexpr (std::is_floating_point_v<T>) return true;
  if constexpr (K == Unary::kAbs || K == Unary::kSign || K == Unary::kClip) return true;
  if constexpr (K == Unary::kRelu || K == Unary::kNeg) return std::is_signed_v<T>;
  return false;
}

struct UnaryParams {
  double alpha = 0.0;
  double beta = 0.0;
  double gamma = 0.0;
  double lo = 0.0;  // Clip bounds for float types
  double hi = 0.0;
};

// The float body of each op on an xsimd batch.
template <Unary K, typename T>
struct SimdUnary {
  using B = xsimd::batch<T>;
  B alpha, beta, gamma, lo, hi;

  explicit SimdUnary(const UnaryParams& p)
      : alpha(static_cast<T>(p.alpha)),
        beta(static_cast<T>(p.beta)),
        gamma(static_cast<T>(p.gamma)),
        lo(static_cast<T>(p.lo)),
        hi(static_cast<T>(p.hi)) {}

  static B softplus(B x) {
    // max(x, 0) + log(1 + exp(-|x|)): no overflow for large |x|.
    return xsimd::max(x, B(T(0))) + xsimd::log1p(xsimd::exp(-xsimd::abs(x)));
  }

  B operator()(B x) const {
    const B zero(T(0));
    const B one(T(1));
    if constexpr (K == Unary::kRelu) {
      return xsimd::select(x < zero, zero, x);
    } else if constexpr (K == Unary::kLeakyRelu) {
      return xsimd::select(x < zero, x * alpha, x);
    } else if constexpr (K == Unary::kSigmoid) {
      // exp of a non-positive argument only: 1/(1+e^-x) or e^x/(1+e^x).
      const B e = xsimd::exp(-xsimd::abs(x));
      const B r = one / (one + e);
      return xsimd::select(x >= zero, r, e * r);
    } else if constexpr (K == Unary::kHardSigmoid) {
      return xsimd::max(zero, xsimd::min(one, x * alpha + beta));
    } else if constexpr (K == Unary::kHardSwish) {
      return x * xsimd::max(zero, xsimd::min(one, x * B(T(1.0 / 6.0)) + B(T(0.5))));
    } else if constexpr (K == Unary::kTanh) {
      return xsimd::tanh(x);
    } else if constexpr (K == Unary::kErf) {
      return xsimd::erf(x);
    } else if constexpr (K == Unary::kGelu) {
      return B(T(0.5)) * x * (one + xsimd::erf(x * B(T(0.70710678118654752440))));
    } else if constexpr (K == Unary::kGeluTanh) {
      const B inner = B(T(0.79788456080286535588)) * (x + B(T(0.044715)) * x * x * x);
      return B(T(0.5)) * x * (one + xsimd::tanh(inner));
    } else if constexpr (K == Unary::kSqrt) {
      return xsimd::sqrt(x);
    } else if constexpr (K == Unary::kReciprocal) {
      return one / x;
    } else if constexpr (K == Unary::kExp) {
      return xsimd::exp(x);
    } else if constexpr (K == Unary::kNeg) {
      return -x;
    } else if constexpr (K == Unary::kAbs) {
      return xsimd::abs(x);
    } else if constexpr (K == Unary::kElu) {
      return xsimd::select(x < zero, alpha * xsimd::expm1(x), x);
    } else if constexpr (K == Unary::kSelu) {
      return xsimd::select(x <= zero, gamma * (alpha * xsimd::exp(x) - alpha), gamma * x);
    } else if constexpr (K == Unary::kSoftplus) {
      return softplus(x);
    } else if constexpr (K == Unary::kSoftsign) {
      return x / (one + xsimd::abs(x));
    } else if constexpr (K == Unary::kMish) {
      return x * xsimd::tanh(softplus(x));
    } else if constexpr (K == Unary::kThresholdedRelu) {
      return xsimd::select(x > alpha, x, zero);
    } else if constexpr (K == Unary::kCelu) {
      return xsimd::max(zero, x) + xsimd::min(zero, alpha * xsimd::expm1(x / alpha));
    } else if constexpr (K == Unary::kLog) {
      return xsimd::log(x);
    } else if constexpr (K == Unary::kFloor) {
      return xsimd::floor(x);
    } else if constexpr (K == Unary::kCeil) {
      return xsimd::ceil(x);
    } else if constexpr (K == Unary::kRound) {
      return xsimd::nearbyint(x);  // half to even in the default rounding mode, as ONNX asks
    } else if constexpr (K == Unary::kSign) {
      return xsimd::select(x > zero, one, xsimd::select(x < zero, -one, x));
    } else if constexpr (K == Unary::kSin) {
      return xsimd::sin(x);
    } else if constexpr (K == Unary::kCos) {
      return xsimd::cos(x);
    } else {
      static_assert(K == Unary::kClip);
      return xsimd::min(hi, xsimd::max(lo, x));  // x second: a NaN x stays NaN
    }
  }
};

template <Unary K, typename T>
void unary_float(const T* x, T* y, int64_t n, const UnaryParams& p) {
  using B = xsimd::batch<T>;
  constexpr int64_t W = static_cast<int64_t>(B::size);
  // Captures by value: a vector store may alias anything, so pointers read through a
  // reference capture would be reloaded after every store.
  parallel_for(n, unary_cost(K), [x, y, p](int64_t begin, int64_t end) {
    const SimdUnary<K, T> op(p);
    int64_t i = begin;
    for (; i + W <= end; i += W) op(B::load_unaligned(x + i)).store_unaligned(y + i);
    if (i < end) {
      // Padded last batch: the tail runs the same code as the body.
      alignas(64) T buf[B::size] = {};
      std::copy(x + i, x + end, buf);
      op(B::load_unaligned(buf)).store_unaligned(buf);
      std::copy(buf, buf + (end - i), y + i);
    }
  });
}

template <Unary K, typename T>
void unary_int(const T* x, T* y, int64_t n, T lo, T hi) {
  parallel_for(n, 1, [&](int64_t begin, int64_t end) {
    for (int64_t i = begin; i < end; ++i) {
      const T v = x[i];
      if constexpr (K == Unary::kRelu) {
        y[i] = v < T(0) ? T(0) : v;
      } else if constexpr (K == Unary::kNeg) {
        y[i] = wrap_sub(T(0), v);
      } else if constexpr (K == Unary::kAbs) {
        if constexpr (std::is_signed_v<T>) {
          y[i] = v < T(0) ? wrap_sub(T(0), v) : v;
        } else {
          y[i] = v;
        }
      } else if constexpr (K == Unary::kSign) {
        y[i] = static_cast<T>((T(0) < v) - (v < T(0)));
      } else {
        static_assert(K == Unary::kClip);
        y[i] = std::min(std::max(v, lo), hi);
      }
    }
  });
}

template <Unary K, typename T>
class UnaryKernel final : public Kernel {
 public:
  // clip_inputs: Clip-11+ reads its bounds from inputs 1 and 2 at run time.
  UnaryKernel(UnaryParams p, bool clip_inputs) : p_(p), clip_inputs_(clip_inputs) {}

  void run(const KernelRun& r) const override {
    const T* x = r.in(0).as<const T>();
    T* y = r.out(0).as<T>();
    const int64_t n = r.out(0).numel;
    if constexpr (std::is_floating_point_v<T>) {
      UnaryParams p = p_;
      if constexpr (K == Unary::kClip) {
        if (clip_inputs_) {
          p.lo = -std::numeric_limits<double>::infinity();
          p.hi = std::numeric_limits<double>::infinity();
          if (r.num_inputs > 1 && r.in(1).data) p.lo = static_cast<double>(r.in(1).as<T>()[0]);
          if (r.num_inputs > 2 && r.in(2).data) p.hi = static_cast<double>(r.in(2).as<T>()[0]);
        }
      }
      unary_float<K, T>(x, y, n, p);
    } else {
      T lo = std::numeric_limits<T>::lowest();
      T hi = std::numeric_limits<T>::max();
      if constexpr (K == Unary::kClip) {
        if (clip_inputs_) {
          if (r.num_inputs > 1 && r.in(1).data) lo = r.in(1).as<T>()[0];
          if (r.num_inputs > 2 && r.in(2).data) hi = r.in(2).as<T>()[0];
        } else {
          lo = float_to_int<T>(p_.lo);
          hi = float_to_int<T>(p_.hi);
        }
      }
      unary_int<K, T>(x, y, n, lo, hi);
    }
  }
  const char* name() const override { return unary_name(K); }

 private:
  UnaryParams p_;
  bool clip_inputs_;
};

std::string supported_types(Unary k) {
  std::string s = "float32|float64";
  if (k == Unary::kAbs || k == Unary::kSign || k == Unary::kClip) {
    s += "|int8|int16|int32|int64|uint8|uint16|uint32|uint64";
  } else if (k == Unary::kRelu || k == Unary::kNeg) {
    s += "|int8|int16|int32|int64";
  }
  return s;
}

Status read_params(PrepareContext& ctx, Unary k, UnaryParams& p, bool& clip_inputs) {
  const Node& node = ctx.node;
  switch (k) {
    case Unary::kLeakyRelu: {
      KEEL_ASSIGN_OR_RETURN(float a, node.attr_float("alpha", 0.01f));
      p.alpha = a;
      break;
    }
    case Unary::kHardSigmoid: {
      KEEL_ASSIGN_OR_RETURN(float a, node.attr_float("alpha", 0.2f));
      KEEL_ASSIGN_OR_RETURN(float b, node.attr_float("beta", 0.5f));
      p.alpha = a;
      p.beta = b;
      break;
    }
    case Unary::kElu:
    case Unary::kThresholdedRelu: {
      KEEL_ASSIGN_OR_RETURN(float a, node.attr_float("alpha", 1.0f));
      p.alpha = a;
      break;
    }
    case Unary::kCelu: {
      KEEL_ASSIGN_OR_RETURN(float a, node.attr_float("alpha", 1.0f));
      if (a == 0.0f) return ctx.invalid("attribute 'alpha' must not be 0");
      p.alpha = a;
      break;
    }
    case Unary::kSelu: {
      KEEL_ASSIGN_OR_RETURN(float a, node.attr_float("alpha", 1.67326319217681884765625f));
      KEEL_ASSIGN_OR_RETURN(float g, node.attr_float("gamma", 1.05070102214813232421875f));
      p.alpha = a;
      p.gamma = g;
      break;
    }
    case Unary::kClip: {
      if (ctx.opset() < 11) {
        KEEL_ASSIGN_OR_RETURN(float lo, node.attr_float("min", -FLT_MAX));
        KEEL_ASSIGN_OR_RETURN(float hi, node.attr_float("max", FLT_MAX));
        p.lo = lo;
        p.hi = hi;
        if (ctx.num_inputs() > 1) return ctx.invalid("Clip before opset 11 takes 1 input");
      } else {
        clip_inputs = true;
        if (ctx.num_inputs() > 3) return ctx.invalid("Clip takes at most 3 inputs");
        for (size_t i = 1; i < ctx.num_inputs(); ++i) {
          if (!ctx.has_input(i)) continue;
          const InputInfo& in = ctx.input(i);
          if (in.dtype != ctx.input(0).dtype) {
            return ctx.invalid("input " + std::to_string(i) + " has type " + dtype_name(in.dtype) +
                               ", expected the input's type " + dtype_name(ctx.input(0).dtype));
          }
          auto count = checked_numel(in.shape);
          if (!count || *count != 1) {
            return ctx.invalid(std::string(i == 1 ? "min" : "max") +
                               " must be a scalar, got shape " + shape_to_string(in.shape));
          }
        }
      }
      break;
    }
    default: break;
  }
  return Status::ok();
}

template <Unary K>
Result<std::unique_ptr<Kernel>> make_unary(PrepareContext& ctx) {
  if (!ctx.has_input(0)) return ctx.invalid("input 0 is required but missing");
  if (K != Unary::kClip && ctx.num_inputs() != 1) {
    return ctx.invalid("expects 1 input, got " + std::to_string(ctx.num_inputs()));
  }
  if (ctx.outputs.empty()) return ctx.invalid("expects 1 output");
  UnaryParams p;
  bool clip_inputs = false;
  KEEL_RETURN_IF_ERROR(read_params(ctx, K, p, clip_inputs));

  const DataType t = ctx.input(0).dtype;
  std::unique_ptr<Kernel> kernel;
  auto make = [&]<typename T>() {
    if constexpr (unary_supports<K, T>())
      kernel = std::make_unique<UnaryKernel<K, T>>(p, clip_inputs);
  };
  visit_numeric(t, make);
  if (!kernel) {
    return ctx.unsupported_case("input type " + dtype_name(t) +
                                " is not supported (supported: " + supported_types(K) + ")");
  }
  ctx.set_output(0, t, ctx.input(0).shape);
  ctx.inplace_of[0] = 0;
  return kernel;
}

Result<std::unique_ptr<Kernel>> make_gelu(PrepareContext& ctx) {
  KEEL_ASSIGN_OR_RETURN(std::string approx, ctx.node.attr_string("approximate", "none"));
  if (approx == "none") return make_unary<Unary::kGelu>(ctx);
  if (approx == "tanh") return make_unary<Unary::kGeluTanh>(ctx);
  return ctx.invalid("attribute 'approximate' must be 'none' or 'tanh', got '" + approx + "'");
}

class NotKernel final : public Kernel {
 public:
  void run(const KernelRun& r) const override {
    const auto* x = r.in(0).as<const uint8_t>();
    auto* y = r.out(0).as<uint8_t>();
    parallel_for(r.out(0).numel, 1, [&](int64_t b, int64_t e) {
      for (int64_t i = b; i < e; ++i) y[i] = x[i] == 0 ? 1 : 0;
    });
  }
  const char* name() const override { return "not_bool"; }
};

Result<std::unique_ptr<Kernel>> make_not(PrepareContext& ctx) {
  if (ctx.num_inputs() != 1) return ctx.invalid("expects 1 input");
  if (ctx.outputs.empty()) return ctx.invalid("expects 1 output");
  KEEL_RETURN_IF_ERROR(ctx.check_input(0, {DataType::kBool}));
  ctx.set_output(0, DataType::kBool, ctx.input(0).shape);
  ctx.inplace_of[0] = 0;
  return std::unique_ptr<Kernel>(std::make_unique<NotKernel>());
}

}  // namespace

void register_elementwise_kernels(KernelRegistry& r) {
  r.add("Relu", &make_unary<Unary::kRelu>);
  r.add("LeakyRelu", &make_unary<Unary::kLeakyRelu>);
  r.add("Sigmoid", &make_unary<Unary::kSigmoid>);
  r.add("HardSigmoid", &make_unary<Unary::kHardSigmoid>);
  r.add("HardSwish", &make_unary<Unary::kHardSwish>, 14);
  r.add("Tanh", &make_unary<Unary::kTanh>);
  r.add("Erf", &make_unary<Unary::kErf>, 9);
  r.add("Gelu", &make_gelu, 20);
  r.add("Sqrt", &make_unary<Unary::kSqrt>);
  r.add("Reciprocal", &make_unary<Unary::kReciprocal>);
  r.add("Exp", &make_unary<Unary::kExp>);
  r.add("Neg", &make_unary<Unary::kNeg>);
  r.add("Abs", &make_unary<Unary::kAbs>);
  r.add("Elu", &make_unary<Unary::kElu>);
  r.add("Selu", &make_unary<Unary::kSelu>);
  r.add("Softplus", &make_unary<Unary::kSoftplus>);
  r.add("Softsign", &make_unary<Unary::kSoftsign>);
  r.add("Mish", &make_unary<Unary::kMish>, 18);
  r.add("ThresholdedRelu", &make_unary<Unary::kThresholdedRelu>, 10);
  r.add("Celu", &make_unary<Unary::kCelu>, 12);
  r.add("Log", &make_unary<Unary::kLog>);
  r.add("Floor", &make_unary<Unary::kFloor>);
  r.add("Ceil", &make_unary<Unary::kCeil>);
  r.add("Round", &make_unary<Unary::kRound>, 11);
  r.add("Sign", &make_unary<Unary::kSign>, 9);
  r.add("Sin", &make_unary<Unary::kSin>, 7);
  r.add("Cos", &make_unary<Unary::kCos>, 7);
  r.add("Clip", &make_unary<Unary::kClip>);
  r.add("Not", &make_not);
  register_elementwise_binary_kernels(r);
  register_elementwise_cast_kernels(r);
}

}  // namespace keel
