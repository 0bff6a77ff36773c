#include "ref/normalization_ref.hpp"

#include <algorithm>
#include <cmath>

namespace keel::ref {
namespace {

int64_t prod(const Shape& s, size_t begin, size_t end) {
  int64_t n = 1;
  for (size_t i = begin; i < end; ++i) n *= s[i];
  return n;
}

struct MeanVar {
  double mean;
  double var;
};

// Exact two-pass statistics of `n` elements read through `at(i)`.
template <typename At>
MeanVar mean_var(int64_t n, At at) {
  double sum = 0.0;
  for (int64_t i = 0; i < n; ++i) sum += at(i);
  const double mean = sum / static_cast<double>(n);
  double ss = 0.0;
  for (int64_t i = 0; i < n; ++i) ss += (at(i) - mean) * (at(i) - mean);
  return {mean, ss / static_cast<double>(n)};
}

}  // namespace

std::vector<double> batchnorm(const float* x, const Shape& shape, const float* scale,
                              const float* bias, const float* mean, const float* var, double eps) {
  const int64_t n = shape[0], c = shape[1], s = prod(shape, 2, shape.size());
  std::vector<double> y(static_cast<size_t>(n * c * s));
  for (int64_t in = 0; in < n; ++in) {
    for (int64_t ic = 0; ic < c; ++ic) {
      const double inv = 1.0 / std::sqrt(static_cast<double>(var[ic]) + eps);
      for (int64_t i = 0; i < s; ++i) {
        const int64_t k = (in * c + ic) * s + i;
        y[k] = (x[k] - static_cast<double>(mean[ic])) * inv * scale[ic] + bias[ic];
      }
    }
  }
  return y;
}

std::vector<double> layernorm(const float* x, const Shape& shape, int64_t axis, const float* scale,
                              const float* bias, double eps, std::vector<double>* mean_out,
                              std::vector<double>* inv_out) {
  const int64_t rows = prod(shape, 0, axis), len = prod(shape, axis, shape.size());
  std::vector<double> y(static_cast<size_t>(rows * len));
  if (mean_out) mean_out->assign(rows, 0.0);
  if (inv_out) inv_out->assign(rows, 0.0);
  for (int64_t r = 0; r < rows; ++r) {
    const float* xr = x + r * len;
    const MeanVar mv = mean_var(len, [&](int64_t i) { return static_cast<double>(xr[i]); });
    const double inv = 1.0 / std::sqrt(mv.var + eps);
    if (mean_out) (*mean_out)[r] = mv.mean;
    if (inv_out) (*inv_out)[r] = inv;
    for (int64_t i = 0; i < len; ++i) {
      y[r * len + i] = (xr[i] - mv.mean) * inv * scale[i] + (bias ? bias[i] : 0.0);
    }
  }
  return y;
}

std::vector<double> rmsnorm(const float* x, const Shape& shape, int64_t axis, const float* scale,
                            double eps) {
  const int64_t rows = prod(shape, 0, axis), len = prod(shape, axis, shape.size());
  std::vector<double> y(static_cast<size_t>(rows * len));
  for (int64_t r = 0; r < rows; ++r) {
    const float* xr = x + r * len;
    double ss = 0.0;
    for (int64_t i = 0; i < len; ++i) ss += static_cast<double>(xr[i]) * xr[i];
    const double inv = 1.0 / std::sqrt(ss / static_cast<double>(len) + eps);
    for (int64_t i = 0; i < len; ++i) y[r * len + i] = xr[i] * inv * scale[i];
  }
  return y;
}

std::vector<double> instancenorm(const float* x, const Shape& shape, const float* scale,
                                 const float* bias, double eps) {
  const int64_t n = shape[0], c = shape[1], s = prod(shape, 2, shape.size());
  std::vector<double> y(static_cast<size_t>(n * c * s));
  for (int64_t p = 0; p < n * c; ++p) {
    const float* xp = x + p * s;
    const MeanVar mv = mean_var(s, [&](int64_t i) { return static_cast<double>(xp[i]); });
    const double inv = 1.0 / std::sqrt(mv.var + eps);
    const int64_t ic = p % c;
    for (int64_t i = 0; i < s; ++i) y[p * s + i] = (xp[i] - mv.mean) * inv * scale[ic] + bias[ic];
  }
  return y;
}

std::vector<double> groupnorm(const float* x, const Shape& shape, int64_t num_groups,
                              const float* scale, const float* bias, double eps, bool per_channel) {
  const int64_t n = shape[0], c = shape[1], s = prod(shape, 2, shape.size());
  const int64_t cg = c / num_groups, len = cg * s;
  std::vector<double> y(static_cast<size_t>(n * c * s));
  for (int64_t in = 0; in < n; ++in) {
    for (int64_t g = 0; g < num_groups; ++g) {
      const int64_t off = (in * c + g * cg) * s;
      const MeanVar mv = mean_var(len, [&](int64_t i) { return static_cast<double>(x[off + i]); });
      const double inv = 1.0 / std::sqrt(mv.var + eps);
      for (int64_t i = 0; i < len; ++i) {
        const int64_t k = per_channel ? g * cg + i / s : g;
        y[off + i] = (x[off + i] - mv.mean) * inv * scale[k] + bias[k];
      }
    }
  }
  return y;
}

std::vector<double> lrn(const float* x, const Shape& shape, int64_t size, double alpha, double beta,
                        double bias) {
  const int64_t n = shape[0], c = shape[1], s = prod(shape, 2, shape.size());
  const int64_t before = (size - 1) / 2, after = size - 1 - before;  // floor and ceil
  std::vector<double> y(static_cast<size_t>(n * c * s));
  for (int64_t in = 0; in < n; ++in) {
    for (int64_t ic = 0; ic < c; ++ic) {
      const int64_t lo = std::max<int64_t>(0, ic - before);
      const int64_t hi = std::min<int64_t>(c - 1, ic + after);
      for (int64_t i = 0; i < s; ++i) {
        double sq = 0.0;
        for (int64_t j = lo; j <= hi; ++j) {
          const double v = x[(in * c + j) * s + i];
          sq += v * v;
        }
        const int64_t k = (in * c + ic) * s + i;
        y[k] = x[k] / std::pow(bias + alpha / static_cast<double>(size) * sq, beta);
      }
    }
  }
  return y;
}

std::vector<double> mvn(const float* x, const Shape& shape, const std::vector<int64_t>& axes) {
  const size_t rank = shape.size();
  const int64_t total = prod(shape, 0, rank);
  std::vector<bool> reduced(rank, false);
  for (int64_t a : axes) reduced[a] = true;
  // Key of an element = its linear index in the shape with the reduced dims set to 1.
  std::vector<int64_t> key(static_cast<size_t>(total));
  int64_t groups = 1;
  for (size_t d = 0; d < rank; ++d) groups *= reduced[d] ? 1 : shape[d];
  std::vector<int64_t> idx(rank, 0);
  for (int64_t e = 0; e < total; ++e) {
    int64_t k = 0;
    for (size_t d = 0; d < rank; ++d)
      k = k * (reduced[d] ? 1 : shape[d]) + (reduced[d] ? 0 : idx[d]);
    key[e] = k;
    for (int64_t d = static_cast<int64_t>(rank) - 1; d >= 0; --d) {
      if (++idx[d] < shape[d]) break;
      idx[d] = 0;
    }
  }
  std::vector<double> sum(groups, 0.0), cnt(groups, 0.0), ss(groups, 0.0);
  for (int64_t e = 0; e < total; ++e) {
    sum[key[e]] += x[e];
    cnt[key[e]] += 1.0;
  }
  for (int64_t g = 0; g < groups; ++g) sum[g] /= cnt[g];
  for (int64_t e = 0; e < total; ++e) ss[key[e]] += (x[e] - sum[key[e]]) * (x[e] - sum[key[e]]);
  std::vector<double> y(static_cast<size_t>(total));
  for (int64_t e = 0; e < total; ++e) {
    const int64_t g = key[e];
    y[e] = (x[e] - sum[g]) / (std::sqrt(ss[g] / cnt[g]) + 1e-9);
  }
  return y;
}

}  // namespace keel::ref
