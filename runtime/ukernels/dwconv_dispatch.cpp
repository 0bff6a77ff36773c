#include "ukernels/dwconv_dispatch.hpp"

namespace keel {

const DwConvUkernels* dwconv_ukernels(Isa isa) {
  if (isa == Isa::kAvx512) return &ukernels_avx512::kDwConv;
  if (isa == Isa::kAvx2) return &ukernels_avx2::kDwConv;
  return &ukernels_sse2::kDwConv;
}

const DwConvUkernels* dwconv_ukernels_active() { return dwconv_ukernels(active_isa()); }

}  // namespace keel
