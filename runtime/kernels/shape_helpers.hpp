// Helpers shared by the shape, data-movement and resize kernels: reading small integer or
// float tensors known at plan time, encoding a scalar in any stored dtype, and one strided
// copy engine (Transpose, Slice, Expand and Tile are all "gather with strides").
#pragma once

#include <cstddef>
#include <cstdint>
#include <optional>
#include <vector>

#include "core/shape.hpp"
#include "core/tensor.hpp"
#include "kernels/kernel.hpp"

namespace keel {

// The elements of an int32/int64 tensor as int64; nullopt for other dtypes.
std::optional<std::vector<int64_t>> read_int_values(const Tensor& t);
// The elements of a float32/float64/float16 tensor as double; nullopt for other dtypes.
std::optional<std::vector<double>> read_float_values(const Tensor& t);
// The value of a one-element tensor of any numeric dtype (bool: 0/1) as double.
std::optional<double> read_scalar_as_double(const Tensor& t);

// `v` converted to `dtype` (float16/bfloat16 rounded to nearest even, integers truncated
// toward zero and wrapped as a static_cast would) written to `bytes` (dtype_size bytes).
void encode_scalar(double v, DataType dtype, void* bytes);

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

// Axes normalised into [0, rank); INVALID_MODEL naming the node for an out-of-range or repeated
// axis.
Result<std::vector<int64_t>> normalize_axes(PrepareContext& ctx, const std::vector<int64_t>& axes,
                                            int64_t rank);

}  // namespace keel
