// Choosing the Winograd tile transform table (baseline code; see winograd_ukernel.hpp).
#pragma once

#include "core/cpu_features.hpp"
#include "ukernels/winograd_ukernel.hpp"

namespace keel {

// The table for an ISA tier (never null: every tier keel knows is compiled in).
const WinogradUkernels* winograd_ukernels(Isa isa);

}  // namespace keel
