// Choosing the NHWC pooling ukernel table (baseline code; see pool_ukernel.hpp).
#pragma once

#include "core/cpu_features.hpp"
#include "ukernels/pool_ukernel.hpp"

namespace keel {

// The table for an ISA tier (never null: every tier keel knows is compiled in).
const PoolUkernels* pool_ukernels(Isa isa);

}  // namespace keel
