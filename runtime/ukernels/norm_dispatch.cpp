#include "ukernels/norm_dispatch.hpp"

namespace keel {

const NormUkernels* norm_ukernels(Isa isa) {
  switch (isa) {
    case Isa::kAvx512: return &ukernels_avx512::kNorm;
    case Isa::kAvx2: return &ukernels_avx2::kNorm;
    case Isa::kSse2: break;
  }
  return &ukernels_sse2::kNorm;
}

const NormUkernels* norm_ukernels_active() { return norm_ukernels(active_isa()); }

}  // namespace keel
