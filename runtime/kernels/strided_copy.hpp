// One strided copy engine for the data-movement kernels: Transpose, Slice, Expand and Tile are
// all "gather with strides", and Resize and the binary ops broadcast through the same strides.
#pragma once

#include <cstddef>
#include <cstdint>
#include <vector>

#include "core/shape.hpp"
#include "kernels/kernel.hpp"

namespace keel {

// out[i0, ..., ir-1] = in[offset + sum_k i_k * in_strides[k]], output contiguous. Strides are
// in elements and may be zero (broadcast) or negative (reversed slices).
class StridedCopy {
 public:
  StridedCopy() = default;
  // Drops unit dims and merges dims that are contiguous in both views.
  StridedCopy(size_t elem_size, const Shape& out_shape, const std::vector<int64_t>& in_strides,
              int64_t in_offset);

  // Uses keel::parallel_for; output bits do not depend on the thread count.
  void run(const void* in, void* out) const;
  int64_t numel() const { return numel_; }

 private:
  void run_rows(const std::byte* in, std::byte* out, int64_t row_begin, int64_t row_end) const;
  // Input offset (elements) of matrix b of the batch over all dims but the last two.
  int64_t batch_offset(int64_t b) const;
  void run_tiled(const std::byte* in, std::byte* out) const;
  void run_zipped(const std::byte* in, std::byte* out) const;

  size_t elem_size_ = 0;
  Shape shape_;                   // coalesced output shape
  std::vector<int64_t> strides_;  // coalesced input strides
  int64_t offset_ = 0;
  int64_t numel_ = 0;
};

// A kernel that is one StridedCopy from input 0 to output 0.
class StridedCopyKernel final : public Kernel {
 public:
  StridedCopyKernel(const char* name, StridedCopy copy) : name_(name), copy_(std::move(copy)) {}
  void run(const KernelRun& r) const override { copy_.run(r.in(0).data, r.out(0).data); }
  const char* name() const override { return name_; }

 private:
  const char* name_;
  StridedCopy copy_;
};

// Row-major strides (elements) of `shape` right-aligned to `rank` dims, with 0 for the
// broadcast dims (missing, or 1 where `out_shape` is larger).
std::vector<int64_t> broadcast_strides(const Shape& shape, const Shape& out_shape);

}  // namespace keel
