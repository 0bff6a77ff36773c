#include "core/aligned_buffer.hpp"

#include <cstdlib>
#include <cstring>
#include <new>

namespace keel {

void AlignedDeleter::operator()(std::byte* p) const noexcept { std::free(p); }

AlignedBytes allocate_aligned(size_t bytes) {
  const size_t total = round_up(bytes + kTensorTailPadding, kTensorAlignment);
  void* p = std::aligned_alloc(kTensorAlignment, total);
  if (p == nullptr) return AlignedBytes(nullptr);
  std::memset(p, 0, total);
  return AlignedBytes(static_cast<std::byte*>(p));
}

}  // namespace keel
