// Choosing the grouped convolution ukernel table (baseline code; see direct_conv_ukernel.hpp).
#pragma once

#include <cstdint>

#include "core/cpu_features.hpp"
#include "ukernels/direct_conv_ukernel.hpp"

namespace keel {

// The table for an ISA tier (never null: every tier keel knows is compiled in).
const DirectConvUkernels* direct_conv_ukernels(Isa isa);
// The table a convolution with cin_g inputs and cout_g outputs per group runs on under tier
// isa (kernels ask once, at plan time): the tier's own when it bundles such groups
// (DirectConvParams::bundle_g; NHWC input only), else a narrower tier's when the tier's vectors
// would be half masked.
const DirectConvUkernels* direct_conv_ukernels_for_group(Isa isa, int64_t cin_g, int64_t cout_g,
                                                         bool nhwc_input);
// DirectConvParams::bundle_g for such a convolution on table uk: cout_g when uk runs its groups
// bundled, else 0.
int64_t direct_conv_bundle_g(const DirectConvUkernels* uk, int64_t cin_g, int64_t cout_g,
                             bool nhwc_input);

}  // namespace keel
