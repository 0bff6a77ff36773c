// Subnormal floats are flushed to zero inside keel's runs: a session's run and planning, and
// every task keel::parallel_for hands to a worker, set MXCSR's flush-to-zero and
// denormals-are-zero bits for their duration and restore the thread's own bits after, so an
// application thread (or an application's task on a shared worker) keeps its floating-point
// state. Without this a subnormal activation costs x86 cores a microcode assist per operation
// (tens to hundreds of times slower); with it, values below 1.2e-38 in magnitude read and compute
// as zero, far below every error bound keel states.
#pragma once

#include <xmmintrin.h>

namespace keel {

constexpr unsigned kMxcsrFlushToZero = 0x8000;       // subnormal results become 0
constexpr unsigned kMxcsrDenormalsAreZero = 0x0040;  // subnormal inputs read as 0
constexpr unsigned kMxcsrFlushBits = kMxcsrFlushToZero | kMxcsrDenormalsAreZero;

class ScopedFlushDenormals {
 public:
  ScopedFlushDenormals() : saved_(_mm_getcsr()) {
    if ((saved_ & kMxcsrFlushBits) != kMxcsrFlushBits) _mm_setcsr(saved_ | kMxcsrFlushBits);
  }
  ~ScopedFlushDenormals() {
    if ((saved_ & kMxcsrFlushBits) != kMxcsrFlushBits) _mm_setcsr(saved_);
  }
  ScopedFlushDenormals(const ScopedFlushDenormals&) = delete;
  ScopedFlushDenormals& operator=(const ScopedFlushDenormals&) = delete;

 private:
  unsigned saved_;
};

}  // namespace keel
