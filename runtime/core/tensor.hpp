// Tensor: dtype + concrete shape + data. Either owns its (aligned, shared) storage or views
// memory owned by someone else (a caller's buffer, a slot of a run's arena).
#pragma once

#include <cstring>
#include <memory>
#include <string>

#include "core/aligned_buffer.hpp"
#include "core/dtype.hpp"
#include "core/shape.hpp"
#include "core/status.hpp"

namespace keel {

class Tensor {
 public:
  Tensor() = default;

  // Allocates zero-initialised storage; fails on overflow or out-of-memory.
  static Result<Tensor> allocate(DataType dtype, Shape shape);
  // The same without zeroing the elements: for a caller that writes every one.
  static Result<Tensor> allocate_for_overwrite(DataType dtype, Shape shape);
  // Non-owning view; the caller keeps `data` alive.
  static Tensor view(DataType dtype, Shape shape, void* data);
  // Owning copy of raw bytes (size must equal numel * dtype_size).
  static Result<Tensor> from_bytes(DataType dtype, Shape shape, const void* bytes, size_t size);
  template <typename T>
  static Tensor from_vector(Shape shape, const std::vector<T>& values) {
    Tensor t = allocate(dtype_of<T>(), std::move(shape)).value();
    if (!values.empty()) std::memcpy(t.data(), values.data(), values.size() * sizeof(T));
    return t;
  }
  template <typename T>
  static Tensor scalar(T v) {
    return from_vector<T>({}, std::vector<T>{v});
  }

  bool empty_handle() const { return data_ == nullptr && dtype_ == DataType::kUndefined; }
  DataType dtype() const { return dtype_; }
  const Shape& shape() const { return shape_; }
  int64_t rank() const { return static_cast<int64_t>(shape_.size()); }
  int64_t numel() const { return numel_; }
  size_t nbytes() const { return static_cast<size_t>(numel_) * dtype_size(dtype_); }
  void* data() { return data_; }
  const void* data() const { return data_; }
  template <typename T>
  T* data_as() {
    return static_cast<T*>(data_);
  }
  template <typename T>
  const T* data_as() const {
    return static_cast<const T*>(data_);
  }
  bool owns_storage() const { return storage_ != nullptr; }
  // Whether this handle is the only one on its storage (writing through it changes no other).
  bool sole_owner() const { return storage_ != nullptr && storage_.use_count() == 1; }

  // Deep copy into fresh owned storage.
  Result<Tensor> clone() const;
  // Same storage, other shape with the same element count.
  Tensor reshaped(Shape shape) const;

 private:
  // zero false: the caller writes every byte; only the tail padding is zeroed.
  static Result<Tensor> allocate_storage(DataType dtype, Shape shape, bool zero);
  DataType dtype_ = DataType::kUndefined;
  Shape shape_;
  int64_t numel_ = 0;
  std::shared_ptr<std::byte> storage_;
  void* data_ = nullptr;
};

}  // namespace keel
