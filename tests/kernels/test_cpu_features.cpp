#include <gtest/gtest.h>

#include <cstring>

#include "core/cpu_features.hpp"

namespace keel {
namespace {

TEST(CpuFeatures, ActiveNeverExceedsDetected) {
  EXPECT_LE(static_cast<int>(active_isa()), static_cast<int>(detected_isa()));
}

TEST(CpuFeatures, NamesAreStable) {
  EXPECT_STREQ(isa_name(Isa::kSse2), "sse2");
  EXPECT_STREQ(isa_name(Isa::kAvx2), "avx2");
  EXPECT_STREQ(isa_name(Isa::kAvx512), "avx512");
}

TEST(CpuFeatures, TestingCapLowersActiveAndIsRemovable) {
  const Isa before = active_isa();
  set_isa_cap_for_testing(Isa::kSse2);
  EXPECT_EQ(active_isa(), Isa::kSse2);
  // A cap above the hardware never raises the tier.
  set_isa_cap_for_testing(Isa::kAvx512);
  EXPECT_EQ(active_isa(), before);
  set_isa_cap_for_testing(std::nullopt);
  EXPECT_EQ(active_isa(), before);
}

}  // namespace
}  // namespace keel
