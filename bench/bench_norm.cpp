// bench_norm: keel's normalization kernels on shapes from real models, beside the machine's
// limits (bench_probe.cpp) and, when built with oneDNN, oneDNN's primitives
// (bench_norm_dnnl.cpp). Names: <impl>/<op>/<layout>/<shape>/t<threads>; bytes_per_second
// counts the bytes the op must move (one read and one write per element), so every figure reads
// as GB/s and compares with probe/stream. The kernels use the active ISA (KEEL_MAX_ISA caps it).
// Report: bench/norm_report.py.
#include "bench_common.hpp"
#include "core/cpu_features.hpp"
#include "kernels/norm_rows.hpp"
#include "ukernels/norm_dispatch.hpp"

namespace keel::bench {
namespace {

using norm::NormLayout;

const char* layout_name(NormLayout l) { return l == NormLayout::kNchw ? "nchw" : "nhwc"; }

std::vector<float> channel_values(int64_t c, float lo, float hi, uint32_t seed) {
  std::mt19937 rng(seed);
  std::uniform_real_distribution<float> d(lo, hi);
  std::vector<float> v(static_cast<size_t>(c));
  for (float& f : v) f = d(rng);
  return v;
}

void bm_batchnorm(benchmark::State& st, NormShape s, NormLayout layout, int threads,
                  NormAct act_kind) {
  Floats x(s.numel(), 1), y(s.numel(), 2);
  const std::vector<float> a = channel_values(s.c, 0.5f, 1.5f, 3),
                           b = channel_values(s.c, -1, 1, 4);
  const NormUkernels* uk = norm_ukernels_active();
  NormActParams act;
  act.kind = act_kind;
  tbb::task_arena arena(threads);
  for (auto _ : st) {
    arena.execute([&] {
      norm::scale_shift_apply(uk, layout, x.data(), y.data(), s.n, s.c, s.h * s.w, a.data(),
                              b.data(), act);
    });
    benchmark::ClobberMemory();
  }
  set_rates(st, s.numel(), 2 * s.numel() * static_cast<int64_t>(sizeof(float)));
  st.SetLabel(uk->name);
}

void bm_groupnorm(benchmark::State& st, NormShape s, NormLayout layout, int threads,
                  int64_t groups) {
  Floats x(s.numel(), 1), y(s.numel(), 2);
  const std::vector<float> g = channel_values(s.c, 0.5f, 1.5f, 3),
                           b = channel_values(s.c, -1, 1, 4);
  const NormUkernels* uk = norm_ukernels_active();
  const int64_t sp = s.h * s.w;
  std::vector<std::byte> scratch(norm::group_norm_scratch_bytes(layout, s.n, s.c, sp, groups) + 8);
  tbb::task_arena arena(threads);
  for (auto _ : st) {
    arena.execute([&] {
      norm::group_norm_apply(uk, layout, x.data(), y.data(), s.n, s.c, sp, groups, g.data(),
                             b.data(), true, 1e-5, scratch.data());
    });
    benchmark::ClobberMemory();
  }
  set_rates(st, s.numel(), 2 * s.numel() * static_cast<int64_t>(sizeof(float)));
  st.SetLabel(uk->name);
}

void bm_rows(benchmark::State& st, RowShape s, bool rms, int threads) {
  const int64_t n = s.rows * s.len;
  Floats x(n, 1), y(n, 2);
  const std::vector<float> g = channel_values(s.len, 0.5f, 1.5f, 3),
                           b = channel_values(s.len, -1, 1, 4);
  const NormUkernels* uk = norm_ukernels_active();
  norm::RowNormParams p;
  p.rows = s.rows;
  p.len = s.len;
  p.kind = rms ? norm::StatKind::kMeanSquare : norm::StatKind::kMeanVariance;
  p.uk = uk;
  norm::RowAffine aff;
  aff.gamma = g.data();
  aff.beta = rms ? nullptr : b.data();
  std::vector<std::byte> scratch(norm::normalize_rows_scratch_bytes(s.rows, s.len) + 8);
  tbb::task_arena arena(threads);
  for (auto _ : st) {
    arena.execute([&] {
      norm::normalize_rows(x.data(), y.data(), p, aff, nullptr, nullptr, scratch.data(), threads);
    });
    benchmark::ClobberMemory();
  }
  set_rates(st, n, 2 * n * static_cast<int64_t>(sizeof(float)));
  st.SetLabel(uk->name);
}

template <typename F>
void reg(const std::string& name, F f) {
  benchmark::RegisterBenchmark(name.c_str(), f)->UseRealTime()->Unit(benchmark::kMicrosecond);
}

void register_keel_benchmarks() {
  for (int t : {1, 2}) {
    const std::string ts = "/t" + std::to_string(t);
    for (NormLayout l : {NormLayout::kNchw, NormLayout::kNhwc}) {
      const std::string ln = layout_name(l);
      for (const NormShape& s : bn_shapes()) {
        reg("keel/batchnorm/" + ln + "/" + s.text() + ts,
            [=](benchmark::State& st) { bm_batchnorm(st, s, l, t, NormAct::kNone); });
      }
      const NormShape r6 = bn_shapes()[2];
      reg("keel/batchnorm_relu6/" + ln + "/" + r6.text() + ts,
          [=](benchmark::State& st) { bm_batchnorm(st, r6, l, t, NormAct::kClip); });
      for (const NormShape& s : {bn_shapes()[1], bn_shapes()[4]}) {
        reg("keel/instancenorm/" + ln + "/" + s.text() + ts,
            [=](benchmark::State& st) { bm_groupnorm(st, s, l, t, s.c); });
        reg("keel/groupnorm32/" + ln + "/" + s.text() + ts,
            [=](benchmark::State& st) { bm_groupnorm(st, s, l, t, 32); });
      }
    }
    // [N, C] BatchNorm1d: both layouts store it alike.
    const NormShape bn1d{"bn1d", 4096, 1024, 1, 1};
    reg("keel/batchnorm/nc/" + std::to_string(bn1d.n) + "x" + std::to_string(bn1d.c) + ts,
        [=](benchmark::State& st) {
          bm_batchnorm(st, bn1d, NormLayout::kNchw, t, NormAct::kNone);
        });
    for (const RowShape& s : row_shapes()) {
      reg("keel/layernorm/rows/" + s.text() + ts,
          [=](benchmark::State& st) { bm_rows(st, s, false, t); });
    }
    const RowShape big = row_shapes()[2];
    reg("keel/rmsnorm/rows/" + big.text() + ts,
        [=](benchmark::State& st) { bm_rows(st, big, true, t); });
  }
}

}  // namespace
}  // namespace keel::bench

int main(int argc, char** argv) {
  benchmark::Initialize(&argc, argv);
  benchmark::AddCustomContext("keel_isa", keel::isa_name(keel::active_isa()));
  keel::bench::register_probe_benchmarks();
  keel::bench::register_keel_benchmarks();
#ifdef KEEL_BENCH_DNNL
  keel::bench::register_dnnl_benchmarks();
#endif
  benchmark::RunSpecifiedBenchmarks();
  benchmark::Shutdown();
  return 0;
}
