#include "core/aligned_buffer.hpp"

#include <cstdlib>
#include <cstring>
#include <new>

namespace keel {

void AlignedDeleter::operator()(std::byte* p) const noexcept { std::free(p); }

namespace {
AlignedBytes allocate(size_t bytes, size_t zero_from) {
  const size_t total = round_up(bytes + kTensorTailPadding, kTensorAlignment);
  void* p = std::aligned_alloc(kTensorAlignment, total);
  if (p == nullptr) return AlignedBytes(nullptr);
  std::memset(static_cast<std::byte*>(p) + zero_from, 0, total - zero_from);
  return AlignedBytes(static_cast<std::byte*>(p));
}
}  // namespace

AlignedBytes allocate_aligned(size_t bytes) { return allocate(bytes, 0); }

AlignedBytes allocate_aligned_for_overwrite(size_t bytes) { return allocate(bytes, bytes); }

void* thread_scratch(int slot, size_t bytes) {
  struct Buffer {
    AlignedBytes data;
    size_t bytes = 0;
  };
  thread_local Buffer buffers[kThreadScratchSlots];
  Buffer& b = buffers[slot];
  if (b.bytes < bytes) {
    b.data = allocate_aligned(bytes);
    b.bytes = b.data ? bytes : 0;
  }
  return b.data.get();
}

}  // namespace keel
