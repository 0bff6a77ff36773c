#include "core/tensor.hpp"

namespace keel {

Result<Tensor> Tensor::allocate(DataType dtype, Shape shape) {
  return allocate_storage(dtype, std::move(shape), true);
}

Result<Tensor> Tensor::allocate_for_overwrite(DataType dtype, Shape shape) {
  return allocate_storage(dtype, std::move(shape), false);
}

Result<Tensor> Tensor::allocate_storage(DataType dtype, Shape shape, bool zero) {
  const size_t esize = dtype_size(dtype);
  if (esize == 0) return unsupported("cannot allocate a tensor of type " + dtype_name(dtype));
  auto n = checked_numel(shape);
  if (!n || static_cast<uint64_t>(*n) > (uint64_t{1} << 46) / esize) {
    return invalid_argument("tensor shape " + shape_to_string(shape) + " of " + dtype_name(dtype) +
                            " is too large");
  }
  const size_t size = static_cast<size_t>(*n) * esize;
  AlignedBytes bytes = zero ? allocate_aligned(size) : allocate_aligned_for_overwrite(size);
  if (!bytes) {
    return Status(StatusCode::kOutOfMemory, "cannot allocate " + std::to_string(*n * esize) +
                                                " bytes for a tensor " + shape_to_string(shape));
  }
  Tensor t;
  t.dtype_ = dtype;
  t.shape_ = std::move(shape);
  t.numel_ = *n;
  t.data_ = bytes.get();
  t.storage_ = std::shared_ptr<std::byte>(bytes.release(), AlignedDeleter{});
  return t;
}

Tensor Tensor::view(DataType dtype, Shape shape, void* data) {
  Tensor t;
  t.dtype_ = dtype;
  t.numel_ = keel::numel(shape);
  t.shape_ = std::move(shape);
  t.data_ = data;
  return t;
}

Result<Tensor> Tensor::from_bytes(DataType dtype, Shape shape, const void* bytes, size_t size) {
  KEEL_ASSIGN_OR_RETURN(Tensor t, allocate_storage(dtype, std::move(shape), false));
  if (t.nbytes() != size) {
    return invalid_argument("tensor " + shape_to_string(t.shape()) + " of " + dtype_name(dtype) +
                            " needs " + std::to_string(t.nbytes()) + " bytes, got " +
                            std::to_string(size));
  }
  if (size) std::memcpy(t.data(), bytes, size);
  return t;
}

Result<Tensor> Tensor::clone() const { return from_bytes(dtype_, shape_, data_, nbytes()); }

Tensor Tensor::reshaped(Shape shape) const {
  Tensor t = *this;
  t.shape_ = std::move(shape);
  return t;
}

}  // namespace keel
