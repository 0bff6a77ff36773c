// Test data every kernel test shares: seeded random tensors and the ISA tiers the host can run
// (each optimized kernel is tested on every one of them, capped with set_isa_cap_for_testing).
#pragma once

#include <cstdint>
#include <random>
#include <utility>
#include <vector>

#include "core/cpu_features.hpp"
#include "core/tensor.hpp"

namespace keel::testing {

// n floats uniform in [lo, hi), the same values for the same seed.
inline std::vector<float> random_floats(int64_t n, uint32_t seed, float lo = -1.0f,
                                        float hi = 1.0f) {
  std::mt19937 gen(seed);
  std::uniform_real_distribution<float> dist(lo, hi);
  std::vector<float> v(static_cast<size_t>(n));
  for (float& x : v) x = dist(gen);
  return v;
}

// A float32 tensor of random_floats.
inline Tensor random_tensor(Shape shape, uint32_t seed, float lo = -1.0f, float hi = 1.0f) {
  std::vector<float> v = random_floats(numel(shape), seed, lo, hi);
  if (v.empty()) return Tensor::allocate(DataType::kFloat32, shape).value();
  return Tensor::from_vector(std::move(shape), v);
}

// Every ISA tier up to the one the host has.
inline std::vector<Isa> host_tiers() {
  std::vector<Isa> tiers;
  for (Isa isa : {Isa::kSse2, Isa::kAvx2, Isa::kAvx512}) {
    if (static_cast<int>(isa) <= static_cast<int>(detected_isa())) tiers.push_back(isa);
  }
  return tiers;
}

}  // namespace keel::testing
