// Intra-op parallelism. Kernels call keel::parallel_for; it runs inside the task_arena that
// the session's run executes in (so the session's thread count is honoured), splits the range
// statically, and runs inline when the work is too small to pay for a fork/join.
#pragma once

#include <tbb/blocked_range.h>
#include <tbb/parallel_for.h>
#include <tbb/partitioner.h>
#include <tbb/task_arena.h>

#include <algorithm>
#include <cstdint>

#include "core/flush_denormals.hpp"
#include "core/run_failure.hpp"

namespace keel {

// Work items below this many "element operations" run on the calling thread.
constexpr int64_t kMinParallelWork = 1 << 15;

inline int current_max_threads() { return tbb::this_task_arena::max_concurrency(); }

// fn(begin, end) over [0, n). `cost_per_item` is a rough number of element operations per
// item; it decides whether forking is worth it and how many chunks to make. Chunks are
// contiguous and their boundaries depend only on n and the thread count, never on timing.
template <typename F>
void parallel_for(int64_t n, int64_t cost_per_item, F&& fn) {
  if (n <= 0) return;
  const int threads = current_max_threads();
  const int64_t work = n * std::max<int64_t>(cost_per_item, 1);
  if (threads <= 1 || n == 1 || work < kMinParallelWork) {
    fn(int64_t{0}, n);
    return;
  }
  // About 4 chunks per thread, each at least kMinParallelWork/4 of work. Chunk sizes differ by
  // at most one item: 14 output rows in 8 chunks are 1, 2, 2, 2, 1, 2, 2, 2 (7 per thread),
  // where chunks of a rounded-up size (2 x 7) would give one thread 8 and the other 6.
  int64_t chunks = std::min<int64_t>(n, int64_t{threads} * 4);
  chunks = std::max<int64_t>(1, std::min<int64_t>(chunks, work / (kMinParallelWork / 4)));
  // A worker reports run-time errors to the caller's run (core/run_failure.hpp).
  RunFailure* const failure = current_run_failure();
  tbb::parallel_for(
      tbb::blocked_range<int64_t>(0, chunks, 1),
      [&](const tbb::blocked_range<int64_t>& r) {
        const ScopedRunFailure scope(failure);
        const ScopedFlushDenormals flush;  // a worker may be an application's thread
        for (int64_t c = r.begin(); c != r.end(); ++c) {
          const int64_t b = c * n / chunks;
          const int64_t e = (c + 1) * n / chunks;
          if (b < e) fn(b, e);
        }
      },
      tbb::static_partitioner());
}

}  // namespace keel
