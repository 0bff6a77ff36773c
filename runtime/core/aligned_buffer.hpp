// 64-byte aligned storage with at least 64 bytes of readable tail, so vector kernels may
// load a full register past the last element of an internal tensor.
#pragma once

#include <cstddef>
#include <memory>

namespace keel {

constexpr size_t kTensorAlignment = 64;
constexpr size_t kTensorTailPadding = 64;

struct AlignedDeleter {
  void operator()(std::byte* p) const noexcept;
};
using AlignedBytes = std::unique_ptr<std::byte[], AlignedDeleter>;

// Zero-initialised; returns nullptr when the allocation fails (callers report OUT_OF_MEMORY).
AlignedBytes allocate_aligned(size_t bytes);
// The same for a caller that writes all of [0, bytes) itself: only the tail padding is zeroed.
AlignedBytes allocate_aligned_for_overwrite(size_t bytes);

// A grow-only aligned buffer of the calling thread, one per slot (kThreadScratchSlots), for
// packing buffers of a task that never yields while it uses them (SGEMM slots 0-1, the
// bfloat16 GEMM slot 2, a bfloat16 MatMul's per-batch B slot 3). Its contents are not kept
// between callers. nullptr when it cannot grow.
constexpr int kThreadScratchSlots = 4;
void* thread_scratch(int slot, size_t bytes);

inline size_t round_up(size_t n, size_t multiple) {
  return (n + multiple - 1) / multiple * multiple;
}

}  // namespace keel
