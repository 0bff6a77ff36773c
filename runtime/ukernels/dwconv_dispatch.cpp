#include "ukernels/dwconv_dispatch.hpp"

namespace keel {

const DwConvUkernels* dwconv_ukernels(Isa isa) {
  return table_for_isa(isa, ukernels_sse2::kDwConv, ukernels_avx2::kDwConv,
                       ukernels_avx512::kDwConv);
}

const DwConvUkernels* dwconv_ukernels_active() { return dwconv_ukernels(active_isa()); }

}  // namespace keel
