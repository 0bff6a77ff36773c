// Choosing the grouped convolution ukernel table (baseline code; see gconv_ukernel.hpp).
#pragma once

#include "core/cpu_features.hpp"
#include "ukernels/gconv_ukernel.hpp"

namespace keel {

// The table for an ISA tier (never null: every tier keel knows is compiled in).
const GroupConvUkernels* gconv_ukernels(Isa isa);
// The table for active_isa(); kernels call this once at plan time.
const GroupConvUkernels* gconv_ukernels_active();

}  // namespace keel
