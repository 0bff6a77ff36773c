#include "core/cpu_features.hpp"

#include <atomic>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>

#if defined(__x86_64__) || defined(__i386__)
#include <cpuid.h>
#endif
#if defined(__linux__) && defined(__x86_64__)
#include <sys/syscall.h>
#include <unistd.h>
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

// Linux keeps AMX tile data off until a process asks (XFEATURE_XTILEDATA = 18).
bool request_amx_permission() {
#if defined(__linux__) && defined(__x86_64__)
  constexpr long kArchReqXcompPerm = 0x1023;
  constexpr long kXfeatureXtiledata = 18;
  return syscall(SYS_arch_prctl, kArchReqXcompPerm, kXfeatureXtiledata) == 0;
#else
  return false;
#endif
}

Bf16Tier detect_bf16() {
  if (detect() != Isa::kAvx512 || __get_cpuid_max(0, nullptr) < 7) return Bf16Tier::kEmulated;
  unsigned eax = 0, ebx = 0, ecx = 0, edx = 0;
  __cpuid_count(7, 0, eax, ebx, ecx, edx);
  const bool amx_bf16 = (edx >> 22) & 1, amx_tile = (edx >> 24) & 1;
  const unsigned max_subleaf = eax;
  bool avx512_bf16 = false;
  if (max_subleaf >= 1) {
    __cpuid_count(7, 1, eax, ebx, ecx, edx);
    avx512_bf16 = (eax >> 5) & 1;
  }
  if (!avx512_bf16) return Bf16Tier::kEmulated;
  const bool tile_state = (read_xcr0() & 0x60000) == 0x60000;  // XTILECFG + XTILEDATA
  if (amx_bf16 && amx_tile && tile_state && request_amx_permission()) return Bf16Tier::kAmx;
  return Bf16Tier::kAvx512Bf16;
}
#else
Isa detect() { return Isa::kSse2; }
Bf16Tier detect_bf16() { return Bf16Tier::kEmulated; }
#endif

// KEEL_MAX_ISA as (cap on Isa, cap on Bf16Tier); nullopt-like "no cap" is the hardware's.
struct IsaCap {
  Isa isa;
  Bf16Tier bf16;
};

IsaCap env_cap(Isa hw, Bf16Tier hw_bf16) {
  const char* v = std::getenv("KEEL_MAX_ISA");
  IsaCap cap{hw, hw_bf16};
  if (v == nullptr || *v == '\0') return cap;
  if (std::strcmp(v, "sse2") == 0) {
    cap = {Isa::kSse2, Bf16Tier::kEmulated};
  } else if (std::strcmp(v, "avx2") == 0) {
    cap = {Isa::kAvx2, Bf16Tier::kEmulated};
  } else if (std::strcmp(v, "avx512") == 0) {
    cap = {Isa::kAvx512, Bf16Tier::kEmulated};
  } else if (std::strcmp(v, "avx512_bf16") == 0) {
    cap = {Isa::kAvx512, Bf16Tier::kAvx512Bf16};
  } else if (std::strcmp(v, "amx") == 0) {
    cap = {Isa::kAvx512, Bf16Tier::kAmx};
  } else {
    std::fprintf(stderr,
                 "keel: ignoring KEEL_MAX_ISA='%s' (expected sse2, avx2, avx512, avx512_bf16 or "
                 "amx)\n",
                 v);
    return cap;
  }
  if (static_cast<int>(cap.isa) > static_cast<int>(hw)) cap.isa = hw;
  if (static_cast<int>(cap.bf16) > static_cast<int>(hw_bf16)) cap.bf16 = hw_bf16;
  return cap;
}

const IsaCap& capped() {
  static const IsaCap cap = env_cap(detected_isa(), detected_bf16_tier());
  return cap;
}

// -1 = no testing cap.
std::atomic<int> g_test_cap{-1};

}  // namespace

Isa detected_isa() {
  static const Isa isa = detect();
  return isa;
}

Bf16Tier detected_bf16_tier() {
  static const Bf16Tier tier = detect_bf16();
  return tier;
}

Isa active_isa() {
  const Isa cap = capped().isa;
  const int test_cap = g_test_cap.load(std::memory_order_relaxed);
  if (test_cap >= 0 && test_cap < static_cast<int>(cap)) return static_cast<Isa>(test_cap);
  return cap;
}

Bf16Tier active_bf16_tier() {
  return active_isa() == Isa::kAvx512 ? capped().bf16 : Bf16Tier::kEmulated;
}

const char* bf16_tier_name(Bf16Tier tier) {
  switch (tier) {
    case Bf16Tier::kEmulated: return "emulated";
    case Bf16Tier::kAvx512Bf16: return "avx512_bf16";
    case Bf16Tier::kAmx: return "amx";
  }
  return "unknown";
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
