// Softmax, LogSoftmax, the Reduce* family and ArgMax/ArgMin.
//
// Softmax subtracts the row maximum before exp and sums in double. Reductions accumulate float
// inputs in double (integers in int64, Max/Min in the element type) with a fixed order per
// output element, so results do not depend on the thread count. The reduced axes are merged
// at plan time: [outer, R] reduces contiguous rows, [outer, R, inner] accumulates rows of
// `inner` columns in tiles (both vectorizable); other axis patterns use a generic walk.
#include <algorithm>
#include <cmath>
#include <limits>
#include <memory>
#include <string>
#include <type_traits>
#include <vector>
#include <xsimd/xsimd.hpp>

#include "exec/parallel.hpp"
#include "kernels/elementwise_util.hpp"
#include "kernels/registry.hpp"

namespace keel {
namespace {

// ---------------------------------------------------------------------------------------------
// Softmax / LogSoftmax

constexpr int64_t kColumnTile = 256;

// exp(x[i] - m) into y[i] for i in [0, n), float math on batches (padded tail).
template <typename T>
void exp_shifted(const T* x, T* y, int64_t n, T m) {
  using B = xsimd::batch<T>;
  constexpr int64_t W = static_cast<int64_t>(B::size);
  const B mb(m);
  int64_t i = 0;
  for (; i + W <= n; i += W) xsimd::exp(B::load_unaligned(x + i) - mb).store_unaligned(y + i);
  if (i < n) {
    alignas(64) T buf[W] = {};
    std::copy(x + i, x + n, buf);
    xsimd::exp(B::load_unaligned(buf) - mb).store_unaligned(buf);
    std::copy(buf, buf + (n - i), y + i);
  }
}

// Sum in double with 8 independent accumulators (fixed order, vectorizable).
template <typename T>
double sum_double(const T* x, int64_t n) {
  double acc[8] = {0, 0, 0, 0, 0, 0, 0, 0};
  int64_t i = 0;
  for (; i + 8 <= n; i += 8) {
    for (int j = 0; j < 8; ++j) acc[j] += static_cast<double>(x[i + j]);
  }
  for (; i < n; ++i) acc[i & 7] += static_cast<double>(x[i]);
  return ((acc[0] + acc[1]) + (acc[2] + acc[3])) + ((acc[4] + acc[5]) + (acc[6] + acc[7]));
}

template <typename T>
T max_of(const T* x, int64_t n) {
  T m = -std::numeric_limits<T>::infinity();
  for (int64_t i = 0; i < n; ++i) m = (x[i] > m || x[i] != x[i]) ? x[i] : m;
  return m;
}

template <typename T, bool kLog>
class SoftmaxKernel final : public Kernel {
 public:
  SoftmaxKernel(int64_t outer, int64_t n, int64_t inner) : outer_(outer), n_(n), inner_(inner) {}

  void run(const KernelRun& r) const override {
    const T* x = r.in(0).as<const T>();
    T* y = r.out(0).as<T>();
    if (outer_ == 0 || n_ == 0 || inner_ == 0) return;
    if (inner_ == 1) {
      parallel_for(outer_, n_ * 20, [&](int64_t b, int64_t e) {
        for (int64_t o = b; o < e; ++o) row(x + o * n_, y + o * n_);
      });
      return;
    }
    const int64_t tiles = (inner_ + kColumnTile - 1) / kColumnTile;
    parallel_for(outer_ * tiles, n_ * std::min(inner_, kColumnTile) * 20,
                 [&](int64_t b, int64_t e) {
                   for (int64_t item = b; item < e; ++item) {
                     const int64_t o = item / tiles;
                     const int64_t c0 = (item % tiles) * kColumnTile;
                     const int64_t w = std::min(kColumnTile, inner_ - c0);
                     columns(x + o * n_ * inner_ + c0, y + o * n_ * inner_ + c0, w);
                   }
                 });
  }
  const char* name() const override {
    return kLog ? (inner_ == 1 ? "log_softmax_lastaxis" : "log_softmax_strided")
                : (inner_ == 1 ? "softmax_lastaxis" : "softmax_strided");
  }

 private:
  void row(const T* x, T* y) const {
    const T m = max_of(x, n_);
    // An infinite max would turn exp(x - m) into NaN for every element; shift by 0 instead.
    const T shift = std::isfinite(m) ? m : T(0);
    if constexpr (kLog) {
      // y may be x (in place): exps go to a stack buffer, x is read again below.
      double sum = 0.0;
      T buf[kColumnTile];
      for (int64_t i = 0; i < n_; i += kColumnTile) {
        const int64_t len = std::min(kColumnTile, n_ - i);
        exp_shifted(x + i, buf, len, shift);
        sum += sum_double(buf, len);
      }
      const double lse = static_cast<double>(shift) + std::log(sum);
      for (int64_t i = 0; i < n_; ++i) y[i] = static_cast<T>(static_cast<double>(x[i]) - lse);
    } else {
      exp_shifted(x, y, n_, shift);
      const double inv = 1.0 / sum_double(y, n_);
      for (int64_t i = 0; i < n_; ++i) y[i] = static_cast<T>(static_cast<double>(y[i]) * inv);
    }
  }

  // `w` columns of one outer block: element (j, c) at x[j * inner_ + c].
  void columns(const T* x, T* y, int64_t w) const {
    T mx[kColumnTile];
    double sum[kColumnTile];
    for (int64_t c = 0; c < w; ++c) {
      mx[c] = -std::numeric_limits<T>::infinity();
      sum[c] = 0.0;
    }
    for (int64_t j = 0; j < n_; ++j) {
      const T* xr = x + j * inner_;
      for (int64_t c = 0; c < w; ++c) mx[c] = (xr[c] > mx[c] || xr[c] != xr[c]) ? xr[c] : mx[c];
    }
    for (int64_t c = 0; c < w; ++c) mx[c] = std::isfinite(mx[c]) ? mx[c] : T(0);
    T tmp[kColumnTile];
    for (int64_t j = 0; j < n_; ++j) {
      const T* xr = x + j * inner_;
      // LogSoftmax reads x again at the end, so its exps go to tmp (y may be x).
      T* er = kLog ? tmp : y + j * inner_;
      for (int64_t c = 0; c < w; ++c) er[c] = xr[c] - mx[c];
      exp_shifted(er, er, w, T(0));
      for (int64_t c = 0; c < w; ++c) sum[c] += static_cast<double>(er[c]);
    }
    if constexpr (kLog) {
      double lse[kColumnTile];
      for (int64_t c = 0; c < w; ++c) lse[c] = static_cast<double>(mx[c]) + std::log(sum[c]);
      for (int64_t j = 0; j < n_; ++j) {
        const T* xr = x + j * inner_;
        T* yr = y + j * inner_;
        for (int64_t c = 0; c < w; ++c) yr[c] = static_cast<T>(static_cast<double>(xr[c]) - lse[c]);
      }
    } else {
      double inv[kColumnTile];
      for (int64_t c = 0; c < w; ++c) inv[c] = 1.0 / sum[c];
      for (int64_t j = 0; j < n_; ++j) {
        T* yr = y + j * inner_;
        for (int64_t c = 0; c < w; ++c) yr[c] = static_cast<T>(static_cast<double>(yr[c]) * inv[c]);
      }
    }
  }

  int64_t outer_, n_, inner_;
};

template <bool kLog>
Result<std::unique_ptr<Kernel>> make_softmax(PrepareContext& ctx) {
  if (ctx.num_inputs() != 1) return ctx.invalid("expects 1 input");
  if (ctx.outputs.empty()) return ctx.invalid("expects 1 output");
  KEEL_RETURN_IF_ERROR(ctx.check_input(0, {DataType::kFloat32, DataType::kFloat64}, 1));
  const Shape& s = ctx.input(0).shape;
  const auto rank = static_cast<int64_t>(s.size());
  const bool legacy = ctx.opset() < 13;  // coerce to 2-D at `axis` (default 1)
  KEEL_ASSIGN_OR_RETURN(int64_t axis_attr, ctx.node.attr_int("axis", legacy ? 1 : -1));
  int64_t axis;
  if (legacy && axis_attr == rank) {
    axis = rank;  // [N, 1] view: every row has one element
  } else {
    auto a = normalize_axis(axis_attr, rank);
    if (!a) {
      return ctx.invalid("axis " + std::to_string(axis_attr) + " is out of range for rank " +
                         std::to_string(rank));
    }
    axis = *a;
  }
  int64_t outer = 1, n = 1, inner = 1;
  for (int64_t d = 0; d < rank; ++d) {
    if (d < axis) {
      outer *= s[d];
    } else if (legacy || d == axis) {
      n *= s[d];
    } else {
      inner *= s[d];
    }
  }
  std::unique_ptr<Kernel> kernel;
  visit_float(ctx.input(0).dtype, [&]<typename T>() {
    kernel = std::make_unique<SoftmaxKernel<T, kLog>>(outer, n, inner);
  });
  ctx.set_output(0, ctx.input(0).dtype, s);
  // The last-axis path reads a row fully (max) before writing it; the strided path reads a
  // column tile before writing it too, and each tile is owned by one thread.
  ctx.inplace_of[0] = 0;
  return kernel;
}

// ---------------------------------------------------------------------------------------------
// Reductions

enum class Red { kSum, kMean, kMax, kMin, kProd, kL1, kL2, kSumSquare, kLogSum, kLogSumExp };

constexpr const char* red_name(Red k) {
  switch (k) {
    case Red::kSum: return "reduce_sum";
    case Red::kMean: return "reduce_mean";
    case Red::kMax: return "reduce_max";
    case Red::kMin: return "reduce_min";
    case Red::kProd: return "reduce_prod";
    case Red::kL1: return "reduce_l1";
    case Red::kL2: return "reduce_l2";
    case Red::kSumSquare: return "reduce_sum_square";
    case Red::kLogSum: return "reduce_log_sum";
    case Red::kLogSumExp: return "reduce_log_sum_exp";
  }
  return "reduce";
}

template <Red K, typename T>
struct Reducer {
  static constexpr bool kFloat = std::is_floating_point_v<T>;
  static constexpr bool kExtreme = K == Red::kMax || K == Red::kMin;
  static constexpr bool kTranscendental =
      K == Red::kL2 || K == Red::kLogSum || K == Red::kLogSumExp;
  using Acc = std::conditional_t<
      kExtreme, T,
      std::conditional_t<kFloat || kTranscendental, double,
                         std::conditional_t<std::is_signed_v<T>, int64_t, uint64_t>>>;

  static Acc init() {
    if constexpr (K == Red::kProd) {
      return Acc(1);
    } else if constexpr (K == Red::kMax) {
      return kFloat ? -std::numeric_limits<T>::infinity() : std::numeric_limits<T>::lowest();
    } else if constexpr (K == Red::kMin) {
      return kFloat ? std::numeric_limits<T>::infinity() : std::numeric_limits<T>::max();
    } else {
      return Acc(0);
    }
  }
  // `shift` is the max subtracted by LogSumExp (0 for the others).
  static Acc step(Acc a, T x, Acc shift) {
    if constexpr (K == Red::kMax) {
      return (x > a || x != x) ? x : a;
    } else if constexpr (K == Red::kMin) {
      return (x < a || x != x) ? x : a;
    } else if constexpr (K == Red::kProd) {
      return wrap_mul(a, static_cast<Acc>(x));
    } else if constexpr (K == Red::kL1) {
      const Acc v = static_cast<Acc>(x);
      return wrap_add(a, v < Acc(0) ? wrap_sub(Acc(0), v) : v);
    } else if constexpr (K == Red::kL2 || K == Red::kSumSquare) {
      const Acc v = static_cast<Acc>(x);
      return wrap_add(a, wrap_mul(v, v));
    } else if constexpr (K == Red::kLogSumExp) {
      return a + std::exp(static_cast<double>(x) - shift);
    } else {
      return wrap_add(a, static_cast<Acc>(x));
    }
  }
  static Acc merge(Acc a, Acc b) {
    if constexpr (K == Red::kMax) {
      return (b > a || b != b) ? b : a;
    } else if constexpr (K == Red::kMin) {
      return (b < a || b != b) ? b : a;
    } else if constexpr (K == Red::kProd) {
      return wrap_mul(a, b);
    } else {
      return wrap_add(a, b);
    }
  }
  static T finish(Acc a, int64_t count, Acc shift) {
    if constexpr (K == Red::kMean) {
      if constexpr (kFloat) {
        return static_cast<T>(a / static_cast<double>(count));  // 0/0 = NaN for an empty set
      } else {
        return count == 0 ? T(0) : static_cast<T>(a / static_cast<Acc>(count));
      }
    } else if constexpr (K == Red::kL2) {
      return cast_out(std::sqrt(a));
    } else if constexpr (K == Red::kLogSum) {
      return cast_out(std::log(a));
    } else if constexpr (K == Red::kLogSumExp) {
      return cast_out(shift + std::log(a));
    } else {
      return static_cast<T>(a);
    }
  }
  static T cast_out(double v) {
    if constexpr (kFloat) {
      return static_cast<T>(v);
    } else {
      return float_to_int<T>(v);
    }
  }
  // LogSumExp shifts by the maximum; an infinite or NaN maximum shifts by 0.
  static Acc shift_from_max(T m) {
    if constexpr (K == Red::kLogSumExp) {
      const double d = static_cast<double>(m);
      return std::isfinite(d) ? d : 0.0;
    } else {
      return Acc(0);
    }
  }
};

// Reduce plan: dims merged into alternating kept/reduced blocks.
struct ReducePlan {
  // Fast shapes: outer x r x inner (any of them may be 1).
  bool fast = false;
  int64_t outer = 1, r = 1, inner = 1;
  // Generic walk: kept dims/strides (output order) and reduced dims/strides.
  std::vector<int64_t> kept_dims, kept_strides, red_dims, red_strides;
  int64_t out_numel = 0;
  int64_t red_count = 1;
};

template <Red K, typename T>
class ReduceKernel final : public Kernel {
  using R = Reducer<K, T>;
  using Acc = typename R::Acc;

 public:
  explicit ReduceKernel(ReducePlan plan) : p_(std::move(plan)) {}

  void run(const KernelRun& r) const override {
    const T* x = r.in(0).as<const T>();
    T* y = r.out(0).as<T>();
    if (p_.out_numel == 0) return;
    if (p_.red_count == 0) {
      const T v = R::finish(R::init(), 0, Acc(0));
      std::fill(y, y + p_.out_numel, v);
      return;
    }
    if (p_.fast && p_.inner == 1) {
      parallel_for(p_.outer, p_.r, [&](int64_t b, int64_t e) {
        for (int64_t o = b; o < e; ++o) y[o] = reduce_row(x + o * p_.r, p_.r);
      });
    } else if (p_.fast) {
      const int64_t tiles = (p_.inner + kColumnTile - 1) / kColumnTile;
      parallel_for(p_.outer * tiles, p_.r * std::min(p_.inner, kColumnTile),
                   [&](int64_t b, int64_t e) {
                     for (int64_t item = b; item < e; ++item) {
                       const int64_t o = item / tiles;
                       const int64_t c0 = (item % tiles) * kColumnTile;
                       const int64_t w = std::min(kColumnTile, p_.inner - c0);
                       reduce_columns(x + o * p_.r * p_.inner + c0, y + o * p_.inner + c0, w);
                     }
                   });
    } else {
      parallel_for(p_.out_numel, p_.red_count, [&](int64_t b, int64_t e) {
        for (int64_t i = b; i < e; ++i) y[i] = reduce_generic(x, i);
      });
    }
  }
  const char* name() const override { return red_name(K); }

 private:
  T reduce_row(const T* x, int64_t n) const {
    Acc shift = Acc(0);
    if constexpr (K == Red::kLogSumExp) {
      T m = -std::numeric_limits<T>::infinity();
      if constexpr (!std::is_floating_point_v<T>) m = std::numeric_limits<T>::lowest();
      for (int64_t i = 0; i < n; ++i) m = (x[i] > m || x[i] != x[i]) ? x[i] : m;
      shift = R::shift_from_max(m);
    }
    Acc acc[8];
    for (auto& a : acc) a = R::init();
    int64_t i = 0;
    for (; i + 8 <= n; i += 8) {
      for (int j = 0; j < 8; ++j) acc[j] = R::step(acc[j], x[i + j], shift);
    }
    for (; i < n; ++i) acc[i & 7] = R::step(acc[i & 7], x[i], shift);
    const Acc total = R::merge(R::merge(R::merge(acc[0], acc[1]), R::merge(acc[2], acc[3])),
                               R::merge(R::merge(acc[4], acc[5]), R::merge(acc[6], acc[7])));
    return R::finish(total, n, shift);
  }

  // Columns [0, w) of one outer block: element (j, c) at x[j * inner + c].
  void reduce_columns(const T* x, T* y, int64_t w) const {
    const int64_t inner = p_.inner;
    Acc acc[kColumnTile];
    Acc shift[kColumnTile];
    for (int64_t c = 0; c < w; ++c) {
      acc[c] = R::init();
      shift[c] = Acc(0);
    }
    if constexpr (K == Red::kLogSumExp) {
      T m[kColumnTile];
      for (int64_t c = 0; c < w; ++c) m[c] = -std::numeric_limits<T>::infinity();
      if constexpr (!std::is_floating_point_v<T>) {
        for (int64_t c = 0; c < w; ++c) m[c] = std::numeric_limits<T>::lowest();
      }
      for (int64_t j = 0; j < p_.r; ++j) {
        const T* xr = x + j * inner;
        for (int64_t c = 0; c < w; ++c) m[c] = (xr[c] > m[c] || xr[c] != xr[c]) ? xr[c] : m[c];
      }
      for (int64_t c = 0; c < w; ++c) shift[c] = R::shift_from_max(m[c]);
    }
    for (int64_t j = 0; j < p_.r; ++j) {
      const T* xr = x + j * inner;
      for (int64_t c = 0; c < w; ++c) acc[c] = R::step(acc[c], xr[c], shift[c]);
    }
    for (int64_t c = 0; c < w; ++c) y[c] = R::finish(acc[c], p_.r, shift[c]);
  }

  T reduce_generic(const T* x, int64_t out_index) const {
    // Input offset of the output element.
    int64_t base = 0;
    int64_t rest = out_index;
    for (size_t d = p_.kept_dims.size(); d-- > 0;) {
      base += (rest % p_.kept_dims[d]) * p_.kept_strides[d];
      rest /= p_.kept_dims[d];
    }
    const size_t nr = p_.red_dims.size();
    std::vector<int64_t> idx(nr, 0);
    auto walk = [&](auto&& visit) {
      std::fill(idx.begin(), idx.end(), 0);
      int64_t off = base;
      for (int64_t k = 0; k < p_.red_count; ++k) {
        visit(x[off]);
        for (size_t d = nr; d-- > 0;) {
          off += p_.red_strides[d];
          if (++idx[d] < p_.red_dims[d]) break;
          off -= p_.red_dims[d] * p_.red_strides[d];
          idx[d] = 0;
        }
      }
    };
    Acc shift = Acc(0);
    if constexpr (K == Red::kLogSumExp) {
      T m = std::is_floating_point_v<T> ? -std::numeric_limits<T>::infinity()
                                        : std::numeric_limits<T>::lowest();
      walk([&](T v) { m = (v > m || v != v) ? v : m; });
      shift = R::shift_from_max(m);
    }
    Acc acc = R::init();
    walk([&](T v) { acc = R::step(acc, v, shift); });
    return R::finish(acc, p_.red_count, shift);
  }

  ReducePlan p_;
};

// Builds the plan; `reduced[d]` marks reduced input dims.
ReducePlan make_reduce_plan(const Shape& s, const std::vector<bool>& reduced) {
  ReducePlan p;
  const std::vector<int64_t> strides = contiguous_strides(s);
  p.out_numel = 1;
  p.red_count = 1;
  for (size_t d = 0; d < s.size(); ++d) {
    if (reduced[d]) {
      p.red_count *= s[d];
    } else {
      p.out_numel *= s[d];
    }
  }
  // Merge size>1 dims into blocks of equal flag.
  std::vector<std::pair<bool, int64_t>> blocks;
  for (size_t d = 0; d < s.size(); ++d) {
    if (s[d] == 1) continue;
    if (!blocks.empty() && blocks.back().first == reduced[d]) {
      blocks.back().second *= s[d];
    } else {
      blocks.emplace_back(reduced[d], s[d]);
    }
  }
  // Fast: at most [kept] [reduced] [kept].
  size_t i = 0;
  int64_t outer = 1, r = 1, inner = 1;
  if (i < blocks.size() && !blocks[i].first) outer = blocks[i++].second;
  if (i < blocks.size() && blocks[i].first) r = blocks[i++].second;
  if (i < blocks.size() && !blocks[i].first) inner = blocks[i++].second;
  if (i == blocks.size()) {
    p.fast = true;
    p.outer = outer;
    p.r = r;
    p.inner = inner;
    return p;
  }
  for (size_t d = 0; d < s.size(); ++d) {
    if (reduced[d]) {
      p.red_dims.push_back(s[d]);
      p.red_strides.push_back(strides[d]);
    } else {
      p.kept_dims.push_back(s[d]);
      p.kept_strides.push_back(strides[d]);
    }
  }
  return p;
}

template <Red K>
bool reduce_supports(DataType t) {
  if (t == DataType::kFloat32 || t == DataType::kFloat64) return true;
  return dtype_is_integer(t);
}

// Opset where `axes` moved from an attribute to an input.
constexpr int axes_input_opset(Red k) { return k == Red::kSum ? 13 : 18; }

template <Red K>
Result<std::unique_ptr<Kernel>> make_reduce(PrepareContext& ctx) {
  if (ctx.num_inputs() < 1 || !ctx.has_input(0)) return ctx.invalid("input 0 is required");
  if (ctx.outputs.empty()) return ctx.invalid("expects 1 output");
  const bool axes_input = ctx.opset() >= axes_input_opset(K);
  if (ctx.num_inputs() > (axes_input ? 2u : 1u)) {
    return ctx.invalid("too many inputs for opset " + std::to_string(ctx.opset()));
  }
  const DataType t = ctx.input(0).dtype;
  const Shape& s = ctx.input(0).shape;
  const auto rank = static_cast<int64_t>(s.size());
  KEEL_ASSIGN_OR_RETURN(int64_t keepdims, ctx.node.attr_int("keepdims", 1));
  KEEL_ASSIGN_OR_RETURN(int64_t noop, ctx.node.attr_int("noop_with_empty_axes", 0));
  if (keepdims != 0 && keepdims != 1) return ctx.invalid("attribute 'keepdims' must be 0 or 1");
  if (noop != 0 && noop != 1) return ctx.invalid("attribute 'noop_with_empty_axes' must be 0 or 1");

  std::vector<int64_t> axes;
  if (axes_input) {
    if (ctx.node.has_attribute("axes"))
      return ctx.invalid("'axes' is an input since this opset, not an attribute");
    if (ctx.has_input(1)) {
      KEEL_RETURN_IF_ERROR(ctx.check_input(1, {DataType::kInt64}, 1, 1));
      const Tensor* v = ctx.require_value(1);
      if (!v) return ctx.require_value_status(1);
      const int64_t* a = v->data_as<int64_t>();
      axes.assign(a, a + v->numel());
    }
  } else {
    KEEL_ASSIGN_OR_RETURN(axes, ctx.node.attr_ints("axes", {}));
  }

  std::vector<bool> reduced(s.size(), false);
  const bool noop_identity = axes.empty() && noop == 1;
  if (axes.empty()) {
    if (!noop_identity) reduced.assign(s.size(), true);
  } else {
    for (int64_t a : axes) {
      auto n = normalize_axis(a, rank);
      if (!n) {
        return ctx.invalid("axis " + std::to_string(a) + " is out of range for input shape " +
                           shape_to_string(s));
      }
      if (reduced[*n]) return ctx.invalid("axis " + std::to_string(a) + " is repeated");
      reduced[*n] = true;
    }
  }
  if (!reduce_supports<K>(t)) {
    return ctx.unsupported_case("input type " + dtype_name(t) + " is not supported");
  }

  Shape out;
  for (int64_t d = 0; d < rank; ++d) {
    if (!reduced[d]) {
      out.push_back(s[d]);
    } else if (keepdims) {
      out.push_back(1);
    }
  }
  ctx.set_output(0, t, out);
  if (noop_identity &&
      (K == Red::kSum || K == Red::kMean || K == Red::kMax || K == Red::kMin || K == Red::kProd)) {
    ctx.alias_of[0] = 0;
    return std::unique_ptr<Kernel>(std::make_unique<NoOpKernel>());
  }
  ReducePlan plan = make_reduce_plan(s, reduced);
  std::unique_ptr<Kernel> kernel;
  visit_numeric(t, [&]<typename T>() { kernel = std::make_unique<ReduceKernel<K, T>>(plan); });
  if (!kernel) return ctx.unsupported_case("input type " + dtype_name(t) + " is not supported");
  return kernel;
}

// ---------------------------------------------------------------------------------------------
// ArgMax / ArgMin

template <typename T, bool kMax>
class ArgKernel final : public Kernel {
 public:
  ArgKernel(int64_t outer, int64_t n, int64_t inner, bool last)
      : outer_(outer), n_(n), inner_(inner), last_(last) {}

  void run(const KernelRun& r) const override {
    const T* x = r.in(0).as<const T>();
    auto* y = r.out(0).as<int64_t>();
    parallel_for(outer_ * inner_, n_, [&](int64_t b, int64_t e) {
      for (int64_t item = b; item < e; ++item) {
        const int64_t o = item / inner_;
        const int64_t c = item % inner_;
        const T* p = x + o * n_ * inner_ + c;
        int64_t best = 0;
        T bv = p[0];
        for (int64_t j = 1; j < n_; ++j) {
          const T v = p[j * inner_];
          if (bv != bv) break;  // the first NaN wins, like numpy
          const bool better =
              v != v || (kMax ? (last_ ? v >= bv : v > bv) : (last_ ? v <= bv : v < bv));
          if (better) {
            best = j;
            bv = v;
          }
        }
        y[item] = best;
      }
    });
  }
  const char* name() const override { return kMax ? "argmax" : "argmin"; }

 private:
  int64_t outer_, n_, inner_;
  bool last_;
};

template <bool kMax>
Result<std::unique_ptr<Kernel>> make_arg(PrepareContext& ctx) {
  if (ctx.num_inputs() != 1) return ctx.invalid("expects 1 input");
  if (ctx.outputs.empty()) return ctx.invalid("expects 1 output");
  KEEL_RETURN_IF_ERROR(ctx.check_input(0, {}, 1));
  const Shape& s = ctx.input(0).shape;
  const auto rank = static_cast<int64_t>(s.size());
  KEEL_ASSIGN_OR_RETURN(int64_t axis_attr, ctx.node.attr_int("axis", 0));
  KEEL_ASSIGN_OR_RETURN(int64_t keepdims, ctx.node.attr_int("keepdims", 1));
  KEEL_ASSIGN_OR_RETURN(int64_t last, ctx.node.attr_int("select_last_index", 0));
  auto axis = normalize_axis(axis_attr, rank);
  if (!axis) return ctx.invalid("axis " + std::to_string(axis_attr) + " is out of range");
  if (s[*axis] == 0) return ctx.invalid("cannot take the arg-extreme over an empty axis");
  int64_t outer = 1, inner = 1;
  Shape out;
  for (int64_t d = 0; d < rank; ++d) {
    if (d < *axis) outer *= s[d];
    if (d > *axis) inner *= s[d];
    if (d != *axis) {
      out.push_back(s[d]);
    } else if (keepdims) {
      out.push_back(1);
    }
  }
  std::unique_ptr<Kernel> kernel;
  visit_numeric(ctx.input(0).dtype, [&]<typename T>() {
    kernel = std::make_unique<ArgKernel<T, kMax>>(outer, s[*axis], inner, last != 0);
  });
  if (!kernel) {
    return ctx.unsupported_case("input type " + dtype_name(ctx.input(0).dtype) +
                                " is not supported");
  }
  ctx.set_output(0, DataType::kInt64, out);
  return kernel;
}

}  // namespace

void register_math_kernels(KernelRegistry& r) {
  r.add("Softmax", &make_softmax<false>);
  r.add("LogSoftmax", &make_softmax<true>);
  r.add("ReduceSum", &make_reduce<Red::kSum>);
  r.add("ReduceMean", &make_reduce<Red::kMean>);
  r.add("ReduceMax", &make_reduce<Red::kMax>);
  r.add("ReduceMin", &make_reduce<Red::kMin>);
  r.add("ReduceProd", &make_reduce<Red::kProd>);
  r.add("ReduceL1", &make_reduce<Red::kL1>);
  r.add("ReduceL2", &make_reduce<Red::kL2>);
  r.add("ReduceSumSquare", &make_reduce<Red::kSumSquare>);
  r.add("ReduceLogSum", &make_reduce<Red::kLogSum>);
  r.add("ReduceLogSumExp", &make_reduce<Red::kLogSumExp>);
  r.add("ArgMax", &make_arg<true>);
  r.add("ArgMin", &make_arg<false>);
}

}  // namespace keel
