#include "ukernels/direct_conv_dispatch.hpp"

namespace keel {

const DirectConvUkernels* direct_conv_ukernels(Isa isa) {
  return table_for_isa(isa, ukernels_sse2::kDirectConv, ukernels_avx2::kDirectConv,
                       ukernels_avx512::kDirectConv);
}

int64_t direct_conv_bundle_g(const DirectConvUkernels* uk, int64_t cin_g, int64_t cout_g,
                             bool nhwc_input) {
  return nhwc_input && cin_g == cout_g && uk->bundles(cout_g) ? cout_g : 0;
}

const DirectConvUkernels* direct_conv_ukernels_for_group(Isa isa, int64_t cin_g, int64_t cout_g,
                                                         bool nhwc_input) {
  const DirectConvUkernels* uk = direct_conv_ukernels(isa);
  if (direct_conv_bundle_g(uk, cin_g, cout_g, nhwc_input) > 0) return uk;
  // Otherwise 16-lane vectors would run half masked on groups of 8 or fewer outputs. The 8-lane
  // body does the same useful work per instruction; where a 512-bit operation is split into
  // two 256-bit halves (AMD Zen 4) it should do twice as much per cycle (not measured: on Zen 5,
  // which runs 512 bits whole, the two were level).
  if (isa == Isa::kAvx512 && cout_g <= 8) return direct_conv_ukernels(Isa::kAvx2);
  return uk;
}

}  // namespace keel
