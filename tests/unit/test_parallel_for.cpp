// keel::parallel_for: every item runs exactly once, in contiguous chunks whose sizes differ by
// at most one item (so two threads get equal shares of 14 or 28 output rows), whose
// boundaries depend only on the item count and the thread count, and small work runs inline.
#include <gtest/gtest.h>

#include <algorithm>
#include <mutex>
#include <utility>
#include <vector>

#include "exec/parallel.hpp"

namespace keel {
namespace {

std::vector<std::pair<int64_t, int64_t>> chunks_of(int threads, int64_t n, int64_t cost) {
  std::vector<std::pair<int64_t, int64_t>> chunks;
  std::mutex mu;
  tbb::task_arena arena(threads);
  arena.execute([&] {
    parallel_for(n, cost, [&](int64_t b, int64_t e) {
      std::lock_guard<std::mutex> lock(mu);
      chunks.emplace_back(b, e);
    });
  });
  std::sort(chunks.begin(), chunks.end());
  return chunks;
}

TEST(ParallelFor, ChunksCoverEveryItemOnceWithEvenSizes) {
  for (int threads : {2, 3, 4}) {
    for (int64_t n : {2, 7, 14, 28, 29, 56, 1000}) {
      SCOPED_TRACE("threads " + std::to_string(threads) + " n " + std::to_string(n));
      const auto chunks = chunks_of(threads, n, kMinParallelWork);
      ASSERT_FALSE(chunks.empty());
      int64_t next = 0, smallest = n, largest = 0;
      for (auto [b, e] : chunks) {
        EXPECT_EQ(b, next);
        EXPECT_LT(b, e);
        next = e;
        smallest = std::min(smallest, e - b);
        largest = std::max(largest, e - b);
      }
      EXPECT_EQ(next, n);
      EXPECT_LE(largest - smallest, 1);
      // Four chunks per thread whenever there are items enough: a whole number of chunks per
      // thread (14 items used to make 7 chunks of 2, so one thread ran 4 and the other 3).
      EXPECT_EQ(static_cast<int64_t>(chunks.size()), std::min<int64_t>(n, threads * 4));
      EXPECT_EQ(chunks, chunks_of(threads, n, kMinParallelWork));  // deterministic
    }
  }
}

TEST(ParallelFor, SmallWorkRunsAsOneChunk) {
  const auto chunks = chunks_of(2, 10, 1);
  ASSERT_EQ(chunks.size(), 1u);
  EXPECT_EQ(chunks[0], (std::pair<int64_t, int64_t>{0, 10}));
  EXPECT_TRUE(chunks_of(2, 0, kMinParallelWork).empty());
}

}  // namespace
}  // namespace keel
