// Numpy-style (multidirectional) broadcasting for elementwise kernels with N inputs.
//
// At plan time a BroadcastLayout collapses the output into as few dims as possible (dropping
// size-1 dims and merging neighbours whose broadcast pattern agrees), so [N,C,H,W] + [C,1,1]
// becomes out [N,C,H*W] with input strides [0,1,0]. At run time for_each_segment walks a range
// of output elements as runs along the last collapsed dim; in each run every input either
// advances with the output (stride 1) or stays on one element (stride 0), so the caller's
// inner loop is a contiguous vector/vector or vector/scalar loop.
#pragma once

#include <algorithm>
#include <array>
#include <cstdint>
#include <optional>
#include <vector>

#include "core/shape.hpp"

namespace keel {

// Broadcast result shape of several shapes, or nullopt when two dims differ and neither is 1.
inline std::optional<Shape> broadcast_shapes(const std::vector<const Shape*>& shapes) {
  size_t rank = 0;
  for (const Shape* s : shapes) rank = std::max(rank, s->size());
  Shape out(rank, 1);
  for (const Shape* s : shapes) {
    const size_t off = rank - s->size();
    for (size_t d = 0; d < s->size(); ++d) {
      const int64_t v = (*s)[d];
      int64_t& o = out[off + d];
      if (v == o) continue;
      if (o == 1) {
        o = v;
      } else if (v != 1) {
        return std::nullopt;
      }
    }
  }
  return out;
}

inline std::optional<Shape> broadcast_shapes(const Shape& a, const Shape& b) {
  return broadcast_shapes({&a, &b});
}

// True when `from` broadcasts to exactly `to` (unidirectional broadcasting, e.g. PRelu slope).
inline bool broadcasts_to(const Shape& from, const Shape& to) {
  if (from.size() > to.size()) return false;
  const size_t off = to.size() - from.size();
  for (size_t d = 0; d < from.size(); ++d) {
    if (from[d] != 1 && from[d] != to[off + d]) return false;
  }
  return true;
}

template <int N>
struct BroadcastLayout {
  Shape dims;                                   // collapsed output dims (empty for a scalar)
  std::array<std::vector<int64_t>, N> strides;  // per input, element strides per collapsed dim
  int64_t numel = 0;                            // output elements

  // Stride of input k along the last collapsed dim: 1 (moves with the output) or 0.
  int64_t inner_stride(int k) const { return dims.empty() ? 0 : strides[k].back(); }
  int64_t inner() const { return dims.empty() ? 1 : dims.back(); }
  // Every input has the output's shape: one flat loop.
  bool all_same() const {
    if (dims.size() > 1) return false;
    for (int k = 0; k < N; ++k) {
      if (inner_stride(k) != 1 && numel > 1) return false;
    }
    return true;
  }
};

// `out` must be the broadcast of `in` (callers validate with broadcast_shapes first).
template <int N>
BroadcastLayout<N> make_broadcast_layout(const std::array<const Shape*, N>& in, const Shape& out) {
  BroadcastLayout<N> layout;
  layout.numel = numel(out);
  const size_t rank = out.size();
  // Per original output dim: the input's extent there (1 where the input is shorter).
  std::vector<std::array<int64_t, N>> ext(rank);
  for (int k = 0; k < N; ++k) {
    const size_t off = rank - in[k]->size();
    for (size_t d = 0; d < rank; ++d) ext[d][k] = d < off ? 1 : (*in[k])[d - off];
  }
  // Collapsed dims with each input's "present" flag (extent equals the output's).
  Shape dims;
  std::vector<std::array<bool, N>> present;
  for (size_t d = 0; d < rank; ++d) {
    if (out[d] == 1) continue;
    std::array<bool, N> p;
    for (int k = 0; k < N; ++k) p[k] = ext[d][k] != 1;
    if (!dims.empty() && present.back() == p) {
      dims.back() *= out[d];
    } else {
      dims.push_back(out[d]);
      present.push_back(p);
    }
  }
  for (int k = 0; k < N; ++k) {
    std::vector<int64_t>& s = layout.strides[k];
    s.assign(dims.size(), 0);
    int64_t step = 1;
    for (size_t d = dims.size(); d-- > 0;) {
      if (present[d][k]) {
        s[d] = step;
        step *= dims[d];
      }
    }
  }
  layout.dims = std::move(dims);
  return layout;
}

// Calls fn(out_offset, in_offsets, len) for the runs covering output elements [begin, end).
// Inside a run input k reads in_offsets[k] + i * layout.inner_stride(k), i in [0, len).
template <int N, typename F>
void for_each_segment(const BroadcastLayout<N>& layout, int64_t begin, int64_t end, F&& fn) {
  std::array<int64_t, N> offs{};
  if (begin >= end) return;
  const int rank = static_cast<int>(layout.dims.size());
  if (rank == 0) {
    fn(int64_t{0}, offs, int64_t{1});
    return;
  }
  const int64_t inner = layout.dims.back();
  int64_t row = begin / inner;
  int64_t col = begin % inner;
  // Odometer over the outer collapsed dims.
  std::vector<int64_t> idx(rank > 1 ? rank - 1 : 0, 0);
  for (int d = rank - 2; d >= 0; --d) {
    idx[d] = row % layout.dims[d];
    row /= layout.dims[d];
  }
  for (int k = 0; k < N; ++k) {
    int64_t o = col * layout.strides[k][rank - 1];
    for (int d = 0; d < rank - 1; ++d) o += idx[d] * layout.strides[k][d];
    offs[k] = o;
  }
  int64_t pos = begin;
  while (pos < end) {
    const int64_t len = std::min(inner - col, end - pos);
    fn(pos, offs, len);
    pos += len;
    if (pos >= end) break;
    // Back to column 0 of the next row.
    for (int k = 0; k < N; ++k) offs[k] -= col * layout.strides[k][rank - 1];
    col = 0;
    for (int d = rank - 2; d >= 0; --d) {
      if (++idx[d] < layout.dims[d]) {
        for (int k = 0; k < N; ++k) offs[k] += layout.strides[k][d];
        break;
      }
      idx[d] = 0;
      for (int k = 0; k < N; ++k) offs[k] -= (layout.dims[d] - 1) * layout.strides[k][d];
    }
  }
}

}  // namespace keel
