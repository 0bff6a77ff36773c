#include "machine_limits.hpp"

#include <immintrin.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <thread>
#include <vector>

#include "core/aligned_buffer.hpp"
#include "ukernels/bf16_gemm.hpp"
#include "ukernels/bf16_gemm_ukernel.hpp"

namespace keel {
namespace {

constexpr int64_t kFmaIters = 1 << 22;
constexpr int kChains = 12;

// Compiled for the baseline; the wider loops use target attributes and run only when the
// CPU detection reports their tier.
float fma_sse2() {
  __m128 acc[kChains];
  for (auto& a : acc) a = _mm_set1_ps(0.0f);
  const __m128 m = _mm_set1_ps(0.999999f), c = _mm_set1_ps(1e-7f);
  for (int64_t i = 0; i < kFmaIters; ++i) {
    for (auto& a : acc) a = _mm_add_ps(_mm_mul_ps(a, m), c);
  }
  float out = 0.0f;
  for (auto& a : acc) out += _mm_cvtss_f32(a);
  return out;
}

__attribute__((target("avx2,fma"))) float fma_avx2() {
  __m256 acc[kChains];
  for (auto& a : acc) a = _mm256_set1_ps(0.0f);
  const __m256 m = _mm256_set1_ps(0.999999f), c = _mm256_set1_ps(1e-7f);
  for (int64_t i = 0; i < kFmaIters; ++i) {
    for (auto& a : acc) a = _mm256_fmadd_ps(a, m, c);
  }
  float out = 0.0f;
  for (auto& a : acc) out += _mm256_cvtss_f32(a);
  return out;
}

__attribute__((target("avx512f"))) float fma_avx512() {
  __m512 acc[kChains];
  for (auto& a : acc) a = _mm512_set1_ps(0.0f);
  const __m512 m = _mm512_set1_ps(0.999999f), c = _mm512_set1_ps(1e-7f);
  for (int64_t i = 0; i < kFmaIters; ++i) {
    for (auto& a : acc) a = _mm512_fmadd_ps(a, m, c);
  }
  float out = 0.0f;
  for (auto& a : acc) out += _mm512_cvtss_f32(a);
  return out;
}

// 32 Mi floats per buffer (128 MiB, beyond any LLC this runs on), split between the threads,
// at least 2 Mi floats (8 MiB) each, so its memory grows only past 16 threads.
constexpr int64_t kStreamFloats = int64_t{32} << 20;
constexpr int64_t kMinStreamFloatsPerThread = int64_t{2} << 20;

// n: a multiple of 4 (the buffer sizes are).
void stream_once(const float* x, float* y, int64_t n) {
  const __m128 a = _mm_set1_ps(1.0001f), b = _mm_set1_ps(0.5f);
  for (int64_t i = 0; i < n; i += 4) {
    _mm_store_ps(y + i, _mm_add_ps(_mm_mul_ps(_mm_load_ps(x + i), a), b));
  }
}

// Runs fn(t) on `threads` threads at once (t = 0 on the caller's); returns the wall seconds
// from the moment all of them are ready (thread creation is not timed).
template <class F>
double timed_on_threads(int threads, F&& fn) {
  std::atomic<int> ready{0};
  std::chrono::steady_clock::time_point t0;
  std::vector<std::thread> pool;
  const auto body = [&](int t) {
    ready.fetch_add(1);
    while (ready.load() < threads) {
    }
    if (t == 0) t0 = std::chrono::steady_clock::now();
    fn(t);
  };
  for (int t = 1; t < threads; ++t) pool.emplace_back(body, t);
  body(0);
  for (auto& th : pool) th.join();
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
}

}  // namespace

float fma_probe_loop(Isa isa) {
  switch (isa) {
    case Isa::kAvx512: return fma_avx512();
    case Isa::kAvx2: return fma_avx2();
    case Isa::kSse2: break;
  }
  return fma_sse2();
}

int64_t fma_probe_flops(Isa isa) {
  const int64_t lanes = isa == Isa::kAvx512 ? 16 : isa == Isa::kAvx2 ? 8 : 4;
  return kFmaIters * kChains * lanes * 2;
}

double measure_fma_peak(int threads) {
  threads = std::max(threads, 1);
  const Isa isa = active_isa();
  std::vector<float> sink(static_cast<size_t>(threads));
  double peak = 0;
  for (int rep = 0; rep < 3; ++rep) {
    const double s = timed_on_threads(threads, [&](int t) { sink[t] = fma_probe_loop(isa); });
    peak = std::max(peak, static_cast<double>(fma_probe_flops(isa)) * threads / std::max(s, 1e-9));
  }
  volatile float keep = sink[0];  // the probe's result is used
  (void)keep;
  return peak;
}

double measure_bf16_peak(int threads) {
  threads = std::max(threads, 1);
  const Bf16Tier tier = active_bf16_tier();
  const Bf16GemmUkernels* uk = bf16_gemm_ukernels(tier);
  // A few milliseconds per probe on each tier (an AMX round is 4 tile products).
  const int64_t iters = tier == Bf16Tier::kAmx ? int64_t{1} << 16 : int64_t{1} << 20;
  std::vector<double> flops(static_cast<size_t>(threads));
  double peak = 0;
  for (int rep = 0; rep < 3; ++rep) {
    const double s = timed_on_threads(threads, [&](int t) { flops[t] = uk->probe(iters); });
    peak = std::max(peak, flops[0] * threads / std::max(s, 1e-9));
  }
  return peak;
}

MachineLimits measure_machine_limits(int threads) {
  threads = std::max(threads, 1);
  MachineLimits lim;
  lim.flops_per_s = measure_fma_peak(threads);
  lim.bf16_flops_per_s = measure_bf16_peak(threads);
  const int64_t floats = std::max(kMinStreamFloatsPerThread, kStreamFloats / threads / 4 * 4);
  const size_t bytes = static_cast<size_t>(floats) * sizeof(float);
  std::vector<AlignedBytes> x, y;
  for (int t = 0; t < threads; ++t) {
    x.push_back(allocate_aligned(bytes));
    y.push_back(allocate_aligned(bytes));
    if (!x.back() || !y.back()) return lim;  // no bandwidth figure without the buffers
    std::fill_n(reinterpret_cast<float*>(x.back().get()), floats, 1.0f);
    std::fill_n(reinterpret_cast<float*>(y.back().get()), floats, 0.0f);
  }
  for (int rep = 0; rep < 3; ++rep) {
    const double s = timed_on_threads(threads, [&](int t) {
      stream_once(reinterpret_cast<const float*>(x[t].get()), reinterpret_cast<float*>(y[t].get()),
                  floats);
    });
    lim.bytes_per_s =
        std::max(lim.bytes_per_s, 2.0 * static_cast<double>(bytes) * threads / std::max(s, 1e-9));
  }
  return lim;
}

}  // namespace keel
