// Choosing the normalization ukernel table (baseline code; see norm_ukernel.hpp).
#pragma once

#include "core/cpu_features.hpp"
#include "ukernels/norm_ukernel.hpp"

namespace keel {

// The table for an ISA tier (never null: every tier keel knows is compiled in).
const NormUkernels* norm_ukernels(Isa isa);
// The table for active_isa(); kernels call this once at plan time.
const NormUkernels* norm_ukernels_active();

}  // namespace keel
