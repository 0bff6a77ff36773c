#include "ukernels/gconv_dispatch.hpp"

namespace keel {

const GroupConvUkernels* gconv_ukernels(Isa isa) {
  if (isa == Isa::kAvx512) return &ukernels_avx512::kGroupConv;
  if (isa == Isa::kAvx2) return &ukernels_avx2::kGroupConv;
  return &ukernels_sse2::kGroupConv;
}

const GroupConvUkernels* gconv_ukernels_active() { return gconv_ukernels(active_isa()); }

}  // namespace keel
