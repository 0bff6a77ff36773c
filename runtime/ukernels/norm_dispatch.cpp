#include "ukernels/norm_dispatch.hpp"

namespace keel {

const NormUkernels* norm_ukernels(Isa isa) {
  return table_for_isa(isa, ukernels_sse2::kNorm, ukernels_avx2::kNorm, ukernels_avx512::kNorm);
}

const NormUkernels* norm_ukernels_active() { return norm_ukernels(active_isa()); }

}  // namespace keel
