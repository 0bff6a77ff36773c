#include "ukernels/gconv_dispatch.hpp"

namespace keel {

const GroupConvUkernels* gconv_ukernels(Isa isa) {
  return table_for_isa(isa, ukernels_sse2::kGroupConv, ukernels_avx2::kGroupConv,
                       ukernels_avx512::kGroupConv);
}

int64_t gconv_bundle_g(const GroupConvUkernels* uk, int64_t cin_g, int64_t cout_g,
                       bool nhwc_input) {
  return nhwc_input && cin_g == cout_g && uk->bundles(cout_g) ? cout_g : 0;
}

const GroupConvUkernels* gconv_ukernels_for_group(Isa isa, int64_t cin_g, int64_t cout_g,
                                                  bool nhwc_input) {
  const GroupConvUkernels* uk = gconv_ukernels(isa);
  if (gconv_bundle_g(uk, cin_g, cout_g, nhwc_input) > 0) return uk;
  // Otherwise 16-lane vectors would run half masked on groups of 8 or fewer outputs. The 8-lane
  // body does the same useful work per instruction; where a 512-bit operation is split into
  // two 256-bit halves (AMD Zen 4) it should do twice as much per cycle (not measured: on Zen 5,
  // which runs 512 bits whole, the two were level).
  if (isa == Isa::kAvx512 && cout_g <= 8) return gconv_ukernels(Isa::kAvx2);
  return uk;
}

}  // namespace keel
