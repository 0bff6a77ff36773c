// The machine's own limits, measured the way the kernels use it: the FMA peak of the active
// ISA tier and the streaming bandwidth of memory, for a number of threads. `keel bench
// --profile` divides each node's rate by them; bench/ (bench_probe.cpp) reuses the FMA loop.
#pragma once

#include <cstdint>

#include "core/cpu_features.hpp"

namespace keel {

// One run of the FMA probe loop on `isa` (12 independent chains; SSE2: mul+add): returns a
// value that depends on every chain, so that the loop cannot be dropped.
float fma_probe_loop(Isa isa);
// Floating-point operations of one fma_probe_loop(isa).
int64_t fma_probe_flops(Isa isa);

struct MachineLimits {
  double flops_per_s = 0;       // FMA peak of the active tier, all threads together
  double bf16_flops_per_s = 0;  // the bfloat16 GEMM's instruction (measure_bf16_peak)
  double bytes_per_s = 0;       // y = a*x + b streamed through buffers larger than the LLC
};

// Both probes with `threads` threads running at once (about 0.3 s; 256 MiB of buffers, or
// 16 MiB per thread beyond 16 threads).
MachineLimits measure_machine_limits(int threads);
// The FMA probe alone (a few ms, no buffers): MachineLimits::flops_per_s.
double measure_fma_peak(int threads);
// The peak of the active bfloat16 tier's multiply instruction (AMX tdpbf16ps, vdpbf16ps, or
// FMA when emulated), with `threads` threads at once: FLOP/s counting 2 per multiply-add.
double measure_bf16_peak(int threads);

}  // namespace keel
