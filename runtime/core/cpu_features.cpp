#include "core/cpu_features.hpp"

#include <atomic>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>

#if defined(__x86_64__) || defined(__i386__)
#include <cpuid.h>
#endif

namespace keel {
namespace {

#if defined(__x86_64__) || defined(__i386__)
// XGETBV through inline assembly: the _xgetbv intrinsic needs -mxsave on this TU.
uint64_t read_xcr0() {
  uint32_t eax = 0, edx = 0;
  __asm__ volatile("xgetbv" : "=a"(eax), "=d"(edx) : "c"(0));
  return (uint64_t{edx} << 32) | eax;
}

Isa detect() {
  unsigned eax = 0, ebx = 0, ecx = 0, edx = 0;
  if (!__get_cpuid(1, &eax, &ebx, &ecx, &edx)) return Isa::kSse2;
  const bool osxsave = (ecx >> 27) & 1;
  const bool fma = (ecx >> 12) & 1;
  const bool avx = (ecx >> 28) & 1;
  if (!osxsave || !avx) return Isa::kSse2;
  const uint64_t xcr0 = read_xcr0();
  const bool ymm_state = (xcr0 & 0x6) == 0x6;    // SSE + AVX state
  const bool zmm_state = (xcr0 & 0xe6) == 0xe6;  // + opmask, ZMM_Hi256, Hi16_ZMM
  if (!ymm_state) return Isa::kSse2;
  if (__get_cpuid_max(0, nullptr) < 7) return Isa::kSse2;
  __cpuid_count(7, 0, eax, ebx, ecx, edx);
  const bool avx2 = (ebx >> 5) & 1;
  const bool avx512f = (ebx >> 16) & 1;
  const bool avx512dq = (ebx >> 17) & 1;
  const bool avx512bw = (ebx >> 30) & 1;
  const bool avx512vl = (ebx >> 31) & 1;
  if (!avx2 || !fma) return Isa::kSse2;
  if (zmm_state && avx512f && avx512dq && avx512bw && avx512vl) return Isa::kAvx512;
  return Isa::kAvx2;
}
#else
Isa detect() { return Isa::kSse2; }
#endif

Isa env_cap(Isa hw) {
  const char* v = std::getenv("KEEL_MAX_ISA");
  if (v == nullptr || *v == '\0') return hw;
  Isa cap;
  if (std::strcmp(v, "sse2") == 0) {
    cap = Isa::kSse2;
  } else if (std::strcmp(v, "avx2") == 0) {
    cap = Isa::kAvx2;
  } else if (std::strcmp(v, "avx512") == 0) {
    cap = Isa::kAvx512;
  } else {
    std::fprintf(stderr, "keel: ignoring KEEL_MAX_ISA='%s' (expected sse2, avx2 or avx512)\n", v);
    return hw;
  }
  return static_cast<int>(cap) < static_cast<int>(hw) ? cap : hw;
}

// -1 = no testing cap.
std::atomic<int> g_test_cap{-1};

}  // namespace

Isa detected_isa() {
  static const Isa isa = detect();
  return isa;
}

Isa active_isa() {
  static const Isa capped = env_cap(detected_isa());
  const int test_cap = g_test_cap.load(std::memory_order_relaxed);
  if (test_cap >= 0 && test_cap < static_cast<int>(capped)) return static_cast<Isa>(test_cap);
  return capped;
}

const char* isa_name(Isa isa) {
  switch (isa) {
    case Isa::kSse2: return "sse2";
    case Isa::kAvx2: return "avx2";
    case Isa::kAvx512: return "avx512";
  }
  return "unknown";
}

void set_isa_cap_for_testing(std::optional<Isa> cap) {
  g_test_cap.store(cap ? static_cast<int>(*cap) : -1, std::memory_order_relaxed);
}

}  // namespace keel
