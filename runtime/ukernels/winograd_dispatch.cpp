#include "ukernels/winograd_dispatch.hpp"

namespace keel {

const WinogradUkernels* winograd_ukernels(Isa isa) {
  return table_for_isa(isa, ukernels_sse2::kWinograd, ukernels_avx2::kWinograd,
                       ukernels_avx512::kWinograd);
}

}  // namespace keel
