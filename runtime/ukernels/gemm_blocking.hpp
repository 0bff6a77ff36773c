// How a GEMM driver (sgemm.cpp, bf16_gemm.cpp) cuts C into the blocks its tasks take.
#pragma once

#include <algorithm>
#include <cstdint>

#include "exec/parallel.hpp"

namespace keel {

// Shrinks the block sizes mc x nc (multiples of mr and nr on entry) while there are fewer tasks
// than threads, then evens them out. One task per thread, not several: each task of an
// implicit GEMM gathers its rows of A again and each streams its own B panel, so splitting
// further only adds that traffic (the partition is static anyway). Measured on AVX-512 (Zen 5,
// 2 threads, 2026-12-01, alternating runs): ResNet-18 9.44 against 10.09 ms, ResNet-50 19.98
// against 20.47, DenseNet-121 15.20 against 15.46, MobileNets level. A few tasks are split until
// they share out evenly (3 tasks on 2 threads would idle one for a third), and blocks are of
// even size: 196 rows as 102 + 94, not 144 + 52, which left one thread idle for a third of the
// time.
inline void split_gemm_blocks(int64_t m, int64_t n, int64_t mr, int64_t nr, int64_t& mc,
                              int64_t& nc) {
  const auto ceil_div = [](int64_t a, int64_t b) { return (a + b - 1) / b; };
  const int64_t threads = current_max_threads();
  const auto uneven = [&] {
    const int64_t tasks = ceil_div(m, mc) * ceil_div(n, nc);
    return tasks < threads || (tasks < 4 * threads && tasks % threads != 0);
  };
  while (uneven()) {
    if (nc > 4 * nr && nc >= mc) {
      nc /= 2;
    } else if (mc > 4 * mr) {
      mc = ceil_div(mc / 2, mr) * mr;
    } else if (nc > nr) {
      nc /= 2;
    } else {
      break;
    }
  }
  nc = std::max<int64_t>(nr, nc / nr * nr);
  const int64_t m_blocks = ceil_div(m, mc), n_blocks = ceil_div(n, nc);
  mc = ceil_div(ceil_div(m, m_blocks), mr) * mr;
  nc = ceil_div(ceil_div(n, n_blocks), nr) * nr;
}

}  // namespace keel
