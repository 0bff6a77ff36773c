#include "kernels/strided_copy.hpp"

#include <algorithm>
#include <cstring>

#include "exec/parallel.hpp"

namespace keel {

std::vector<int64_t> broadcast_strides(const Shape& shape, const Shape& out_shape) {
  const std::vector<int64_t> in_strides = contiguous_strides(shape);
  std::vector<int64_t> strides(out_shape.size(), 0);
  const size_t lead = out_shape.size() - shape.size();
  for (size_t i = 0; i < shape.size(); ++i) {
    strides[lead + i] = (shape[i] == 1 && out_shape[lead + i] != 1) ? 0 : in_strides[i];
  }
  return strides;
}

// --- StridedCopy ----------------------------------------------------------------------

StridedCopy::StridedCopy(size_t elem_size, const Shape& out_shape,
                         const std::vector<int64_t>& in_strides, int64_t in_offset)
    : elem_size_(elem_size), offset_(in_offset) {
  numel_ = keel::numel(out_shape);
  for (size_t i = 0; i < out_shape.size(); ++i) {
    if (out_shape[i] == 1) continue;
    if (!shape_.empty() && strides_.back() == in_strides[i] * out_shape[i]) {
      shape_.back() *= out_shape[i];
      strides_.back() = in_strides[i];
    } else {
      shape_.push_back(out_shape[i]);
      strides_.push_back(in_strides[i]);
    }
  }
  if (shape_.empty()) {
    shape_.push_back(1);
    strides_.push_back(1);
  }
}

namespace {

// Elements moved as unsigned integers of the element's size: dtype-agnostic and exact.
template <typename U>
void gather_row(const std::byte* in, int64_t stride, int64_t n, std::byte* out) {
  const auto* src = reinterpret_cast<const U*>(in);
  auto* dst = reinterpret_cast<U*>(out);
  if (stride == 0) {
    const U v = src[0];
    for (int64_t i = 0; i < n; ++i) dst[i] = v;
  } else {
    for (int64_t i = 0; i < n; ++i) dst[i] = src[i * stride];
  }
}

void gather_row_bytes(size_t es, const std::byte* in, int64_t stride, int64_t n, std::byte* out) {
  if (stride == 1) {
    std::memcpy(out, in, static_cast<size_t>(n) * es);
    return;
  }
  switch (es) {
    case 1: gather_row<uint8_t>(in, stride, n, out); break;
    case 2: gather_row<uint16_t>(in, stride, n, out); break;
    case 4: gather_row<uint32_t>(in, stride, n, out); break;
    case 8: gather_row<uint64_t>(in, stride, n, out); break;
    default:
      for (int64_t i = 0; i < n; ++i) std::memcpy(out + i * es, in + i * stride * es, es);
  }
}

// out[i][j] = in[i + j * stride] for a rows x cols block (out row pitch `cols`), in tiles
// that stay in L1 on both sides.
template <typename U>
void transpose_block(const std::byte* in, int64_t stride, int64_t rows, int64_t cols,
                     std::byte* out) {
  constexpr int64_t kTile = 32;
  const auto* src = reinterpret_cast<const U*>(in);
  auto* dst = reinterpret_cast<U*>(out);
  for (int64_t i0 = 0; i0 < rows; i0 += kTile) {
    const int64_t i1 = std::min(rows, i0 + kTile);
    for (int64_t j0 = 0; j0 < cols; j0 += kTile) {
      const int64_t j1 = std::min(cols, j0 + kTile);
      for (int64_t i = i0; i < i1; ++i) {
        U* d = dst + i * cols;
        const U* s = src + i;
        for (int64_t j = j0; j < j1; ++j) d[j] = s[j * stride];
      }
    }
  }
}

}  // namespace

void StridedCopy::run_rows(const std::byte* in, std::byte* out, int64_t row_begin,
                           int64_t row_end) const {
  const size_t rank = shape_.size();
  const int64_t inner = shape_[rank - 1];
  const int64_t inner_stride = strides_[rank - 1];
  const auto es = static_cast<int64_t>(elem_size_);
  // Odometer over the outer dims, started from row_begin.
  std::vector<int64_t> idx(rank, 0);
  int64_t off = offset_;
  int64_t rem = row_begin;
  for (size_t d = rank - 1; d-- > 0;) {
    idx[d] = rem % shape_[d];
    rem /= shape_[d];
    off += idx[d] * strides_[d];
  }
  for (int64_t row = row_begin; row < row_end; ++row) {
    gather_row_bytes(elem_size_, in + off * es, inner_stride, inner, out + row * inner * es);
    for (size_t d = rank - 1; d-- > 0;) {
      off += strides_[d];
      if (++idx[d] < shape_[d]) break;
      off -= idx[d] * strides_[d];
      idx[d] = 0;
    }
  }
}

int64_t StridedCopy::batch_offset(int64_t b) const {
  int64_t off = offset_;
  for (size_t d = shape_.size() - 2; d-- > 0;) {
    off += (b % shape_[d]) * strides_[d];
    b /= shape_[d];
  }
  return off;
}

void StridedCopy::run_tiled(const std::byte* in, std::byte* out) const {
  // Output [..., R, C] reads input at i * 1 + j * stride: a batch of 2-D transposes.
  const size_t rank = shape_.size();
  const int64_t rows = shape_[rank - 2];
  const int64_t cols = shape_[rank - 1];
  const int64_t stride = strides_[rank - 1];
  const int64_t batch = numel_ / (rows * cols);
  const auto es = static_cast<int64_t>(elem_size_);
  constexpr int64_t kRowBlock = 32;
  const int64_t row_blocks = (rows + kRowBlock - 1) / kRowBlock;
  parallel_for(batch * row_blocks, kRowBlock * cols, [&](int64_t begin, int64_t end) {
    for (int64_t t = begin; t < end; ++t) {
      const int64_t b = t / row_blocks;
      const int64_t r0 = (t % row_blocks) * kRowBlock;
      const int64_t nr = std::min(kRowBlock, rows - r0);
      const std::byte* src = in + (batch_offset(b) + r0) * es;
      std::byte* dst = out + (b * rows + r0) * cols * es;
      switch (elem_size_) {
        case 1: transpose_block<uint8_t>(src, stride, nr, cols, dst); break;
        case 2: transpose_block<uint16_t>(src, stride, nr, cols, dst); break;
        case 4: transpose_block<uint32_t>(src, stride, nr, cols, dst); break;
        default: transpose_block<uint64_t>(src, stride, nr, cols, dst); break;
      }
    }
  });
}

namespace {

// out[j][i] = in[j + i * stride] for j < rows, i < kInner: kInner rows of the input zipped into
// the output (a channel shuffle's transpose on NHWC data: [..., g, C/g] -> [..., C/g, g]).
template <typename U, int64_t kInner>
void zip_rows(const std::byte* in, int64_t stride, int64_t rows, std::byte* out) {
  const auto* src = reinterpret_cast<const U*>(in);
  auto* dst = reinterpret_cast<U*>(out);
  for (int64_t j = 0; j < rows; ++j) {
    for (int64_t i = 0; i < kInner; ++i) dst[j * kInner + i] = src[j + i * stride];
  }
}

}  // namespace

void StridedCopy::run_zipped(const std::byte* in, std::byte* out) const {
  // Output [..., R, I] (I = 2..4) reads input at j * 1 + i * stride.
  const size_t rank = shape_.size();
  const int64_t rows = shape_[rank - 2];
  const int64_t inner = shape_[rank - 1];
  const int64_t stride = strides_[rank - 1];
  const int64_t batch = numel_ / (rows * inner);
  const auto es = static_cast<int64_t>(elem_size_);
  parallel_for(batch, rows * inner, [&](int64_t begin, int64_t end) {
    for (int64_t b = begin; b < end; ++b) {
      const std::byte* src = in + batch_offset(b) * es;
      std::byte* dst = out + b * rows * inner * es;
      switch (inner) {
        case 2: zip_rows<uint32_t, 2>(src, stride, rows, dst); break;
        case 3: zip_rows<uint32_t, 3>(src, stride, rows, dst); break;
        default: zip_rows<uint32_t, 4>(src, stride, rows, dst); break;
      }
    }
  });
}

void StridedCopy::run(const void* in, void* out) const {
  if (numel_ == 0) return;
  const auto* src = static_cast<const std::byte*>(in);
  auto* dst = static_cast<std::byte*>(out);
  const size_t rank = shape_.size();
  const int64_t inner = shape_[rank - 1];
  const bool pow2 = elem_size_ == 1 || elem_size_ == 2 || elem_size_ == 4 || elem_size_ == 8;
  if (pow2 && rank >= 2 && strides_[rank - 2] == 1 && strides_[rank - 1] != 1 &&
      shape_[rank - 2] >= 8 && inner >= 8) {
    run_tiled(src, dst);
    return;
  }
  if (elem_size_ == 4 && rank >= 2 && strides_[rank - 2] == 1 && inner >= 2 && inner <= 4 &&
      shape_[rank - 2] >= 8) {
    run_zipped(src, dst);
    return;
  }
  const int64_t rows = numel_ / inner;
  parallel_for(rows, inner, [&](int64_t begin, int64_t end) { run_rows(src, dst, begin, end); });
}

}  // namespace keel
