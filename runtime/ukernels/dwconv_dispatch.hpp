// Choosing the depthwise convolution ukernel table (baseline code; see dwconv_ukernel.hpp).
#pragma once

#include "core/cpu_features.hpp"
#include "ukernels/dwconv_ukernel.hpp"

namespace keel {

// The table for an ISA tier (never null: every tier keel knows is compiled in).
const DwConvUkernels* dwconv_ukernels(Isa isa);
// The table for active_isa(); kernels call this once at plan time.
const DwConvUkernels* dwconv_ukernels_active();

}  // namespace keel
