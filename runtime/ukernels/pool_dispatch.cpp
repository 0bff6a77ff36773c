#include "ukernels/pool_dispatch.hpp"

namespace keel {

const PoolUkernels* pool_ukernels(Isa isa) {
  return table_for_isa(isa, ukernels_sse2::kPool, ukernels_avx2::kPool, ukernels_avx512::kPool);
}

}  // namespace keel
