#include "ukernels/pool_dispatch.hpp"

namespace keel {

const PoolUkernels* pool_ukernels(Isa isa) {
  if (isa == Isa::kAvx512) return &ukernels_avx512::kPool;
  if (isa == Isa::kAvx2) return &ukernels_avx2::kPool;
  return &ukernels_sse2::kPool;
}

}  // namespace keel
