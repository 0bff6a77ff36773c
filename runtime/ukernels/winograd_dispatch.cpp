#include "ukernels/winograd_dispatch.hpp"

namespace keel {

const WinogradUkernels* winograd_ukernels(Isa isa) {
  if (isa == Isa::kAvx512) return &ukernels_avx512::kWinograd;
  if (isa == Isa::kAvx2) return &ukernels_avx2::kWinograd;
  return &ukernels_sse2::kWinograd;
}

}  // namespace keel
