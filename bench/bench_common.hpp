// Shared helpers of bench_norm's translation units.
#pragma once

#include <benchmark/benchmark.h>
#include <tbb/parallel_for.h>
#include <tbb/partitioner.h>
#include <tbb/task_arena.h>

#include <cstdint>
#include <random>
#include <string>
#include <unordered_map>
#include <vector>

#include "core/aligned_buffer.hpp"
#include "core/cpu_features.hpp"

namespace keel::bench {

// A 64-byte aligned float buffer filled with values in [-2, 2).
struct Floats {
  AlignedBytes bytes;
  int64_t n = 0;
  explicit Floats(int64_t count, uint32_t seed = 1) : n(count) {
    bytes = allocate_aligned(static_cast<size_t>(count) * sizeof(float));
    std::mt19937 rng(seed);
    std::uniform_real_distribution<float> d(-2.0f, 2.0f);
    for (int64_t i = 0; i < count; ++i) data()[i] = d(rng);
  }
  float* data() { return reinterpret_cast<float*>(bytes.get()); }
};

// Sets the rate counters: bytes (read + write required by the op) and elements.
inline void set_rates(benchmark::State& st, int64_t elements, int64_t bytes) {
  st.SetBytesProcessed(static_cast<int64_t>(st.iterations()) * bytes);
  st.SetItemsProcessed(static_cast<int64_t>(st.iterations()) * elements);
}

struct NormShape {
  const char* model;
  int64_t n, c, h, w;
  std::string text() const {
    return std::to_string(n) + "x" + std::to_string(c) + "x" + std::to_string(h) + "x" +
           std::to_string(w);
  }
  int64_t numel() const { return n * c * h * w; }
};

// The BatchNorm / InstanceNorm / GroupNorm shapes (real models; the last is DRAM-sized).
inline const std::vector<NormShape>& bn_shapes() {
  static const std::vector<NormShape> s = {
      {"resnet50_stem", 1, 64, 112, 112},
      {"resnet50_layer1", 1, 256, 56, 56},
      {"mobilenetv2_expand", 1, 144, 56, 56},
      {"densenet121_concat", 1, 512, 28, 28},
      {"dram", 8, 256, 56, 56},
  };
  return s;
}

struct RowShape {
  const char* model;
  int64_t rows, len;
  std::string text() const { return std::to_string(rows) + "x" + std::to_string(len); }
};

inline const std::vector<RowShape>& row_shapes() {
  static const std::vector<RowShape> s = {
      {"convnext_stage1", 3136, 96}, {"vit_b16", 196, 768}, {"bert_8k", 8192, 768}};
  return s;
}

void register_probe_benchmarks();
// The single-core FMA peak of an ISA tier in FLOP/s: the best of a few runs of the probe's
// loop (probe/fma/<isa>), for "% of peak" counters.
double fma_peak_flops(Isa isa);
void register_dnnl_benchmarks();

}  // namespace keel::bench
