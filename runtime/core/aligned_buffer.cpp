#include "core/aligned_buffer.hpp"

#include <cstdlib>
#include <cstring>
#include <new>

#include "core/memory_budget.hpp"

namespace keel {

namespace {

// Each block starts with one alignment unit holding its size, so a free gives its bytes back to
// the memory budget (memory_budget.hpp) of the freeing thread.
constexpr size_t kHeader = kTensorAlignment;

AlignedBytes allocate(size_t bytes, size_t zero_from) {
  if (bytes > (size_t{1} << 47)) return AlignedBytes(nullptr);
  const size_t total = round_up(bytes + kTensorTailPadding, kTensorAlignment) + kHeader;
  if (!memory_budget_take(total)) return AlignedBytes(nullptr);
  void* p = std::aligned_alloc(kTensorAlignment, total);
  if (p == nullptr) {
    memory_budget_give_back(total);
    return AlignedBytes(nullptr);
  }
  std::memcpy(p, &total, sizeof total);
  std::byte* data = static_cast<std::byte*>(p) + kHeader;
  std::memset(data + zero_from, 0, total - kHeader - zero_from);
  return AlignedBytes(data);
}

}  // namespace

void AlignedDeleter::operator()(std::byte* p) const noexcept {
  if (p == nullptr) return;
  std::byte* block = p - kHeader;
  size_t total = 0;
  std::memcpy(&total, block, sizeof total);
  memory_budget_give_back(total);
  std::free(block);
}

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
