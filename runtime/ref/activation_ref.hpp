// Scalar reference (double) for the fused activations of ukernels/activation.hpp.
#pragma once

#include "ukernels/activation.hpp"

namespace keel::ref {

double activate(double v, const ActParams& p);

// One ActParams of every kind (kNone first), with non-trivial parameters, for tests.
inline constexpr int kActKindCount = 9;
ActParams activation_example(int index);

}  // namespace keel::ref
