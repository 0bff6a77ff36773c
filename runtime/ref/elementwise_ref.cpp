#include "ref/elementwise_ref.hpp"

#include <algorithm>
#include <cmath>
#include <limits>

namespace keel::ref {
namespace {

std::vector<int64_t> unravel(int64_t flat, const Shape& shape) {
  std::vector<int64_t> idx(shape.size(), 0);
  for (size_t d = shape.size(); d-- > 0;) {
    idx[d] = flat % shape[d];
    flat /= shape[d];
  }
  return idx;
}

}  // namespace

int64_t broadcast_source_index(const std::vector<int64_t>& out_index, const Shape& in_shape) {
  const size_t off = out_index.size() - in_shape.size();
  int64_t flat = 0;
  for (size_t d = 0; d < in_shape.size(); ++d) {
    const int64_t i = in_shape[d] == 1 ? 0 : out_index[off + d];
    flat = flat * in_shape[d] + i;
  }
  return flat;
}

std::vector<double> broadcast_binary(const std::vector<double>& a, const Shape& a_shape,
                                     const std::vector<double>& b, const Shape& b_shape,
                                     const Shape& out_shape,
                                     const std::function<double(double, double)>& f) {
  const int64_t n = numel(out_shape);
  std::vector<double> out(static_cast<size_t>(n));
  for (int64_t i = 0; i < n; ++i) {
    const std::vector<int64_t> idx = unravel(i, out_shape);
    out[i] = f(a[broadcast_source_index(idx, a_shape)], b[broadcast_source_index(idx, b_shape)]);
  }
  return out;
}

std::vector<double> softmax(const std::vector<double>& x, const Shape& shape, int64_t axis,
                            bool log, bool coerce_2d) {
  int64_t outer = 1, n = 1, inner = 1;
  for (int64_t d = 0; d < static_cast<int64_t>(shape.size()); ++d) {
    if (d < axis) {
      outer *= shape[d];
    } else if (coerce_2d || d == axis) {
      n *= shape[d];
    } else {
      inner *= shape[d];
    }
  }
  std::vector<double> y(x.size());
  for (int64_t o = 0; o < outer; ++o) {
    for (int64_t c = 0; c < inner; ++c) {
      auto at = [&](int64_t j) { return (o * n + j) * inner + c; };
      double m = -std::numeric_limits<double>::infinity();
      for (int64_t j = 0; j < n; ++j) m = std::max(m, x[at(j)]);
      double sum = 0.0;
      for (int64_t j = 0; j < n; ++j) sum += std::exp(x[at(j)] - m);
      for (int64_t j = 0; j < n; ++j) {
        y[at(j)] = log ? x[at(j)] - m - std::log(sum) : std::exp(x[at(j)] - m) / sum;
      }
    }
  }
  return y;
}

std::vector<double> reduce(const std::vector<double>& x, const Shape& shape,
                           const std::vector<bool>& reduced, const std::string& kind) {
  Shape out_shape;
  for (size_t d = 0; d < shape.size(); ++d) out_shape.push_back(reduced[d] ? 1 : shape[d]);
  const int64_t out_n = numel(out_shape);
  std::vector<std::vector<double>> groups(static_cast<size_t>(out_n));
  for (int64_t i = 0; i < static_cast<int64_t>(x.size()); ++i) {
    std::vector<int64_t> idx = unravel(i, shape);
    for (size_t d = 0; d < shape.size(); ++d) {
      if (reduced[d]) idx[d] = 0;
    }
    int64_t flat = 0;
    for (size_t d = 0; d < shape.size(); ++d) flat = flat * out_shape[d] + idx[d];
    groups[flat].push_back(x[i]);
  }
  std::vector<double> out(static_cast<size_t>(out_n));
  const double inf = std::numeric_limits<double>::infinity();
  for (int64_t o = 0; o < out_n; ++o) {
    const std::vector<double>& g = groups[o];
    double r = 0.0;
    if (kind == "sum" || kind == "mean" || kind == "log_sum") {
      for (double v : g) r += v;
      if (kind == "mean") r /= static_cast<double>(g.size());
      if (kind == "log_sum") r = std::log(r);
    } else if (kind == "max") {
      r = -inf;
      for (double v : g) r = std::max(r, v);
    } else if (kind == "min") {
      r = inf;
      for (double v : g) r = std::min(r, v);
    } else if (kind == "prod") {
      r = 1.0;
      for (double v : g) r *= v;
    } else if (kind == "l1") {
      for (double v : g) r += std::fabs(v);
    } else if (kind == "l2" || kind == "sum_square") {
      for (double v : g) r += v * v;
      if (kind == "l2") r = std::sqrt(r);
    } else if (kind == "log_sum_exp") {
      double m = -inf;
      for (double v : g) m = std::max(m, v);
      if (!std::isfinite(m)) m = 0.0;
      for (double v : g) r += std::exp(v - m);
      r = m + std::log(r);
    }
    out[o] = r;
  }
  return out;
}

}  // namespace keel::ref
