// The machine's own limits, measured the way the kernels use the machine:
//   probe/stream:    y = a*x + b over buffers far larger than the LLC (one read and one write
//                    per element, normal stores), 1 and 2 threads;
//   probe/stream_nt: the same with non-temporal stores (no read-for-ownership of y);
//   probe/fma/<isa>: single-core peak of independent FMA chains (mul+add on SSE2), the loop of
//                    tools/keel/machine_limits.cpp (which `keel bench --profile` runs too).
#include <immintrin.h>

#include <algorithm>
#include <chrono>

#include "bench_common.hpp"
#include "core/cpu_features.hpp"
#include "machine_limits.hpp"  // tools/keel: the FMA loop

namespace keel::bench {
namespace {

constexpr int64_t kStreamFloats = int64_t{32} << 20;  // 128 MiB per buffer, 4x the 32 MiB LLC

void stream_range(const float* x, float* y, int64_t n, bool nt) {
  const __m128 a = _mm_set1_ps(1.0001f), b = _mm_set1_ps(0.5f);
  int64_t i = 0;
  if (nt) {
    for (; i + 16 <= n; i += 16) {
      for (int u = 0; u < 16; u += 4) {
        _mm_stream_ps(y + i + u, _mm_add_ps(_mm_mul_ps(_mm_load_ps(x + i + u), a), b));
      }
    }
  } else {
    for (; i + 16 <= n; i += 16) {
      for (int u = 0; u < 16; u += 4) {
        _mm_store_ps(y + i + u, _mm_add_ps(_mm_mul_ps(_mm_load_ps(x + i + u), a), b));
      }
    }
  }
  for (; i < n; ++i) y[i] = x[i] * 1.0001f + 0.5f;
  if (nt) _mm_sfence();
}

void bm_stream(benchmark::State& st, int threads, bool nt) {
  static Floats x(kStreamFloats, 3), y(kStreamFloats, 4);
  tbb::task_arena arena(threads);
  const int64_t n = kStreamFloats;
  for (auto _ : st) {
    arena.execute([&] {
      const int64_t per = (n / threads + 15) / 16 * 16;
      tbb::parallel_for(
          0, threads,
          [&](int t) {
            const int64_t b = std::min(n, t * per), e = std::min(n, b + per);
            stream_range(x.data() + b, y.data() + b, e - b, nt);
          },
          tbb::static_partitioner());
    });
    benchmark::ClobberMemory();
  }
  set_rates(st, n, 2 * n * static_cast<int64_t>(sizeof(float)));
}

void bm_fma(benchmark::State& st, Isa isa) {
  for (auto _ : st) {
    float r = fma_probe_loop(isa);
    benchmark::DoNotOptimize(r);
  }
  // items = floating-point operations: items_per_second reads as FLOP/s.
  st.SetItemsProcessed(static_cast<int64_t>(st.iterations()) * fma_probe_flops(isa));
}

}  // namespace

double fma_peak_flops(Isa isa) {
  double best = 0.0;
  for (int rep = 0; rep < 5; ++rep) {
    const auto t0 = std::chrono::steady_clock::now();
    float r = fma_probe_loop(isa);
    benchmark::DoNotOptimize(r);
    const double s = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    best = std::max(best, static_cast<double>(fma_probe_flops(isa)) / s);
  }
  return best;
}

void register_probe_benchmarks() {
  for (int t : {1, 2}) {
    for (bool nt : {false, true}) {
      const std::string name =
          std::string(nt ? "probe/stream_nt/" : "probe/stream/") + "t" + std::to_string(t);
      benchmark::RegisterBenchmark(name.c_str(),
                                   [t, nt](benchmark::State& st) { bm_stream(st, t, nt); })
          ->UseRealTime()
          ->Unit(benchmark::kMillisecond)
          ->MinTime(1.0);
    }
  }
  for (Isa isa : {Isa::kSse2, Isa::kAvx2, Isa::kAvx512}) {
    if (static_cast<int>(isa) > static_cast<int>(detected_isa())) continue;
    const std::string name = std::string("probe/fma/") + isa_name(isa);
    benchmark::RegisterBenchmark(name.c_str(), [isa](benchmark::State& st) { bm_fma(st, isa); })
        ->UseRealTime()
        ->Unit(benchmark::kMillisecond);
  }
}

}  // namespace keel::bench
