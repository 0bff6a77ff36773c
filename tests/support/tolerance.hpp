// One tolerance rule for every numeric test: |got - ref| <= atol + rtol * |ref|.
#pragma once

#include <gtest/gtest.h>

#include <cmath>
#include <cstdint>
#include <string>

namespace keel::testing {

// Checks every element; reports the first failures with their index. Fails when most
// reference values are zero (such a test would prove nothing) unless allow_zeros.
template <typename Got, typename Ref>
::testing::AssertionResult all_close(const Got* got, const Ref* ref, int64_t n, double atol,
                                     double rtol, bool allow_zeros = false) {
  int64_t bad = 0, zeros = 0;
  std::string first;
  for (int64_t i = 0; i < n; ++i) {
    const double g = static_cast<double>(got[i]);
    const double r = static_cast<double>(ref[i]);
    if (r == 0.0) ++zeros;
    const bool both_nan = std::isnan(g) && std::isnan(r);
    if (!both_nan && !(std::fabs(g - r) <= atol + rtol * std::fabs(r))) {
      if (bad < 5)
        first += " [" + std::to_string(i) + "] got " + std::to_string(g) + " ref " +
                 std::to_string(r) + ";";
      ++bad;
    }
  }
  if (bad)
    return ::testing::AssertionFailure() << bad << " of " << n << " elements differ:" << first;
  if (!allow_zeros && n >= 8 && zeros * 2 > n) {
    return ::testing::AssertionFailure() << zeros << " of " << n << " reference values are zero";
  }
  return ::testing::AssertionSuccess();
}

}  // namespace keel::testing
