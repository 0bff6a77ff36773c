#include "ref/pool_ref.hpp"

#include <cmath>
#include <limits>

namespace keel::ref {
namespace {

bool next_index(std::vector<int64_t>& idx, const std::vector<int64_t>& dims) {
  for (size_t i = idx.size(); i-- > 0;) {
    if (++idx[i] < dims[i]) return true;
    idx[i] = 0;
  }
  return false;
}

// Calls fn(flat_input_position or -1 when outside the input, inside_padded) for every tap.
template <typename F>
void for_each_tap(const PoolRefParams& p, const std::vector<int64_t>& o, F&& fn) {
  const size_t nsp = p.kernel.size();
  std::vector<int64_t> k(nsp, 0);
  do {
    int64_t flat = 0;
    bool inside = true, inside_padded = true;
    for (size_t d = 0; d < nsp; ++d) {
      const int64_t in = p.x_shape[d + 2];
      const int64_t pos = o[d] * p.strides[d] - p.pads_begin[d] + k[d] * p.dilations[d];
      inside = inside && pos >= 0 && pos < in;
      inside_padded = inside_padded && pos >= -p.pads_begin[d] && pos < in + p.pads_end[d];
      flat = flat * in + pos;
    }
    fn(inside ? flat : -1, inside_padded);
  } while (next_index(k, p.kernel));
}

template <typename F>
void for_each_output(const PoolRefParams& p, F&& fn) {
  const std::vector<int64_t> out(p.y_shape.begin() + 2, p.y_shape.end());
  int64_t isize = 1;
  for (size_t i = 2; i < p.x_shape.size(); ++i) isize *= p.x_shape[i];
  const int64_t planes = p.x_shape[0] * p.x_shape[1];
  int64_t yflat = 0;
  for (int64_t plane = 0; plane < planes; ++plane) {
    std::vector<int64_t> o(out.size(), 0);
    do {
      fn(plane * isize, o, yflat++);
    } while (next_index(o, out));
  }
}

}  // namespace

void max_pool(const PoolRefParams& p, const float* x, float* y, int64_t* indices) {
  for_each_output(p, [&](int64_t base, const std::vector<int64_t>& o, int64_t yi) {
    float best = -std::numeric_limits<float>::infinity();
    int64_t best_pos = -1;
    for_each_tap(p, o, [&](int64_t pos, bool) {
      // The maximum propagates NaN (IEEE 754-2019 maximum): the first NaN tap wins and stays.
      const float v = pos >= 0 ? x[base + pos] : 0.0f;
      if (pos >= 0 && (best_pos < 0 || v > best || (std::isnan(v) && !std::isnan(best)))) {
        best = x[base + pos];
        best_pos = base + pos;
      }
    });
    y[yi] = best;
    if (indices) indices[yi] = best_pos;
  });
}

void average_pool(const PoolRefParams& p, const float* x, float* y) {
  for_each_output(p, [&](int64_t base, const std::vector<int64_t>& o, int64_t yi) {
    double sum = 0.0;
    int64_t count = 0;
    for_each_tap(p, o, [&](int64_t pos, bool inside_padded) {
      if (pos >= 0) sum += x[base + pos];
      if (p.count_include_pad ? inside_padded : pos >= 0) ++count;
    });
    y[yi] = static_cast<float>(sum / static_cast<double>(count));
  });
}

}  // namespace keel::ref
